"""How the small book programs end: exit statuses for Ctrl-C and a closed stdout.

Go programs die silently of SIGPIPE when the reader of their output goes away (``| head``) and
of SIGINT on Ctrl-C. Python raises ``BrokenPipeError`` and ``KeyboardInterrupt`` instead --
inside trio, wrapped in exception groups -- and prints a traceback unless they are caught.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import trio

__all__ = ["run_quietly"]


def run_quietly(main: Callable[..., Awaitable[Any]], *args: Any) -> int:
    """``trio.run(main, *args)``; return 0, 1 if stdout was closed, or 130 on Ctrl-C."""
    status = 0
    try:
        trio.run(main, *args)
        sys.stdout.flush()  # so that a closed stdout shows up here, not at exit
    except* BrokenPipeError:
        # The reader went away (`| head`): say nothing, and keep the exit-time flush quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    except* KeyboardInterrupt:
        status = 130
    return status
