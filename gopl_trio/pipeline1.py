"""Counter, squarer and printer joined by channels: gopl.io/ch8/pipeline1, §8.4.2.

Like the book's program it runs forever: one task counts 0, 1, 2, ... into an unbuffered
channel, a second squares what it receives into another, and the printer prints the squares.
The Go goroutines are tasks in one nursery, so whatever stops the printer -- Ctrl-C (exit
status 130) or a reader that went away, as in ``| head`` (exit status 1, no traceback) --
also stops the counter and the squarer; none of them can be left behind.
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
        x = 0
        while True:
            await naturals_tx.send(x)
            x += 1

    # Squarer
    async def squarer() -> None:
        while True:
            x = await naturals.receive()
            await squares_tx.send(x * x)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(counter)
        nursery.start_soon(squarer)
        # Printer (in the nursery's own task, as the book prints in main)
        while True:
            print(await squares.receive(), file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline1", description="Print the squares, forever.")
    parser.parse_args(argv)
    run("pipeline1", pipeline, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
