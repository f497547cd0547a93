"""Closing channels ends the pipeline: gopl.io/ch8/pipeline2, §8.4.2.

The counter stops after 100 numbers and closes its channel; the squarer's loop ends when its
input is closed and drained, and it closes its own output in turn; the printer's loop ends the
same way. In trio, receiving from a closed and drained channel raises ``trio.EndOfChannel``,
which ``async for`` turns into the end of the loop, and ``with channel:`` closes it however the
task ends -- also when it is cancelled or fails, which Go's explicit ``close`` call does not.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import trio

from gopl_trio._run import run


async def pipeline(out: TextIO) -> None:
    naturals_tx, naturals = trio.open_memory_channel[int](0)
    squares_tx, squares = trio.open_memory_channel[int](0)

    # Counter
    async def counter() -> None:
        with naturals_tx:  # close it when done, so the squarer's loop ends
            for x in range(100):
                await naturals_tx.send(x)

    # Squarer
    async def squarer() -> None:
        with squares_tx:
            async for x in naturals:
                await squares_tx.send(x * x)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(counter)
        nursery.start_soon(squarer)
        # Printer (in the nursery's own task, as the book prints in main)
        async for x in squares:
            print(x, file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline2", description="Print the first 100 squares.")
    parser.parse_args(argv)
    run("pipeline2", pipeline, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
