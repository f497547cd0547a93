"""Go's goroutine leak, ported literally, becomes a wait or a hang you cannot miss.

mirroredQuery (§8.4.4) and makeThumbnails4 (§8.5) return while goroutines are still
blocked on a send that nobody will receive. Ported without cancelling, the trio version
cannot return at all until those tasks end: with the book's buffer the function returns
only when the *slowest* request has finished; without it, it never returns. The real ports
(gopl_trio/mirrored.py, gopl_trio/thumbnail.py) cancel the nursery, or close the receive
end. Guide: "Leaks and deadlocks".
"""

import trio
import trio.testing

from gopl_trio.mirrored import request

DELAYS = {"asia.gopl.io": 0.3, "europe.gopl.io": 0.1, "americas.gopl.io": 0.2}


async def query_without_cancel(buffer: int) -> tuple[str, float]:
    """mirroredQuery as a literal port: no cancel. Returns the answer and when it came."""
    responses_send, responses = trio.open_memory_channel[str](buffer)

    async def ask(hostname: str, delay: float) -> None:
        await responses_send.send(await request(hostname, delay))

    async with trio.open_nursery() as nursery:
        for hostname, delay in DELAYS.items():
            nursery.start_soon(ask, hostname, delay)
        response = await responses.receive()
        received = trio.current_time()
    return response, received


async def first_without_closing(names: list[str]) -> str:
    """makeThumbnails4's shape: take the first result, never receive the others."""
    send, receive = trio.open_memory_channel[str](0)
    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(send.send, name)
        return await receive.receive()


async def main() -> None:
    # With the book's buffer: the answer is there after 0.1 s, but the nursery does not let
    # the function return before every request has finished (0.3 s).
    start = trio.current_time()
    response, received = await query_without_cancel(buffer=len(DELAYS))
    assert response == "response from europe.gopl.io"
    assert round(received - start, 6) == 0.1
    assert round(trio.current_time() - start, 6) == 0.3

    # Unbuffered: Go leaks two goroutines and returns; trio waits for them for ever.
    with trio.move_on_after(60) as scope:
        await query_without_cancel(buffer=0)
    assert scope.cancelled_caught

    with trio.move_on_after(60) as scope:
        await first_without_closing(["a.jpg", "b.jpg", "c.jpg"])
    assert scope.cancelled_caught


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
