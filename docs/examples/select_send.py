"""A `for { select }` loop whose send case is switched on and off by a nil channel.

The Go idiom, written for this guide (not from the books):

    var pending []T                       // or: var latest T; have := false
    for {
        var out chan<- T                  // nil: the send case is disabled
        if len(pending) > 0 {
            out = outCh                   // something to send: enable it
        }
        select {
        case v := <-in:
            pending = append(pending, v)
        case out <- pending[0]:           // (guarded by the nil channel above)
            pending = pending[1:]
        }
    }

trio has no `select`. Two recipes, by what the pending state is. Guide: "select".
"""

import trio
import trio.testing


# Recipe 1. When the pending state is a FIFO and the send case offers its head, the whole
# loop is a buffered channel: the buffer is `pending`, `send` waits when it is full (Go's
# receive case disabled by a length check), `receive` waits when it is empty.
async def fifo_demo() -> list[tuple[float, int]]:
    send, receive = trio.open_memory_channel[int](3)  # at most 3 pending
    got: list[tuple[float, int]] = []

    async def producer() -> None:
        with send:
            for i in range(5):
                await send.send(i)

    async def slow_consumer() -> None:
        async for v in receive:
            got.append((trio.current_time(), v))
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        nursery.start_soon(slow_consumer)
    return got


# Recipe 2. When the loop keeps richer state, run one task per case; they share the state
# (no lock: nothing else runs between two checkpoints) and wake each other with `Changed`.
# Here the state is "the latest value, if not sent yet": a slow reader skips stale values.
class Changed:
    """A wake-up for whoever waits on shared state. trio.Event cannot be cleared: replace it."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = trio.Event()

    async def wait(self) -> None:
        await self._event.wait()


async def latest(updates: trio.MemoryReceiveChannel[int], out: trio.MemorySendChannel[int]) -> None:
    value, version, sent = 0, 0, 0  # pending while version != sent (Go: `out` is not nil)
    done = False
    changed = Changed()
    offer: trio.CancelScope | None = None

    async def receive_case() -> None:
        nonlocal value, version, done
        async for v in updates:
            value, version = v, version + 1
            if offer is not None:
                offer.cancel()  # withdraw the stale offer; the send case offers `v` next
            changed.notify()
        done = True
        changed.notify()

    async def send_case() -> None:
        nonlocal sent, offer
        with out:
            while not (done and version == sent):
                if version == sent:  # nothing pending: this case is disabled
                    await changed.wait()
                    continue
                offering = version
                with trio.CancelScope() as offer:
                    await out.send(value)  # a cancelled send delivers nothing
                    sent = offering  # a newer version may have arrived meanwhile: still pending
                offer = None

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive_case)
        nursery.start_soon(send_case)


async def latest_demo(read_every: float) -> list[int]:
    updates_send, updates = trio.open_memory_channel[int](0)
    out_send, out = trio.open_memory_channel[int](0)
    got: list[int] = []

    async def producer() -> None:
        with updates_send:
            for i in range(1, 11):
                await updates_send.send(i)
                await trio.sleep(0.3)

    async def reader() -> None:
        async for v in out:
            got.append(v)
            await trio.sleep(read_every)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(latest, updates, out_send)
        nursery.start_soon(producer)
        nursery.start_soon(reader)
    return got


async def main() -> None:
    start = trio.current_time()
    got = await fifo_demo()
    assert [v for _, v in got] == [0, 1, 2, 3, 4]
    assert [t - start for t, _ in got] == [0, 1, 2, 3, 4]

    # A fast reader sees every value; a slow one only the latest, and always the last.
    assert await latest_demo(read_every=0) == list(range(1, 11))
    slow = await latest_demo(read_every=1)
    assert slow[0] == 1 and slow[-1] == 10 and len(slow) < 10
    assert slow == sorted(set(slow))


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
