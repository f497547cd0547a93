"""du2: du1 plus progress with ``-v`` (gopl.io/ch8/du2, §8.8).

The book's du2 adds a ticker: main ``select``s between the size channel and a ``time.Tick``
of 500 ms, printing the running totals on each tick; without ``-v`` the tick channel is nil,
which disables that case of the ``select``.

trio has no ``select``. The ticker becomes a task of its own, ``print_progress``, started only
with ``-v`` (that is the nil channel), reading the same ``totals`` that main updates: both run
on one thread and switch only at ``await``, so no lock is needed. When the walk ends, main
cancels the nursery, which stops the ticker; Go's ``time.Tick`` would tick on forever.

Usage: ``python -m gopl_trio.du2 [-v] [ROOT ...]``
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

PROG = "du2"
PROGRESS_INTERVAL = 0.5  # seconds


async def walk_dirs(roots: Sequence[str], sizes: trio.MemorySendChannel[Batch]) -> None:
    """Read every directory under *roots* and send what each batch found."""
    with sizes:  # closing the channel tells main the walk is over
        batch = await trio.to_thread.run_sync(start_roots, roots)
        while True:
            await sizes.send(batch)
            if not batch.pending:
                break
            batch = await trio.to_thread.run_sync(read_batch, batch.pending)


async def print_progress(totals: Totals) -> None:
    """The ticker: print the running totals every PROGRESS_INTERVAL until cancelled."""
    while True:
        await trio.sleep(PROGRESS_INTERVAL)
        print(format_totals(totals), flush=True)


async def main(roots: Sequence[str], verbose: bool = False) -> int:
    sizes_send, sizes = trio.open_memory_channel[Batch](0)
    totals = Totals()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(walk_dirs, roots, sizes_send)
        if verbose:
            nursery.start_soon(print_progress, totals)
        async for batch in sizes:
            tally(PROG, totals, batch)
        nursery.cancel_scope.cancel()  # the walk is over: stop the ticker
    print(format_totals(totals))
    return totals.exit_status


if __name__ == "__main__":
    args = parse_args(PROG, "Print the total size of the files under each ROOT.")
    run_then_exit(PROG, main, args.roots, args.v)
