"""Rocket-launch countdown driven by a ticker: gopl.io/ch8/countdown1, §8.7.

Go's ``time.Tick`` hands back a channel that a hidden goroutine feeds once a second, forever:
nothing can stop it, so once the countdown is over it keeps ticking for nobody. Here the ticker
is an ordinary task in the countdown's nursery, and leaving the nursery cancels it. Like Go's
ticker, it drops a tick rather than queue it when the receiver is not ready (``send_nowait``
plus ``trio.WouldBlock``: Go's ``select`` with a ``default:`` case).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TextIO

import trio

from gopl_trio._args import non_negative, seconds
from gopl_trio._run import run


async def ticker(period: float, ticks: trio.MemorySendChannel[None]) -> None:
    """Send a tick every *period* seconds, on schedule; drop it if the last one is unread."""
    with ticks:
        deadline = trio.current_time()
        while True:
            deadline += period
            await trio.sleep_until(deadline)
            # Go's `select { case c <- t: default: }`: if the receiver is behind, drop the tick.
            with contextlib.suppress(trio.WouldBlock):
                ticks.send_nowait(None)


def launch(out: TextIO) -> None:
    print("Lift off!", file=out, flush=True)


async def countdown(start: int, period: float, out: TextIO) -> None:
    print("Commencing countdown.", file=out, flush=True)
    async with trio.open_nursery() as nursery:
        ticks_tx, ticks = trio.open_memory_channel[None](1)  # one slot, like Go's ticker channel
        nursery.start_soon(ticker, period, ticks_tx)
        for count in range(start, 0, -1):
            print(count, file=out, flush=True)
            await ticks.receive()
        nursery.cancel_scope.cancel()  # stop the ticker: in Go it would tick on, unseen
    launch(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="countdown1", description="Count down, then launch.")
    parser.add_argument("--from", dest="start", type=non_negative, default=10, metavar="N")
    parser.add_argument("--tick", type=seconds, default=1.0, help=argparse.SUPPRESS)  # for tests
    args = parser.parse_args(argv)
    run("countdown1", countdown, args.start, args.tick, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
