"""Pipeline stages as functions over one-way channel ends: gopl.io/ch8/pipeline3, §8.4.3.

Go narrows ``chan int`` to ``chan<- int`` (send only) or ``<-chan int`` (receive only) in the
stage functions' signatures. trio's channels come as two objects from the start, a
``MemorySendChannel`` and a ``MemoryReceiveChannel``, so each stage is simply handed the end
it needs, and a type checker rejects a receive on a send end. ``count`` is only there so the
benchmark (``benchmarks/pipeline.py``) can push more items; the program sends 100.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import trio

from gopl_trio._run import run


async def counter(out: trio.MemorySendChannel[int], count: int = 100) -> None:
    with out:  # close it when done, so the next stage's loop ends
        for x in range(count):
            await out.send(x)


async def squarer(out: trio.MemorySendChannel[int], in_: trio.MemoryReceiveChannel[int]) -> None:
    with out:
        async for v in in_:
            await out.send(v * v)


async def printer(in_: trio.MemoryReceiveChannel[int], file: TextIO) -> None:
    async for v in in_:
        print(v, file=file)


async def pipeline(file: TextIO) -> None:
    naturals_tx, naturals = trio.open_memory_channel[int](0)
    squares_tx, squares = trio.open_memory_channel[int](0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(counter, naturals_tx)
        nursery.start_soon(squarer, squares_tx, naturals)
        await printer(squares, file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline3", description="Print the first 100 squares.")
    parser.parse_args(argv)
    run("pipeline3", pipeline, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
