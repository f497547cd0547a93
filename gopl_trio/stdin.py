"""Waiting for "press Enter" and Ctrl-C without blocking the event loop.

Several book programs (du4, countdown2/3, the crawler of exercise 8.10) stop when the user
presses Enter: in Go a goroutine does `os.Stdin.Read(make([]byte, 1))` and closes a channel.
A direct port -- a worker thread blocked in a read -- cannot be cancelled: the thread has to
be abandoned and then delays interpreter exit, and reading through `sys.stdin.buffer` from an
abandoned thread can even crash the interpreter at shutdown. Wrapping standard input in
`trio.lowlevel.FdStream` makes it non-blocking, which on a terminal also makes *stdout*
non-blocking (they share one open file description; trio issues #174, #2660).

So we ask the event loop to tell us when the descriptor is readable
(`trio.lowlevel.wait_readable`) and only then read it, which cannot block. No thread, no
change to the descriptor's flags, cancellable like any other trio call.

Two deliberate differences from the Go programs:

* **End of file does not count as a key press.** Go's du4 treats EOF as "cancel", so under
  `</dev/null` (cron, CI, `subprocess.run`) it stops before it starts. Ours waits forever.
* Regular files and `/dev/null` cannot be watched by epoll (EPERM); they never block, so we
  read them directly. A closed descriptor means there is nothing to wait for.
"""

from __future__ import annotations

import errno
import os
import signal

import trio

__all__ = ["StdinStream", "StdoutStream", "wait_for_interrupt", "wait_for_keypress"]


async def wait_for_keypress(fd: int = 0) -> bytes:
    """Return the bytes read once at least one byte arrives on *fd*.

    Never returns if *fd* reaches end of file, is closed, or cannot be read: the caller
    simply keeps running (cancel the surrounding scope to stop waiting).
    """
    data = await StdinStream(fd).receive_some()
    if not data:  # end of file is not a key press
        await trio.sleep_forever()
    return data


async def wait_for_interrupt() -> None:
    """Return when the process receives SIGINT (Ctrl-C) or SIGTERM.

    While this waits, the signals no longer raise `KeyboardInterrupt`, so a program can treat
    Ctrl-C as an ordinary cancellation and still print what it has done so far.
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


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
