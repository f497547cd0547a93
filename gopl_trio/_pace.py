"""du3/du4's reader processes, paced by the storage: as many at once as the reads need.

The same walk meets two kinds of storage:

* **a warm cache**: a directory read costs only CPU (Python's ``scandir`` loop), so one
  reader per core is best; more readers would only queue for the cores;
* **slow storage** (a network mount, a cold disk): a read spends nearly all its time waiting
  for the storage, so many reads should wait at once -- the situation the book's du3 was
  written for, with its semaphore of 20 as the bound that matters.

Nothing needs to be configured: every batch reports how long it took and how much of that it
ran on a CPU or waited for one (:func:`gopl_trio._du.read_batch`); the rest it waited for
the storage. With *w* wall seconds for *r* running seconds, ``cores × w / r`` readers keep
every core busy (the classic sizing rule for a pool of blocking workers). Decaying sums over
recent batches make the estimate follow the storage as the walk moves across mounts.
:class:`Readers` sets the pool's limit to that number, between one per core and
:data:`MAX_READERS`; du3/du4's semaphore of 20 caps it in turn.

Batches are bounded in time as well as in entries (:data:`gopl_trio._du.BATCH_SECONDS`), so
on slow storage a batch returns after a few operations, progress moves, and the directories
found so far are shared out among the readers quickly.

Where each lookup waits milliseconds, :class:`Readers` also tries *lanes*: the names of one
open directory looked up several at a time (``read_batch(lanes=...)``), more lookups in
flight for the same 20 open directories. It keeps them only while the lookups of a directory
then take clearly less time per name; where they only queue (a busy server), it drops them
and tries again later.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Sequence

from gopl_trio._du import (
    BATCH_ENTRIES,
    BATCH_SECONDS,
    DIRECTORY_SECONDS,
    LOOKUP_LANES,
    Batch,
    Pending,
    read_batch,
    report,
)
from gopl_trio._du import start_roots as _start_roots
from gopl_trio._readers import ReaderPool, Stuck, open_reader_pool

__all__ = ["MAX_READERS", "Readers", "open_readers"]

#: The most reader processes ever busy at once, whatever the estimate says.
MAX_READERS = 64
#: Entries in each of the first batches (one per core): the other readers wait for what they find.
FIRST_BATCH_ENTRIES = 256
#: The shortest time bound of a batch (the longest is ``_du.BATCH_SECONDS``, one reader per core).
MIN_BATCH_SECONDS = 0.005
#: How busy the reader processes should be: a share of one core each.
BUSY = 0.9
#: How much of the past the estimate keeps after each batch.
DECAY = 0.8
#: Lanes (several lookups at once in one directory, see ``read_batch``) are tried where a name
#: takes at least LANES_WAIT seconds to look up, and kept while they make a directory's
#: lookups at least LANES_GAIN times faster per name than one lane did. They do not where the
#: storage is busy rather than slow -- as the benchmark's FUSE server, a Python process on the
#: same two cores, is at 1 ms per operation: there more lookups at once only queue, and every
#: bit of CPU the lanes cost is taken from the server.
LANES_WAIT = 0.004
LANES_GAIN = 1.25
#: Names looked up with lanes before they are judged, and seconds before lanes that did not
#: pay are tried again (the walk may have moved to other storage).
LANES_TRIAL = 100
LANES_RETRY = 10.0


class Readers:
    """Reads batches in the pool's processes and keeps the pool's limit paced to the storage."""

    def __init__(self, pool: ReaderPool) -> None:
        self.pool = pool
        self.cores = os.cpu_count() or 1
        self._wall = 0.0
        self._running = 0.0
        self.lanes = 1  # lookups at once in one directory
        self._per_name = {1: _Rate(), LOOKUP_LANES: _Rate()}  # seconds per name, by lanes
        self._lanes_failed_at = -LANES_RETRY
        self._batches = 0

    @property
    def walkers_fed(self) -> int:
        """How many walkers the readers can keep busy: four per read that may run at once.

        Enough for one read running, one next in line and two batches on their way back.
        More walkers would only split the work finer: on a warm cache (two reads at once on
        two cores) a third of the batches then read a single small directory each, and this
        process spent nearly twice the CPU on handing batches around.
        """
        return 4 * self.pool.limit

    async def start(self, roots: Sequence[str]) -> Batch:
        """Check the roots (in a reader: even opening a root may hang)."""
        batch = await self.pool.run_sync(_start_roots, roots)
        self._learn(batch, 1)
        return batch

    async def read(self, pending: list[Pending]) -> Batch:
        """Read one batch from *pending* in a reader process."""
        # Many readers read small batches, so that the work found is shared out at once; so
        # do the first few, which find the work for the others.
        seconds = max(MIN_BATCH_SECONDS, BATCH_SECONDS * self.cores / self.pool.limit)
        entries = BATCH_ENTRIES if self._batches >= self.cores else FIRST_BATCH_ENTRIES
        self._batches += 1
        lanes = self.lanes
        batch = await self.pool.run_sync(
            read_batch, pending, entries, seconds, DIRECTORY_SECONDS, lanes
        )
        self._learn(batch, lanes)
        return batch

    def _learn(self, batch: Batch, lanes: int) -> None:
        self._wall = self._wall * DECAY + batch.wall
        self._running = self._running * DECAY + batch.running
        used = max(self._running / max(self._wall, 1e-9), 1e-3)  # of its core, per process
        reading = min(self.pool.busy + 1, self.pool.limit)  # reads running, this one included
        self.pool.limit = max(self.cores, min(MAX_READERS, int(reading * BUSY / used)))
        self._per_name[lanes].add(batch.looking_up, batch.looked_up)
        self._choose_lanes()

    def _choose_lanes(self) -> None:
        one, many = self._per_name[1], self._per_name[LOOKUP_LANES]
        now = time.monotonic()
        if self.pool.limit <= self.cores:  # reading is CPU-bound: a warm cache
            self.lanes = 1
        elif self.lanes == 1:
            if one.seconds >= LANES_WAIT and now - self._lanes_failed_at >= LANES_RETRY:
                self.lanes = LOOKUP_LANES  # a trial: judged once LANES_TRIAL names are in
                many.clear()
        elif many.total >= LANES_TRIAL and many.seconds * LANES_GAIN > one.seconds:
            self.lanes = 1  # they did not pay: the lookups wait for something else
            self._lanes_failed_at = now


class _Rate:
    """Seconds per name looked up, over recent batches (decaying sums)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._seconds = self._names = 0.0
        self.total = 0  # names since the last clear()

    def add(self, seconds: float, names: int) -> None:
        self._seconds = self._seconds * DECAY + seconds
        self._names = self._names * DECAY + names
        self.total += names

    @property
    def seconds(self) -> float:
        return self._seconds / self._names if self._names else 0.0


@contextlib.asynccontextmanager
async def open_readers(prog: str) -> AsyncIterator[Readers]:
    """A :class:`Readers` whose processes end with the block -- or, stuck, are named on stderr."""
    stuck: list[Stuck] = []
    try:
        async with open_reader_pool() as pool:
            stuck = pool.stuck  # filled in as the pool closes
            yield Readers(pool)
    finally:
        if stuck:
            _report_stuck(prog, stuck)


def _report_stuck(prog: str, stuck: list[Stuck]) -> None:
    """One line on stderr: where a reader hangs, and that the program exits without it."""
    reads = [note for worker in stuck for note in worker.notes]
    pids = " ".join(str(worker.pid) for worker in stuck)
    where = reads[0] if reads else "?"
    others = f" and {len(reads) - 1} other reads" if len(reads) > 1 else ""
    report(prog, where, f"stuck in the kernel{others}; exiting without reader process {pids}")
