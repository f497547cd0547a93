"""du1: disk usage of the roots, walked by one background task (gopl.io/ch8/du1, §8.8).

The book's du1 starts a goroutine that walks the tree and sends each file's size on a
channel, closing it at the end; ``main`` ranges over the channel and prints the totals once.

The trio version has the same two parts. ``walk_dirs`` runs in the nursery beside ``main``
(``go walkDir(...)`` → ``nursery.start_soon``), and leaving ``with sizes:`` closes the channel,
which ends ``main``'s ``async for`` (``close(fileSizes)`` and ``range fileSizes``). Two
changes of grain, explained in ``_du.py`` and the porting guide: the directories are read in
a worker thread so that the event loop never blocks, and a message carries the sizes of a
whole batch of directories instead of one file, because a trio channel hop costs about
100 times a Go channel send.

Usage: ``python -m gopl_trio.du1 [ROOT ...]``
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from gopl_trio._du import (
    Batch,
    Totals,
    format_totals,
    parse_args,
    read_batch,
    start_roots,
    tally,
)
from gopl_trio._run import run_then_exit

PROG = "du1"


async def walk_dirs(roots: Sequence[str], sizes: trio.MemorySendChannel[Batch]) -> None:
    """Read every directory under *roots* and send what each batch found."""
    with sizes:  # closing the channel tells main the walk is over
        batch = await trio.to_thread.run_sync(start_roots, roots)
        while True:
            await sizes.send(batch)
            if not batch.pending:
                break
            batch = await trio.to_thread.run_sync(read_batch, batch.pending)


async def main(roots: Sequence[str]) -> int:
    sizes_send, sizes = trio.open_memory_channel[Batch](0)
    totals = Totals()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(walk_dirs, roots, sizes_send)
        async for batch in sizes:
            tally(PROG, totals, batch)
    print(format_totals(totals))
    return totals.exit_status


if __name__ == "__main__":
    args = parse_args(PROG, "Print the total size of the files under each ROOT.")
    run_then_exit(PROG, main, args.roots)
