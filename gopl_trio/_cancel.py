"""What stops a program early: a key press, Ctrl-C, and cancelling a scope when one comes.

Go's du4, countdown2/3 and the crawler of exercise 8.10 start a goroutine that reads a byte
from standard input and then closes a ``done`` channel (or sends on ``abort``). In trio,
``done`` is a cancel scope, and the goroutine is a task running :func:`cancel_when`::

    with trio.CancelScope() as done:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_when, wait_for_keypress, done)
            ...

Two deliberate differences from the Go programs:

* **End of file does not count as a key press.** Go's du4 treats EOF as "cancel", so under
  ``</dev/null`` (cron, CI, ``subprocess.run``) it stops before it starts. Ours waits forever.
* **Ctrl-C is a cancellation too** (:func:`wait_for_interrupt`): the program prints what it
  has done so far instead of dying with a traceback.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable

import trio

from gopl_trio._stdio import StdinStream

__all__ = ["cancel_when", "wait_for_interrupt", "wait_for_keypress"]


async def cancel_when(wait: Callable[[], Awaitable[object]], scope: trio.CancelScope) -> None:
    """Cancel *scope* as soon as ``wait()`` returns: Go's ``close(done)`` after an event."""
    await wait()
    scope.cancel()


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
