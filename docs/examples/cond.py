"""sync.Cond -> trio.Condition, and when a trio program does not need one.

    mu.Lock(); for len(queue) == 0 { cond.Wait() }; item := queue[0]; ...; mu.Unlock()

`trio.Condition` has Go's contract: hold its lock to wait; `wait()` releases it while
sleeping and takes it back before returning (also when cancelled). Two differences:
`notify()`/`notify_all()` (Signal/Broadcast) raise `RuntimeError` unless the caller holds
the lock, where Go allows a Signal without it; and the lock is a trio.Lock, owned by the
task. When the state is only touched between checkpoints, the lock buys nothing: wait on a
`Changed` wake-up (select_send.py) or a `trio.lowlevel.ParkingLot`. Guide: "sync.Cond".
"""

from collections import deque

import trio
import trio.testing


async def main() -> None:
    queue: deque[int] = deque()
    cond = trio.Condition()
    got: list[tuple[str, int]] = []

    async def consumer(name: str) -> None:
        while True:
            async with cond:
                while not queue:
                    await cond.wait()
                item = queue.popleft()
            if item < 0:
                return
            got.append((name, item))

    async def producer() -> None:
        for item in [1, 2, 3, -1, -1]:
            await trio.sleep(1)
            async with cond:
                queue.append(item)
                cond.notify()  # cond.Signal(); notify_all() is cond.Broadcast()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer, "a")
        nursery.start_soon(consumer, "b")
        nursery.start_soon(producer)
    assert sorted(item for _, item in got) == [1, 2, 3]

    try:
        cond.notify()  # Go allows Signal without holding L; trio does not
    except RuntimeError:
        pass
    else:
        raise AssertionError("notify without the lock")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
