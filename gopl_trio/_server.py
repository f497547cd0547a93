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
import gc
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import NoReturn

import trio

from gopl_trio import _run
from gopl_trio._cancel import cancel_when, wait_for_interrupt
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
    scopes inside it, and a client that hangs up ends it with an error instead. If a write
    was cut short by the cancellation, the goodbye starts on a new line.

    Most clients take the goodbye at once: it is written straight to the socket (the handler's
    tasks have ended, so nobody else is writing), without waiting or a task switch, which
    matters when a thousand handlers end together. Otherwise
    it goes through *writer* (default: *conn*), and within the deadline we wait until the
    kernel has sent all of it, because closing a socket that holds unread input makes the
    kernel reset the connection and throw away what it has not yet sent. What the client
    has received it keeps (it reads the goodbye, then the reset), so we need not read that
    input first.
    """
    try:
        yield
    except* trio.Cancelled:  # bare, or in a group from a nursery inside the handler
        fresh_line = isinstance(writer, LockedSendStream) and writer.interrupted
        goodbye = ("\n" if fresh_line else "") + GOODBYE + "\n"
        rest = _write_now(conn, goodbye.encode())
        if rest or _unsent(conn):
            in_time = trio.CancelScope(shield=True, deadline=goodbye_deadline())
            with in_time, contextlib.suppress(*PEER_GONE, trio.BusyResourceError):
                if rest:
                    await (conn if writer is None else writer).send_all(rest)
                await _until_sent(conn)
        raise


def _write_now(conn: trio.abc.Stream, data: bytes) -> bytes:
    """Write *data* to *conn*'s socket if it can take it without waiting; return the rest."""
    if not isinstance(conn, trio.SocketStream):
        return data
    try:
        return data[os.write(conn.socket.fileno(), data) :]  # trio's sockets never block
    except BlockingIOError:
        return data
    except OSError:
        return b""  # reset or closed: nobody to tell


def _unsent(conn: trio.abc.Stream) -> int:
    """Bytes written to *conn*'s socket that the kernel has not yet sent (SIOCOUTQNSD)."""
    if not isinstance(conn, trio.SocketStream):
        return 0
    try:
        unsent = fcntl.ioctl(conn.socket.fileno(), _SIOCOUTQNSD, b"\0\0\0\0")
    except OSError:
        return 0
    return int.from_bytes(unsent, sys.byteorder)


_SIOCOUTQNSD = 0x894B  # linux/sockios.h; Python's termios lacks it


async def _until_sent(conn: trio.abc.Stream) -> None:
    if not isinstance(conn, trio.SocketStream) or not _unsent(conn):
        return
    # With TCP_NOTSENT_LOWAT 1 the kernel reports the socket writable only once it has sent
    # everything (or the connection failed): one wake-up, however slowly the client reads.
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 1)
    await conn.wait_send_all_might_not_block()


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
            # Unwinding a thousand handlers makes garbage enough for dozens of collections,
            # which would delay the goodbyes and the exit; the process ends in a moment.
            gc.disable()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_when, interrupted, nursery.cancel_scope)
            await serve(listener)
            nursery.cancel_scope.cancel()  # serve returned by itself: stop waiting for Ctrl-C
        return 0

    _run.run_then_exit(prog, main, fatal=FATAL, describe=describe)
