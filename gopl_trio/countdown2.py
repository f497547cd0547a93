"""Countdown that Enter can abort: gopl.io/ch8/countdown2, §8.7.

Go waits on two channels with ``select``: ``time.After`` for the launch and a channel fed by a
goroutine that reads a byte from standard input. In trio the timeout is a cancel scope,
``move_on_after``, around the wait for the key: if the key comes first we abort, if the time
runs out the wait is cancelled and we launch. The key wait (`gopl_trio.stdin`) does not block
the event loop and leaves no reader thread behind; unlike Go's ``os.Stdin.Read``, end of file
on standard input (``</dev/null``, a closed pipe) is not a key press, so it does not abort.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

import trio

from gopl_trio._args import non_negative, seconds
from gopl_trio._cancel import wait_for_keypress
from gopl_trio._run import run


def launch(out: TextIO) -> None:
    print("Lift off!", file=out, flush=True)


async def countdown(
    start: int, period: float, abort: Callable[[], Awaitable[object]], out: TextIO
) -> bool:
    """Launch after *start* ticks of *period* seconds unless *abort* returns first."""
    print("Commencing countdown.  Press return to abort.", file=out, flush=True)
    with trio.move_on_after(start * period):  # select { case <-time.After(...):
        await abort()  #                                  case <-abort: }
        print("Launch aborted!", file=out, flush=True)
        return False
    launch(out)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="countdown2", description="Count down, then launch; press Enter to abort."
    )
    parser.add_argument("--from", dest="start", type=non_negative, default=10, metavar="N")
    parser.add_argument("--tick", type=seconds, default=1.0, help=argparse.SUPPRESS)  # for tests
    args = parser.parse_args(argv)
    run("countdown2", countdown, args.start, args.tick, wait_for_keypress, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
