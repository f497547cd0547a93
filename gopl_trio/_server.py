"""A TCP server's life: listen, serve until Ctrl-C, tell every client goodbye, exit.

The book's servers run until they are killed, and their goroutines die with them mid-write.
Ours stop on Ctrl-C (or SIGTERM) by cancelling the server's nursery: every handler is
cancelled, and each one that uses `goodbye_on_shutdown` sends `Server shutting down` to its
client first. The goodbye is shielded from the cancellation but bounded by one deadline for
the whole server -- GOODBYE_GRACE seconds after the signal -- so a client that reads nothing
cannot delay the exit, and a thousand handlers do not add up their graces.

`run` is the whole `main` of a server::

    def main(argv=None):
        args = _tcp.parse_args(PROG, "...", argv)
        _server.run(PROG, args.host, args.port, serve)  # serve(listener) accepts forever

It prints `PROG: listening on 127.0.0.1:8000` on stderr, exits 0 after Ctrl-C, and turns
"address in use" into one stderr line and exit status 1.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import termios
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import NoReturn

import trio

from gopl_trio import _run
from gopl_trio._cancel import cancel_when, wait_for_interrupt
from gopl_trio._lines import send_line
from gopl_trio._tcp import FATAL, PEER_GONE, Listener, LockedSendStream, describe, open_listener

__all__ = ["GOODBYE", "GOODBYE_GRACE", "goodbye_deadline", "goodbye_on_shutdown", "run"]

GOODBYE = "Server shutting down"
# Seconds after the signal in which clients can take their goodbye. Tests of the real
# programs on a loaded machine may lengthen it (the environment variable below).
GOODBYE_GRACE = float(os.environ.get("GOPL_TRIO_GOODBYE_GRACE", "0.15"))

Serve = Callable[[Listener[trio.SocketStream]], Awaitable[None]]


class _Shutdown:
    """When the server was told to stop; shared by every task the server starts."""

    def __init__(self) -> None:
        self.signalled_at: float | None = None


_shutdown: ContextVar[_Shutdown | None] = ContextVar("gopl_trio_shutdown", default=None)


def goodbye_deadline() -> float:
    """The moment by which goodbyes must be sent: GOODBYE_GRACE after the signal.

    Outside `run` (a test that cancels the server itself) the grace starts now.
    """
    shutdown = _shutdown.get()
    if shutdown is None or shutdown.signalled_at is None:
        return trio.current_time() + GOODBYE_GRACE
    return shutdown.signalled_at + GOODBYE_GRACE


@contextlib.asynccontextmanager
async def goodbye_on_shutdown(
    conn: trio.abc.Stream, writer: trio.abc.SendStream | None = None
) -> AsyncIterator[None]:
    """Tell the client `Server shutting down` if the handler is cancelled from outside.

    A handler is cancelled from outside only when the server stops: its own timeouts are
    scopes inside it, and a client that hangs up ends it with an error instead. The goodbye
    goes through *writer* (default: *conn*); if a write was cut short by the cancellation, it
    starts on a new line. Then we close our half and read what the client sent that nobody
    read, within the same deadline: closing a socket that still holds unread input makes the
    kernel reset the connection and throw away what it had not yet sent -- the goodbye
    included.
    """
    try:
        yield
    except* trio.Cancelled:  # bare, or in a group from a nursery inside the handler
        writer = conn if writer is None else writer
        with trio.CancelScope(shield=True, deadline=goodbye_deadline()):
            fresh_line = isinstance(writer, LockedSendStream) and writer.interrupted
            with contextlib.suppress(*PEER_GONE, trio.BusyResourceError):
                await send_line(writer, "\n" + GOODBYE if fresh_line else GOODBYE)
                if isinstance(conn, trio.abc.HalfCloseableStream):
                    await conn.send_eof()
                while _unread(conn):
                    await conn.receive_some(_DISCARD)
        raise


_DISCARD = 64 * 1024


def _unread(conn: trio.abc.Stream) -> int:
    """Bytes received on *conn*'s socket that nobody has read yet (FIONREAD)."""
    if not isinstance(conn, trio.SocketStream):
        return 0
    try:
        pending = fcntl.ioctl(conn.socket.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int.from_bytes(pending, sys.byteorder)


def run(prog: str, host: str, port: int, serve: Serve) -> NoReturn:
    """Listen on host:port, run `serve(listener)` until Ctrl-C or SIGTERM, then exit 0.

    A port in use is `PROG: listen tcp HOST:PORT: Address already in use` and status 1.
    The process ends with `os._exit` once every handler has finished (see `_run`), so the
    exit follows the last goodbye within milliseconds.
    """

    async def main() -> int:
        listener = await open_listener(host, port, prog)
        print(f"{prog}: listening on {listener.address}", file=sys.stderr, flush=True)
        shutdown = _Shutdown()
        _shutdown.set(shutdown)  # before the nursery: every task it starts inherits it

        async def interrupted() -> None:
            await wait_for_interrupt()
            shutdown.signalled_at = trio.current_time()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_when, interrupted, nursery.cancel_scope)
            await serve(listener)
            nursery.cancel_scope.cancel()  # serve returned by itself: stop waiting for Ctrl-C
        return 0

    _run.run_then_exit(prog, main, fatal=FATAL, describe=describe)
