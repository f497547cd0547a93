"""du3: walk directories concurrently, at most 20 reads at a time (gopl.io/ch8/du3, §8.9).

The book's du3 starts a goroutine for every directory, counts them with a ``sync.WaitGroup``
and closes the size channel from one more goroutine once the count reaches zero; a buffered
channel of 20 tokens is the counting semaphore that keeps at most 20 directories open.

In trio:

* the WaitGroup and its closer goroutine are the nursery and the channel's clones: every
  walker holds a clone of the send end, and ``main``'s ``async for`` ends when the last one
  is closed;
* the semaphore is a ``trio.Semaphore(20)`` held around each read (``dirents``);
* a walker reads a *batch* of directories per call and keeps what it has not read yet. It
  hands every other one of those to a new walker, and again, while there is room: fewer
  than ``MAX_WALKERS`` alive, and fewer than the readers can keep busy. A goroutine per
  directory costs Go almost nothing; a trio task per directory costs 100 times more to
  start and to cancel, and a tree of a million files would hold tens of thousands of them.
  ``du4_literal.py`` keeps the book's shape to show what it costs;
* the reads run in worker **processes** whose number follows the storage (``_pace.py``):
  one per core while reading is CPU-bound Python (a warm cache, where threads would only take
  turns on the GIL), up to the semaphore's 20 while reads wait for slow storage -- where the
  book's bound of 20 matters again. There, where a lookup takes milliseconds, the names of
  each open directory are also looked up a few at a time while that pays: more lookups in
  flight, never more than 20 directories open.

Usage: ``python -m gopl_trio.du3 [-v] [ROOT ...]``
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import trio

from gopl_trio._du import Batch, Pending, Totals, format_totals, parse_args, tally
from gopl_trio._pace import Readers, open_readers
from gopl_trio._readers import WorkerDied
from gopl_trio._run import run_then_exit

PROG = "du3"
PROGRESS_INTERVAL = 0.5  # seconds
SEMAPHORE_TOKENS = 20  # the book's limit on directories read at once
MAX_WALKERS = 2 * SEMAPHORE_TOKENS  # enough to keep every token busy; bounded whatever the tree


@attrs.define
class Walk:
    """What every walker shares: the semaphore, the reader processes and the walkers' nursery."""

    sema: trio.Semaphore
    readers: Readers
    walkers: trio.Nursery


async def walk_dirs(
    roots: Sequence[str], readers: Readers, sizes: trio.MemorySendChannel[Batch]
) -> None:
    """Start a walker per root and return when every walker has finished."""
    sema = trio.Semaphore(SEMAPHORE_TOKENS)
    with sizes:
        async with trio.open_nursery() as walkers:
            walk = Walk(sema, readers, walkers)
            batch = await readers.start(roots)
            await sizes.send(batch)  # the roots' errors
            for root in batch.pending:
                walkers.start_soon(walk_dir, [root], walk, sizes.clone())


async def walk_dir(
    pending: list[Pending], walk: Walk, sizes: trio.MemorySendChannel[Batch]
) -> None:
    """Read the directories in *pending* and everything below them, sending each batch."""
    with sizes:
        while pending:
            room = min(MAX_WALKERS, walk.readers.walkers_fed)
            while len(pending) > 1 and len(walk.walkers.child_tasks) < room:
                # The book's `go walkDir(subdir)`, bounded: while there is room for another
                # walker, hand it every other directory. (The list runs from big subtrees near
                # the root to small deep ones: either half of it would leave one walker little.)
                walk.walkers.start_soon(walk_dir, pending[::2], walk, sizes.clone())
                pending = pending[1::2]
            batch = await dirents(pending, walk)
            await sizes.send(batch)
            pending = batch.pending


async def dirents(pending: list[Pending], walk: Walk) -> Batch:
    """Read one batch of directories in a reader process, holding a semaphore token."""
    async with walk.sema:
        return await walk.readers.read(pending)


async def print_progress(totals: Totals) -> None:
    """The ticker: print the running totals every PROGRESS_INTERVAL until cancelled."""
    while True:
        await trio.sleep(PROGRESS_INTERVAL)
        print(format_totals(totals), flush=True)


async def main(roots: Sequence[str], verbose: bool = False) -> int:
    sizes_send, sizes = trio.open_memory_channel[Batch](0)
    totals = Totals()
    async with open_readers(PROG) as readers:  # the reader processes end with main
        async with trio.open_nursery() as nursery:
            nursery.start_soon(walk_dirs, roots, readers, sizes_send)
            if verbose:
                nursery.start_soon(print_progress, totals)
            async for batch in sizes:
                tally(PROG, totals, batch)
            nursery.cancel_scope.cancel()  # the walk is over: stop the ticker
        print(format_totals(totals), flush=True)  # before waiting for the readers to go
    return totals.exit_status


if __name__ == "__main__":
    args = parse_args(PROG, "Print the total size of the files under each ROOT.")
    run_then_exit(PROG, main, args.roots, args.v, fatal=(WorkerDied,))
