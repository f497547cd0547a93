"""du4: du3 that stops when you press Enter (gopl.io/ch8/du4, §8.9).

The book's du4 adds a ``done`` channel that a goroutine closes when a byte arrives on
standard input; every goroutine polls it, and the semaphore acquire ``select``s on it too --
the last change, which the book says cut the delay before exit from hundreds of
milliseconds to tens.

In trio, ``done`` is a cancel scope around the walk: ``done.cancel()`` reaches every task
at its next checkpoint, with no polling code, and ``Semaphore.acquire`` is one. So the
book's "before" has to be built on purpose: ``main(..., cancellable_acquire=False)`` (hidden
flag ``--uncancellable-acquire``) shields ``dirents`` as Go's was, for the latency benchmark.
Shipped, a cancelled read kills its reader process at once, and a reader stuck on a hung
mount is left behind after a short grace period and named on stderr (``_readers.py``).

Differences from the Go program: end of file on stdin does not cancel (Go's du4 stops at
once under ``</dev/null``); Ctrl-C cancels the same way; a cancelled walk prints the totals
counted so far followed by `` (cancelled)`` and exits with status 130.

Usage: ``python -m gopl_trio.du4 [-v] [ROOT ...]``, then press Enter to stop early.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import attrs
import trio

from gopl_trio._cancel import cancel_when, wait_for_interrupt, wait_for_keypress
from gopl_trio._du import Batch, Pending, Totals, format_totals, parse_args, tally
from gopl_trio._pace import Readers, open_readers
from gopl_trio._readers import WorkerDied
from gopl_trio._run import run_then_exit

PROG = "du4"
CANCELLED_STATUS = 130  # as a shell reports a program stopped by Ctrl-C
PROGRESS_INTERVAL = 0.5  # seconds
SEMAPHORE_TOKENS = 20  # the book's limit on directories read at once
MAX_WALKERS = 2 * SEMAPHORE_TOKENS  # enough to keep every token busy; bounded whatever the tree


@attrs.define
class Walk:
    """What every walker shares: the semaphore, the reader processes and the walkers' nursery."""

    sema: trio.Semaphore
    readers: Readers
    walkers: trio.Nursery
    cancellable_acquire: bool = True


async def walk_dirs(
    roots: Sequence[str],
    readers: Readers,
    sizes: trio.MemorySendChannel[Batch],
    cancellable_acquire: bool = True,
) -> None:
    """Start a walker per root and return when every walker has finished."""
    sema = trio.Semaphore(SEMAPHORE_TOKENS)
    with sizes:
        async with trio.open_nursery() as walkers:
            walk = Walk(sema, readers, walkers, cancellable_acquire)
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
            await trio.lowlevel.checkpoint_if_cancelled()  # the book's `if cancelled() { return }`
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
    if not walk.cancellable_acquire:
        # NOTE: the book's du4 before its last change: once called, dirents waited for a token
        # and read, whatever happened to `done`. Shield the whole call to get the same in trio.
        with trio.CancelScope(shield=True):
            async with walk.sema:
                return await walk.readers.read(pending)
    async with walk.sema:  # cancellable, like the book's `select` on done
        return await walk.readers.read(pending)


async def print_progress(totals: Totals) -> None:
    """The ticker: print the running totals every PROGRESS_INTERVAL until cancelled."""
    while True:
        await trio.sleep(PROGRESS_INTERVAL)
        print(format_totals(totals), flush=True)


async def main(
    roots: Sequence[str],
    verbose: bool = False,
    *,
    cancellable_acquire: bool = True,
    cancel_event: Callable[[], Awaitable[object]] = wait_for_keypress,
) -> int:
    """Walk *roots* and print the totals; stop early when *cancel_event* returns or on Ctrl-C."""
    sizes_send, sizes = trio.open_memory_channel[Batch](0)
    totals = Totals()
    async with open_readers(PROG) as readers:  # the reader processes end with main
        with trio.CancelScope() as done:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancel_when, cancel_event, done)
                nursery.start_soon(cancel_when, wait_for_interrupt, done)
                nursery.start_soon(walk_dirs, roots, readers, sizes_send, cancellable_acquire)
                if verbose:
                    nursery.start_soon(print_progress, totals)
                async for batch in sizes:
                    tally(PROG, totals, batch)
                nursery.cancel_scope.cancel()  # the walk is over: stop the ticker and the watchers
        if done.cancelled_caught:
            print(format_totals(totals) + " (cancelled)", flush=True)
        else:
            print(format_totals(totals), flush=True)  # before waiting for the readers to go
    return CANCELLED_STATUS if done.cancelled_caught else totals.exit_status


if __name__ == "__main__":
    args = parse_args(PROG, "Print the total size of the files under each ROOT.", cancellable=True)
    main_ = partial(main, cancellable_acquire=not args.uncancellable_acquire)
    run_then_exit(PROG, main_, args.roots, args.v, fatal=(WorkerDied,))
