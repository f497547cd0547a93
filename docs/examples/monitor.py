"""Request/reply to a monitor task, with callers that may be cancelled.

    type request struct{ amount int; reply chan int }
    func teller() { for req := range requests { balance += req.amount; req.reply <- balance } }

In Go a caller that gives up (`select` on `ctx.Done()`) leaves the teller blocked on
`req.reply <- balance` for ever unless the reply channel has a buffer of one. In trio the
same mistake either blocks the monitor (every later caller hangs) or, if the caller closed
its end, raises `BrokenResourceError` in the monitor and takes its nursery down.
The fix is the same as Go's, plus one line: a one-slot reply channel, `send_nowait`, and
ignore a caller that has gone. Guide: "Monitor tasks".
"""

import contextlib

import trio
import trio.testing

Request = tuple[int, trio.MemorySendChannel[int]]


async def teller(requests: trio.MemoryReceiveChannel[Request], delay: float) -> None:
    balance = 0
    async for amount, reply in requests:
        await trio.sleep(delay)  # the monitor's own work (a database, a disk...)
        balance += amount
        # One slot: never waits. A caller that was cancelled has closed its end: the deposit
        # stands, the reply is dropped, and the monitor goes on.
        with reply, contextlib.suppress(trio.BrokenResourceError):
            reply.send_nowait(balance)


async def deposit(requests: trio.MemorySendChannel[Request], amount: int) -> int:
    reply_send, reply = trio.open_memory_channel[int](1)
    with reply:  # closed when we leave, also when cancelled: the monitor then sees a gone caller
        await requests.send((amount, reply_send))
        return await reply.receive()


# The trap: an unbuffered reply channel and an awaited send.
async def blocking_teller(requests: trio.MemoryReceiveChannel[Request], delay: float) -> None:
    balance = 0
    async for amount, reply in requests:
        await trio.sleep(delay)
        balance += amount
        await reply.send(balance)


async def unbuffered_deposit(
    requests: trio.MemorySendChannel[Request], amount: int, close: bool
) -> int:
    reply_send, reply = trio.open_memory_channel[int](0)
    if close:
        with reply:
            await requests.send((amount, reply_send))
            return await reply.receive()
    await requests.send((amount, reply_send))
    return await reply.receive()


async def main() -> None:
    send, requests = trio.open_memory_channel[Request](0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(teller, requests, 1)
        with trio.move_on_after(0.5) as scope:  # this caller gives up while the monitor works
            await deposit(send, 100)
        assert scope.cancelled_caught
        assert await deposit(send, 10) == 110  # the monitor lives on; the first deposit stood
        nursery.cancel_scope.cancel()

    # Trap 1: the cancelled caller did not close its end; the monitor blocks on the reply and
    # the next caller hangs (the 60 s deadline fires).
    send, requests = trio.open_memory_channel[Request](0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocking_teller, requests, 1)
        with trio.move_on_after(0.5):
            await unbuffered_deposit(send, 100, close=False)
        with trio.move_on_after(60) as scope:
            await unbuffered_deposit(send, 10, close=False)
        assert scope.cancelled_caught
        nursery.cancel_scope.cancel()

    # Trap 2: the caller closed its end; the monitor's send raises and its nursery dies.
    send, requests = trio.open_memory_channel[Request](0)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocking_teller, requests, 1)
            with trio.move_on_after(0.5):
                await unbuffered_deposit(send, 100, close=True)
            await trio.sleep_forever()
    except* trio.BrokenResourceError:
        pass
    else:
        raise AssertionError("the monitor survived")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
