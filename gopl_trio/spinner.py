"""A spinner while a slow computation runs: gopl.io/ch8/spinner, §8.1.

The Go program starts the spinner as a goroutine and computes Fibonacci(45) in main; when main
returns, the spinner goroutine simply dies with the process. Here the spinner is a task in a
nursery and is cancelled explicitly once the result is ready, and the computation runs off the
event loop -- in a separate process by default. A worker thread would hold the GIL while it
computes, so the spinner could only draw when the interpreter hands the GIL back (every 5 ms at
best), and its frames would arrive late; a process has its own interpreter and its own GIL.
CPython is much slower than Go at this naive recursion, so ``-n`` defaults to 35 (a second or
two) rather than 45.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

import trio

from gopl_trio._run import run

FRAMES = r"-\|/"


def fib(x: int) -> int:
    """The deliberately slow, doubly recursive Fibonacci of the book."""
    if x < 2:
        return x
    return fib(x - 1) + fib(x - 2)


async def spinner(delay: float, out: TextIO) -> None:
    """Draw the next frame every *delay* seconds, forever (until cancelled)."""
    while True:
        for frame in FRAMES:
            out.write(f"\r{frame}")
            out.flush()
            await trio.sleep(delay)


async def fib_in_thread(n: int) -> int:
    """fib(n) on a worker thread: the event loop stays free, but the two share one GIL."""
    # abandon_on_cancel: Ctrl-C returns at once; the thread finishes on its own as a daemon.
    return await trio.to_thread.run_sync(fib, n, abandon_on_cancel=True)


# Run first in the fib process: exit as soon as standard input ends (our parent is gone).
_LIFELINE = """\
import os, sys, threading
threading.Thread(target=lambda: (os.read(0, 1), os._exit(1)), daemon=True).start()"""


async def fib_in_process(n: int) -> int:
    """fib(n) in a fresh interpreter, which has its own GIL; cancelling kills it."""
    # The child gets fib's source rather than importing this module: importing trio would
    # add a fifth of a second to its start-up.
    code = f"{_LIFELINE}\n{inspect.getsource(fib)}\nprint(fib(int(sys.argv[1])))"
    # A session of its own: the terminal's Ctrl-C goes to us, and we stop the child. A child
    # does not die with its parent, though: if we are killed (SIGTERM, SIGKILL, a closed
    # terminal) it would compute on alone. So its stdin is a pipe we hold open; our death
    # closes it, and the child's watcher thread sees end of file and exits.
    lifeline, keep_open = os.pipe()
    try:
        done = await trio.run_process(
            [sys.executable, "-c", code, str(n)],
            stdin=lifeline,
            capture_stdout=True,
            check=False,
            start_new_session=True,
        )
    finally:
        os.close(lifeline)
        os.close(keep_open)
    if done.returncode != 0:
        raise RuntimeError(f"the fib process failed with exit status {done.returncode}")
    return int(done.stdout)


WORKERS: dict[str, Callable[[int], Awaitable[int]]] = {
    "process": fib_in_process,
    "thread": fib_in_thread,
}


async def spin_while(
    n: int,
    compute: Callable[[int], Awaitable[int]],
    out: TextIO,
    delay: float = 0.1,
) -> int:
    """Show the spinner on *out* while ``await compute(n)`` runs; print and return the result."""
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(spinner, delay, out)
            fib_n = await compute(n)
            nursery.cancel_scope.cancel()  # Go just lets main return; here the spinner stops first
    except BaseException:  # Ctrl-C or a failed computation: end the spinner's line first
        print(file=sys.stderr)
        raise
    out.write(f"\rFibonacci({n}) = {fib_n}\n")
    out.flush()
    return fib_n


def fib_index(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 92:  # fib(92) is the largest that fits Go's int64 (and far too slow)
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 92")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="spinner", description="Compute Fibonacci(n) slowly, with a spinner."
    )
    parser.add_argument("-n", type=fib_index, default=35, help="which Fibonacci number")
    parser.add_argument(
        "--worker",
        choices=sorted(WORKERS),
        default="process",
        help="where fib runs (default: process, which keeps the spinner on time)",
    )
    args = parser.parse_args(argv)
    run("spinner", spin_while, args.n, WORKERS[args.worker], sys.stdout, fatal=(RuntimeError,))
    return 0


if __name__ == "__main__":
    sys.exit(main())
