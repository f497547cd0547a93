"""du4_literal: the book's du4 ported line by line -- a task per directory (gopl.io/ch8/du4, §8.9).

Not a tool: a documented counter-example that the benchmarks run beside ``du4``, so that the
porting guide can show *why* the trio programs have another shape.

Like the Go program, every directory gets a task of its own (``go walkDir(subdir, ...)``),
each task takes one of the 20 semaphore tokens and reads its single directory in a worker
thread. It is correct and it cancels; but a trio task costs about 100 times a goroutine to
start and to cancel and a thread hop costs 100–400 µs, so on a tree of a million files it holds
tens of thousands of live tasks, walks several times slower than ``du4`` and takes hundreds of
milliseconds to stop. On a hung mount it cannot exit at all: a thread stuck in the kernel
keeps the whole process alive (``du4`` reads in child processes for that reason).

Usage: ``python -m gopl_trio.du4_literal [-v] [ROOT ...]``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import trio

from gopl_trio._cancel import cancel_when, wait_for_interrupt, wait_for_keypress
from gopl_trio._du import Batch, Pending, Totals, format_totals, parse_args, read_batch, tally
from gopl_trio._du import start_roots as _start_roots
from gopl_trio._run import run_then_exit
from gopl_trio.du4 import CANCELLED_STATUS, print_progress

PROG = "du4_literal"
SEMAPHORE_TOKENS = 20  # the book's limit on directories read at once


async def walk_dirs(
    roots: Sequence[str], sizes: trio.MemorySendChannel[Batch], cancellable_acquire: bool
) -> None:
    """Start a task per root; each starts a task per subdirectory, like the book's walkDir."""
    sema = trio.Semaphore(SEMAPHORE_TOKENS)
    with sizes:
        async with trio.open_nursery() as nursery:
            batch = await trio.to_thread.run_sync(_start_roots, roots)
            await sizes.send(batch)
            for root in batch.pending:
                nursery.start_soon(
                    walk_dir, root, nursery, sema, sizes.clone(), cancellable_acquire
                )


async def walk_dir(
    directory: Pending,
    nursery: trio.Nursery,
    sema: trio.Semaphore,
    sizes: trio.MemorySendChannel[Batch],
    cancellable_acquire: bool,
) -> None:
    """Send one directory's sizes and start a task for each of its subdirectories."""
    with sizes:
        await trio.lowlevel.checkpoint_if_cancelled()  # the book's `if cancelled() { return }`
        batch = await dirents(directory, sema, cancellable_acquire)
        for subdir in batch.pending:
            nursery.start_soon(walk_dir, subdir, nursery, sema, sizes.clone(), cancellable_acquire)
        await sizes.send(batch)  # one message per directory (per file would be slower still)


async def dirents(directory: Pending, sema: trio.Semaphore, cancellable_acquire: bool) -> Batch:
    """Read exactly one directory in a worker thread, holding a semaphore token."""
    if not cancellable_acquire:
        # NOTE: the book's du4 before its last change: the acquire ignores `done`.
        with trio.CancelScope(shield=True):
            async with sema:
                return await trio.to_thread.run_sync(read_batch, [directory], 1)
    async with sema:
        return await trio.to_thread.run_sync(read_batch, [directory], 1, abandon_on_cancel=True)


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
    with trio.CancelScope() as done:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_when, cancel_event, done)
            nursery.start_soon(cancel_when, wait_for_interrupt, done)
            nursery.start_soon(walk_dirs, roots, sizes_send, cancellable_acquire)
            if verbose:
                nursery.start_soon(print_progress, totals)
            async for batch in sizes:
                tally(PROG, totals, batch)
            nursery.cancel_scope.cancel()  # the walk is over: stop the ticker and the watchers
    if done.cancelled_caught:
        print(format_totals(totals) + " (cancelled)", flush=True)
        return CANCELLED_STATUS
    print(format_totals(totals), flush=True)
    return totals.exit_status


if __name__ == "__main__":
    args = parse_args(PROG, "du4 with a task per directory, as in the book.", cancellable=True)
    main_ = partial(main, cancellable_acquire=not args.uncancellable_acquire)
    run_then_exit(PROG, main_, args.roots, args.v)
