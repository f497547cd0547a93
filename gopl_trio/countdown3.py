"""Countdown that can be aborted at every tick: gopl.io/ch8/countdown3, §8.7.

Each second Go's loop ``select``s between the ticker's channel and the abort channel. If the
launch is aborted the function returns and the ``time.Tick`` goroutine ticks on with nobody
listening: the leak the book warns about (its fix is ``time.NewTicker`` and ``Stop``). Here
the ticker is a task in the countdown's nursery: however the countdown ends -- launch, abort,
Ctrl-C or an error -- leaving the nursery cancels it. The abort wait cancels the counting
loop's scope (trio's form of ``case <-abort``), so it takes effect at once, between ticks too.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

import trio

from gopl_trio._args import non_negative, seconds
from gopl_trio._cancel import cancel_when, wait_for_keypress
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


async def countdown(
    start: int, period: float, abort: Callable[[], Awaitable[object]], out: TextIO
) -> bool:
    """Launch after *start* ticks of *period* seconds unless *abort* returns first."""
    print("Commencing countdown.  Press return to abort.", file=out, flush=True)
    async with trio.open_nursery() as nursery:
        ticks_tx, ticks = trio.open_memory_channel[None](1)  # one slot, like Go's ticker channel
        nursery.start_soon(ticker, period, ticks_tx)
        with trio.CancelScope() as counting:
            nursery.start_soon(cancel_when, abort, counting)  # select { case <-abort:
            for count in range(start, 0, -1):
                print(count, file=out, flush=True)
                await ticks.receive()  #                               case <-tick: }
        nursery.cancel_scope.cancel()  # stop the ticker and the abort wait: nothing leaks
    if counting.cancelled_caught:
        print("Launch aborted!", file=out, flush=True)
        return False
    launch(out)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="countdown3", description="Count down, then launch; press Enter to abort."
    )
    parser.add_argument("--from", dest="start", type=non_negative, default=10, metavar="N")
    parser.add_argument("--tick", type=seconds, default=1.0, help=argparse.SUPPRESS)  # for tests
    args = parser.parse_args(argv)
    run("countdown3", countdown, args.start, args.tick, wait_for_keypress, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
