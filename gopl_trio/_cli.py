"""How the small book programs end, and the argument types they share.

Go programs die silently of SIGPIPE when the reader of their output goes away (``| head``) and
of SIGINT on Ctrl-C. Python raises ``BrokenPipeError`` and ``KeyboardInterrupt`` instead --
inside trio, wrapped in exception groups -- and prints a traceback unless they are caught.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import trio

__all__ = ["exit_quietly", "non_negative", "run_program", "run_quietly", "seconds"]

T = TypeVar("T")


@contextlib.contextmanager
def exit_quietly() -> Iterator[None]:
    """Exit with status 1 if stdout was closed, 130 on Ctrl-C; no traceback either way."""
    try:
        try:
            yield
            sys.stdout.flush()  # so that a closed stdout shows up here, not at exit
        except* BrokenPipeError:
            # The reader went away (`| head`): say nothing, and keep the exit-time flush quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
    except* KeyboardInterrupt:  # trio delivers it inside a nursery's ExceptionGroup
        raise SystemExit(130) from None


def run_program(main: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``trio.run(main, *args)`` for a command line, ending quietly as :func:`exit_quietly`."""
    with exit_quietly():
        return trio.run(main, *args)


def run_quietly(main: Callable[..., Awaitable[Any]], *args: Any) -> int:
    """:func:`run_program` for a program whose outcome is its output: exit status 0."""
    run_program(main, *args)
    return 0


def non_negative(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def seconds(text: str) -> float:
    """An argparse type: a finite, non-negative number of seconds (trio rejects the others)."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(text)
    return value
