"""sync/atomic: between checkpoints every update is atomic; across an await it is not.

Go needs `atomic.AddInt64` (or a Mutex) because goroutines run in parallel and are
preempted anywhere. trio tasks of one `trio.run` share one thread and switch only at
checkpoints, so `n += 1` is atomic with respect to other tasks, and `atomic.Value`,
`CompareAndSwap` and friends are plain code. The race that remains is check-then-act with
an `await` in between. Worker threads (`trio.to_thread`) are real threads: there a
`threading.Lock` is needed, as in any Python. trio has no race detector. Guide: "atomics".
"""

import threading

import trio


async def main() -> None:
    hits = 0

    async def count() -> None:
        nonlocal hits
        await trio.lowlevel.checkpoint()
        hits += 1  # atomic: no checkpoint inside

    async with trio.open_nursery() as nursery:
        for _ in range(1000):
            nursery.start_soon(count)
    assert hits == 1000

    # Read, await, write: every task reads 0 before any writes back. Lost updates.
    racy = 0

    async def racy_count() -> None:
        nonlocal racy
        seen = racy
        await trio.lowlevel.checkpoint()  # e.g. a log line sent to a socket
        racy = seen + 1

    async with trio.open_nursery() as nursery:
        for _ in range(1000):
            nursery.start_soon(racy_count)
    assert racy == 1  # 999 updates lost

    # Threads: a threading.Lock (never held across an await: it would block the event loop).
    total = 0
    total_lock = threading.Lock()

    def add_many() -> None:
        nonlocal total
        for _ in range(10_000):
            with total_lock:
                total += 1

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(trio.to_thread.run_sync, add_many)
    assert total == 40_000


if __name__ == "__main__":
    trio.run(main)
