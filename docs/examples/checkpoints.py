"""Only trio's own calls are checkpoints; an `await` of your own coroutine is not.

Go's scheduler can preempt a goroutine anywhere. A trio task gives up the CPU, and can
receive `trio.Cancelled`, only at a checkpoint: a call into trio (`trio.sleep`, a channel's
`send`/`receive`, stream I/O, `trio.lowlevel.checkpoint()`). `await add(...)` below is a
plain function call that happens to be a coroutine. Guide: "Checkpoints".
"""

import trio
import trio.testing


async def add(a: int, b: int) -> int:
    return a + b  # async, but reaches no trio primitive


async def busy_sum(n: int) -> int:
    total = 0
    for i in range(n):
        total = await add(total, i)  # not a checkpoint
    return total


async def polite_sum(n: int) -> int:
    total = 0
    for i in range(n):
        total = await add(total, i)
        await trio.lowlevel.checkpoint()  # runtime.Gosched(), and a place to be cancelled
    return total


async def main() -> None:
    # 1. Not cancellable: the deadline has passed before the loop starts, and yet the
    #    100,000 awaits run to the end and the scope catches nothing.
    with trio.move_on_after(0) as scope:
        total = await busy_sum(100_000)
    assert total == sum(range(100_000))
    assert scope.cancel_called and not scope.cancelled_caught

    # With a checkpoint in the loop the same scope stops it at once.
    with trio.move_on_after(0) as scope:
        await polite_sum(100_000)
    assert scope.cancelled_caught

    # 2. Not a scheduling point: a sibling task does not run while the busy loop awaits.
    log: list[str] = []

    async def sibling() -> None:
        log.append("sibling ran")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sibling)
        await busy_sum(10_000)
        log.append("busy loop done")
    assert log == ["busy loop done", "sibling ran"]

    log.clear()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sibling)
        await polite_sum(2)
        log.append("polite loop done")
    assert log == ["sibling ran", "polite loop done"]

    # 3. trio's own async calls checkpoint even when they need not wait (a send into a
    #    channel with room); the `*_nowait` methods never do. trio.testing checks both.
    send, receive = trio.open_memory_channel[int](1)
    with trio.testing.assert_checkpoints():
        await send.send(1)  # room in the buffer: no wait, still a checkpoint
    with trio.testing.assert_no_checkpoints():
        assert receive.receive_nowait() == 1
    with trio.testing.assert_no_checkpoints():
        await add(1, 2)  # and the await of a coroutine that calls no trio function


if __name__ == "__main__":
    trio.run(main)
