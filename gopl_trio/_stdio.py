"""Standard input and output as trio streams, without a thread and without O_NONBLOCK.

Go's ``io.Copy(conn, os.Stdin)`` (netcat2/3) and a goroutine blocked in ``os.Stdin.Read``
(du4, countdown2/3) have no direct port. A worker thread blocked in a read cannot be
cancelled: it has to be abandoned and then delays interpreter exit, and reading through
``sys.stdin.buffer`` from an abandoned thread can even crash the interpreter at shutdown.
Wrapping the descriptor in ``trio.lowlevel.FdStream`` makes it non-blocking, which on a
terminal also makes *stdout* non-blocking, since they share one open file description (trio
issues #174, #2660), and then ``print`` can raise ``BlockingIOError``.

So we ask the event loop when the descriptor is ready (``trio.lowlevel.wait_readable`` /
``wait_writable``) and only then read or write it, which cannot block: no thread, no change to
the descriptor's flags, cancellable like any other trio call. Regular files and ``/dev/null``
cannot be watched by epoll (EPERM); they never block, so we use them directly. A closed
descriptor reads as empty.
"""

from __future__ import annotations

import errno
import os

import trio

__all__ = ["StdinStream", "StdoutStream"]


class StdinStream(trio.abc.ReceiveStream):
    """Standard input as a trio stream, without a thread and without O_NONBLOCK.

    We wait until the descriptor is readable and only then `os.read` it, which cannot block
    (see the module docstring for why not FdStream). Regular files and /dev/null cannot be
    polled (EPERM) and never block, so they are read directly. With no standard input at all
    (a closed descriptor) the stream is simply empty.
    """

    def __init__(self, fd: int = 0) -> None:
        self._fd = fd

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        try:
            await trio.lowlevel.wait_readable(self._fd)
        except OSError as exc:
            if exc.errno != errno.EPERM:
                return b""  # no standard input at all: treat it as empty
            await trio.lowlevel.checkpoint()
        try:
            return os.read(self._fd, max_bytes or 65536)
        except OSError:
            return b""

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


class StdoutStream(trio.abc.SendStream):
    """Standard output as a trio stream: wait until writable, then write what fits."""

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            try:
                await trio.lowlevel.wait_writable(self._fd)
            except OSError as exc:
                if exc.errno != errno.EPERM:
                    raise
                await trio.lowlevel.checkpoint()
            # At most a pipe buffer's worth, so a blocking descriptor does not block us long.
            written = os.write(self._fd, view[:4096])
            view = view[written:]

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.wait_writable(self._fd)

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
