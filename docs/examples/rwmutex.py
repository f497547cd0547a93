"""sync.RWMutex: usually nothing; a small RWLock when a reader must hold across awaits.

A map guarded by an RWMutex in Go is a plain dict in trio as long as no `await` sits between
reading and using it, or between checking and updating it: tasks switch only at
checkpoints. Only a critical section that awaits needs a lock, and trio has no RWMutex.
`RWLock` below gives Go's rules: many readers or one writer, and a waiting writer stops new
readers (so a reader must not take the read lock twice, as in Go). Guide: "sync.RWMutex".
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio
import trio.testing


class RWLock:
    def __init__(self) -> None:
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._lot = trio.lowlevel.ParkingLot()  # the tasks waiting for any change

    async def _wait_until(self, ready: Callable[[], bool]) -> None:
        if ready():
            await trio.lowlevel.checkpoint()  # taking a lock is a checkpoint even without waiting
        while not ready():
            await self._lot.park()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[None]:  # RLock ... RUnlock
        await self._wait_until(lambda: not self._writer and not self._writers_waiting)
        self._readers += 1
        try:
            yield
        finally:
            self._readers -= 1
            self._lot.unpark_all()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[None]:  # Lock ... Unlock
        self._writers_waiting += 1
        try:
            await self._wait_until(lambda: not self._writer and not self._readers)
        finally:
            self._writers_waiting -= 1
            self._lot.unpark_all()  # readers held back by a writer that gave up may go on
        self._writer = True
        try:
            yield
        finally:
            self._writer = False
            self._lot.unpark_all()


async def main() -> None:
    # The usual case: no lock at all.
    cache: dict[str, int] = {}

    async def lookup(key: str) -> int:
        if key not in cache:  # check and insert with no await between: atomic
            cache[key] = len(key)
        await trio.lowlevel.checkpoint()
        return cache[key]

    async with trio.open_nursery() as nursery:
        for key in ["a", "bb", "a", "ccc"] * 10:
            nursery.start_soon(lookup, key)
    assert cache == {"a": 1, "bb": 2, "ccc": 3}

    # A lock held across awaits.
    lock = RWLock()
    log: list[tuple[str, float, float]] = []
    start = trio.current_time()

    async def reader(name: str, at: float) -> None:
        await trio.sleep(at)
        async with lock.read():
            t0 = trio.current_time() - start
            await trio.sleep(1)
        log.append((name, t0, trio.current_time() - start))

    async def writer(name: str, at: float) -> None:
        await trio.sleep(at)
        async with lock.write():
            t0 = trio.current_time() - start
            await trio.sleep(1)
        log.append((name, t0, trio.current_time() - start))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader, "r1", 0)
        nursery.start_soon(reader, "r2", 0.2)  # readers share
        nursery.start_soon(writer, "w", 0.5)  # waits for both readers
        nursery.start_soon(reader, "r3", 0.6)  # waits for the waiting writer
    assert sorted(log) == [("r1", 0, 1), ("r2", 0.2, 1.2), ("r3", 2.2, 3.2), ("w", 1.2, 2.2)]


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
