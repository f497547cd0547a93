"""A program under test as a child process that the test talks to through pipes.

The command-line tests of callboth, the crawlers and mirror each start a program, press
Enter or send a signal, and read what it printed. :func:`running` makes sure that the child
is killed and its pipes are closed however the test ends, and :func:`read_all` reads a pipe
to its end.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import trio


@contextlib.asynccontextmanager
async def running(command: Sequence[str], **options: Any) -> AsyncIterator[trio.Process]:
    """``trio.lowlevel.open_process(command, **options)``, killed and closed on the way out."""
    proc = await trio.lowlevel.open_process(command, **options)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                await stream.aclose()


async def read_all(stream: trio.abc.ReceiveStream | None) -> bytes:
    """Everything *stream* sends until it ends."""
    assert stream is not None
    return b"".join([chunk async for chunk in stream])
