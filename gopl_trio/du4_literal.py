"""du4_literal: the book's du4 ported line by line -- a task per directory (gopl.io/ch8/du4, §8.9).

Not a tool: a documented counter-example that the benchmarks run beside ``du4``, so that the
porting guide can show *why* the trio programs have another shape.

Like the Go program, every directory gets a task of its own (``go walkDir(subdir, ...)``),
each task takes one of the 20 semaphore tokens and reads its single directory in a worker
thread. It is correct and it cancels; but a trio task costs about 100 times a goroutine to
start and to cancel and a thread hop costs 100–400 µs, so on a tree of a million files it holds
tens of thousands of live tasks, walks several times slower than ``du4`` and takes hundreds of
milliseconds to stop. Only the walk differs from ``du4``; ``main`` is du4's.

Usage: ``python -m gopl_trio.du4_literal [-v] [ROOT ...]``
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import trio

from gopl_trio import du4
from gopl_trio._du import Batch, parse_args, read_batch, start_roots
from gopl_trio._readers import ReaderPool, WorkerDied
from gopl_trio._run import run_then_exit

PROG = "du4_literal"
SEMAPHORE_TOKENS = 20  # the book's limit on directories read at once


async def walk_dirs(
    roots: Sequence[str],
    readers: ReaderPool,
    sizes: trio.MemorySendChannel[Batch],
    cancellable_acquire: bool = True,
) -> None:
    """Start a task per root; each starts a task per subdirectory, like the book's walkDir.

    *readers* is du4's process pool, unused: the book reads each directory in the walker.
    """
    sema = trio.Semaphore(SEMAPHORE_TOKENS)
    with sizes:
        async with trio.open_nursery() as nursery:
            batch = await trio.to_thread.run_sync(start_roots, roots)
            await sizes.send(batch)
            for root in batch.pending:
                nursery.start_soon(
                    walk_dir, root, nursery, sema, sizes.clone(), cancellable_acquire
                )


async def walk_dir(
    directory: str,
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


async def dirents(directory: str, sema: trio.Semaphore, cancellable_acquire: bool) -> Batch:
    """Read exactly one directory in a worker thread, holding a semaphore token."""
    if not cancellable_acquire:  # as du4 before the book's last change
        with trio.CancelScope(shield=True):
            async with sema:
                return await trio.to_thread.run_sync(read_batch, [directory], 1)
    async with sema:
        return await trio.to_thread.run_sync(read_batch, [directory], 1, abandon_on_cancel=True)


async def main(roots: Sequence[str], verbose: bool = False, **options: object) -> int:
    return await du4.main(roots, verbose, walk=walk_dirs, prog=PROG, **options)  # type: ignore[arg-type]


if __name__ == "__main__":
    args = parse_args(PROG, "du4 with a task per directory, as in the book.", cancellable=True)
    main_ = partial(main, cancellable_acquire=not args.uncancellable_acquire)
    run_then_exit(PROG, main_, args.roots, args.v, fatal=(WorkerDied,))
