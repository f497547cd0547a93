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

__all__ = ["wait_for_interrupt", "wait_for_keypress"]


async def wait_for_keypress(fd: int = 0) -> bytes:
    """Return the bytes read once at least one byte arrives on *fd*.

    Never returns if *fd* reaches end of file, is closed, or cannot be read: the caller
    simply keeps running (cancel the surrounding scope to stop waiting).
    """
    try:
        await trio.lowlevel.wait_readable(fd)
    except OSError as exc:
        if exc.errno != errno.EPERM:  # EBADF/EINVAL: no standard input at all
            await trio.sleep_forever()
        # EPERM: a regular file or /dev/null; reading it does not block.
    try:
        data = os.read(fd, 4096)
    except OSError:
        data = b""
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
