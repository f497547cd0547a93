"""How every program starts and ends: ``trio.run`` for a command line.

A Go program's ``main`` returns, calls ``log.Fatal``, or dies of a signal: SIGINT on Ctrl-C,
SIGPIPE when the reader of its output goes away (``| head``). Python turns the last two into
``KeyboardInterrupt`` and ``BrokenPipeError`` -- which trio delivers inside a nursery's
``ExceptionGroup`` -- and prints a traceback unless someone catches them. :func:`run` is that
someone, for every program in the package:

* Ctrl-C that reaches it (the program did not handle the signal itself): exit status 130;
* a closed stdout: exit status 1, nothing printed;
* an exception of a type the program names as *fatal* (Go's ``log.Fatal``): one line
  ``PROG: cause`` on stderr and exit status 1.

:func:`run_then_exit` also ends the process at once with ``os._exit`` (see there).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import NoReturn, TypeVar, TypeVarTuple

import trio

__all__ = ["run", "run_then_exit"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

INTERRUPTED = 130  # as a shell reports a program stopped by Ctrl-C


def run(
    prog: str,
    main: Callable[[*Ts], Awaitable[T]],
    *args: *Ts,
    fatal: tuple[type[BaseException], ...] = (),
    describe: Callable[[BaseException], str] = str,
    clock: trio.abc.Clock | None = None,
) -> T:
    """``trio.run(main, *args)``; end as the module docstring says, by raising SystemExit."""
    with _exit_quietly():
        try:
            return trio.run(main, *args, clock=clock)
        except* fatal as group:
            print(f"{prog}: {describe(_first_leaf(group))}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None


def run_then_exit(
    prog: str,
    main: Callable[[*Ts], Awaitable[int]],
    *args: *Ts,
    fatal: tuple[type[BaseException], ...] = (),
    describe: Callable[[BaseException], str] = str,
) -> NoReturn:
    """:func:`run` a *main* that returns an exit status, then end the process at once.

    Structured concurrency guarantees that every task, thread call and child process the
    program started has ended when ``trio.run`` returns, so interpreter teardown has nothing
    of ours left to clean up -- yet it costs 30–100 ms here, most of what a du4 user waits
    for after pressing Enter. So flush the output and leave with ``os._exit``.
    """
    try:
        status = run(prog, main, *args, fatal=fatal, describe=describe)
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else 1
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(status)


@contextlib.contextmanager
def _exit_quietly() -> Iterator[None]:
    """Exit with status 1 if stdout was closed, 130 on Ctrl-C; no traceback either way."""
    try:
        try:
            yield
            sys.stdout.flush()  # so that a closed stdout shows up here, not at exit
        except* BrokenPipeError:
            # The reader went away (`| head`): say nothing, and keep the exit-time flush quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
    except* KeyboardInterrupt:
        raise SystemExit(INTERRUPTED) from None


def _first_leaf(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
