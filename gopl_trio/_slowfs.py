"""Imitate slow and hung storage inside du's directory reader, for tests and benchmarks.

A network mount or a cold disk makes every metadata operation wait; a hung mount makes one
wait for ever. ``benchmarks/slow_storage.py`` builds the real thing with FUSE; this module
imitates it where FUSE is missing, inside :func:`gopl_trio._du.read_batch` itself:

* ``GOPL_TRIO_DU_LATENCY=SECONDS`` (or :data:`LATENCY`): sleep that long before each
  directory open, each directory listing and each entry's ``lstat``;
* ``GOPL_TRIO_DU_HANG=NAME`` (or :data:`HANG`): a reader that reaches a directory named
  NAME never returns. In a reader process it also forks a helper that keeps the process's
  descriptors open, so that the pool cannot see the killed reader go, as with a process
  stuck in state D (which even SIGKILL does not end until the kernel call returns);
* ``GOPL_TRIO_DU_HANG_SIGNAL=FIFO`` (or :data:`HANG_SIGNAL`): a reader that starts to hang
  writes one byte to this named pipe first, so that a test knows when it is stuck without
  sleeping.

Both are read when this module is imported; tests may set the attributes instead (reader
processes forked afterwards inherit them).
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator
from typing import NoReturn, TypeVar

from gopl_trio import _readers

__all__ = ["HANG", "HANG_SIGNAL", "LATENCY", "hang", "slowly"]

T = TypeVar("T")

LATENCY = float(os.environ.get("GOPL_TRIO_DU_LATENCY") or 0)
HANG: str | None = os.environ.get("GOPL_TRIO_DU_HANG") or None
HANG_SIGNAL: str | None = os.environ.get("GOPL_TRIO_DU_HANG_SIGNAL") or None


def slowly(listing: Iterator[T]) -> Iterator[T]:
    """A directory *listing* that waits LATENCY seconds first (the listing itself) and then
    before each entry (its ``lstat``): kept out of du's hot loop."""
    time.sleep(LATENCY)
    for item in listing:
        time.sleep(LATENCY)
        yield item


def hang() -> NoReturn:
    """Block for ever, like a ``stat`` on a hung mount."""
    jobs = _readers.job_pipe()
    if jobs is not None and os.fork() == 0:
        # The helper: it holds this reader's descriptors (the pool watches one of them to
        # see the reader go) until the pool closes its end of the job pipe.
        try:
            select.select([jobs], [], [], 600)
        finally:
            os._exit(0)
    if HANG_SIGNAL is not None:
        with open(HANG_SIGNAL, "wb") as fifo:
            fifo.write(b"!")
    while True:
        time.sleep(3600)
