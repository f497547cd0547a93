"""Line-oriented TCP helpers shared by clock, netcat, reverb and chat (§8.2-8.4, §8.10).

The book's programs lean on a few pieces of Go's standard library that trio spells
differently: `net.Listen` (here `open_listener`), `bufio.Scanner` (here `LineReader`, which
unlike the Scanner never grows without bound and never stops at bad bytes), `io.Copy` over
`os.Stdin`/`os.Stdout` (here `copy`, with the streams of `gopl_trio._stdio`), and `log.Fatal`
for "connection refused" or "address in use" (here `run`, which prints one stderr line and
exits 1).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import NamedTuple

import trio

from gopl_trio._args import port
from gopl_trio._cancel import wait_for_interrupt
from gopl_trio._run import INTERRUPTED
from gopl_trio._run import run as run_program

__all__ = [
    "GOODBYE",
    "MAX_LINE",
    "PEER_GONE",
    "Line",
    "LineReader",
    "LockedSendStream",
    "NetError",
    "accept",
    "bound_address",
    "copy",
    "describe",
    "dial",
    "goodbye_on_shutdown",
    "open_listener",
    "parse_args",
    "peer_name",
    "run",
    "send_line",
]

MAX_LINE = 64 * 1024  # bytes; a longer line is cut (or dropped by the caller)
_CHUNK = 64 * 1024

# Errors that mean "the peer went away" (reset, half-open, closed): end that connection quietly.
PEER_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)


# --- command line -------------------------------------------------------------------------


def parse_args(
    prog: str,
    description: str,
    argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """Parse `--host` and `--port` (the book's localhost:8000) plus any program flags."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="localhost", help="host (default: localhost)")
    parser.add_argument(
        "--port", type=port, default=8000, help="TCP port, 0 = any free port (default: 8000)"
    )
    if add_arguments is not None:
        add_arguments(parser)
    return parser.parse_args(argv)


# --- listening and accepting ---------------------------------------------------------------


async def open_listener(host: str, port: int) -> trio.SocketListener:
    """Bind one listening socket, like Go's `net.Listen("tcp", host:port)`.

    trio.open_tcp_listeners binds every address the name resolves to; with port 0 each would
    get a different port, so we keep the first one, as Go does.
    """
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise NetError(f"listen tcp {host}:{port}: {describe(exc)}") from exc
    for extra in listeners[1:]:
        await extra.aclose()
    return listeners[0]


def bound_address(listener: trio.SocketListener) -> str:
    host, port = listener.socket.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # as Go writes [::1]:8000


# Running out of descriptors or memory is temporary: wait a moment and accept again.
_ACCEPT_RETRY = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


async def accept(listener: trio.SocketListener, prog: str) -> trio.SocketStream:
    """Accept the next connection; like the book's loop, report an error and go on."""
    while True:
        try:
            return await listener.accept()
        except OSError as exc:
            if exc.errno not in _ACCEPT_RETRY:
                raise
            print(f"{prog}: accept: {exc.strerror}", file=sys.stderr)
            await trio.sleep(0.1)  # back off instead of spinning on a full descriptor table


def peer_name(stream: trio.SocketStream) -> str:
    """`conn.RemoteAddr().String()`: host:port of the other end."""
    try:
        host, port = stream.socket.getpeername()[:2]
    except OSError:
        return "unknown"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- reading and writing lines -------------------------------------------------------------


class Line(NamedTuple):
    text: str  # decoded with replacement, without the line ending
    cut: bool  # the line was longer than the limit and its tail was thrown away


class LineReader:
    """`bufio.Scanner` with `ScanLines` over a trio stream, with bounded memory.

    Go's Scanner stops with `bufio.ErrTooLong` at 64 KiB and the book's loops then treat the
    client as gone. Here a long line is cut to *max_line* bytes and the rest of it is
    discarded as it arrives, so a 10 MB line (or one with no newline at all) costs at most
    *max_line* plus one read of memory. Bytes that are not UTF-8 become U+FFFD.
    """

    def __init__(self, stream: trio.abc.ReceiveStream, max_line: int = MAX_LINE) -> None:
        self._stream = stream
        self._max = max_line
        self._buf = bytearray()
        self._scanned = 0  # no newline in _buf[:_scanned]
        self._discarding = False  # inside the tail of a line already returned as cut
        self._eof = False

    @property
    def buffered(self) -> int:
        """Bytes held right now (never much more than *max_line*)."""
        return len(self._buf)

    @property
    def at_eof(self) -> bool:
        """True once the stream has ended (or was reset)."""
        return self._eof

    async def receive_line(self) -> Line | None:
        """Return the next line, or None at end of stream (a reset counts as the end)."""
        # A checkpoint even when a line is already buffered, as every trio call has one: a client
        # that sends thousands of short lines in one packet must not hog the event loop.
        await trio.lowlevel.checkpoint()
        while True:
            end = self._buf.find(b"\n", self._scanned)
            if end >= 0:
                raw = bytes(self._buf[:end])
                del self._buf[: end + 1]
                self._scanned = 0
                if self._discarding:  # the end of a line we already cut: drop it
                    self._discarding = False
                    continue
                return _line(raw, cut=False)
            if self._discarding:
                self._buf.clear()
            elif len(self._buf) > self._max:
                raw = bytes(self._buf[: self._max])
                self._buf.clear()
                self._discarding = True
                self._scanned = 0
                return _line(raw, cut=True)
            self._scanned = len(self._buf)
            if self._eof:
                if self._buf:  # a last line without newline, as bufio.Scanner returns it
                    raw = bytes(self._buf)
                    self._buf.clear()
                    self._scanned = 0
                    return _line(raw, cut=False)
                return None
            try:
                data = await self._stream.receive_some(_CHUNK)
            except PEER_GONE:
                data = b""
            if not data:
                self._eof = True
                self._discarding = False
            else:
                self._buf += data


def _line(raw: bytes, *, cut: bool) -> Line:
    if raw.endswith(b"\r"):  # ScanLines drops a \r before the \n too (telnet sends \r\n)
        raw = raw[:-1]
    return Line(raw.decode("utf-8", errors="replace"), cut)


async def send_line(stream: trio.abc.SendStream, text: str) -> None:
    """`fmt.Fprintln(conn, text)`."""
    await stream.send_all(text.encode("utf-8", errors="replace") + b"\n")


class LockedSendStream(trio.abc.SendStream):
    """A send stream several tasks may write to at once, each write kept whole.

    Go's `net.Conn` allows concurrent `Write` calls; a trio stream raises
    `trio.BusyResourceError` instead, so tasks that share one connection share a lock.
    """

    def __init__(self, stream: trio.abc.SendStream) -> None:
        self._stream = stream
        self._lock = trio.StrictFIFOLock()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        async with self._lock:
            await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._stream.aclose()


GOODBYE = "Server shutting down"
GOODBYE_GRACE = 0.5  # seconds a departing server gives each client to take its goodbye


@contextlib.asynccontextmanager
async def goodbye_on_shutdown(conn: trio.abc.SendStream) -> AsyncIterator[None]:
    """Tell the client `Server shutting down` if the handler is cancelled from outside.

    A handler is cancelled from outside only when the server stops (Ctrl-C): its own
    timeouts are scopes inside it, and a client that hangs up ends it with an error instead.
    The goodbye is shielded but bounded, so a client that does not read cannot delay exit.
    """
    try:
        yield
    except* trio.Cancelled:  # bare, or in a group from a nursery inside the handler
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + GOODBYE_GRACE
            with contextlib.suppress(*PEER_GONE, trio.BusyResourceError):
                await send_line(conn, GOODBYE)
        raise


async def copy(dst: trio.abc.SendStream, src: trio.abc.ReceiveStream) -> int:
    """`io.Copy(dst, src)`: copy until end of *src*; return the number of bytes copied."""
    total = 0
    while data := await src.receive_some(_CHUNK):
        await dst.send_all(data)
        total += len(data)
    return total


# --- running a program ---------------------------------------------------------------------


class NetError(Exception):
    """A failure worth one stderr line: `listen tcp localhost:8000: Address already in use`."""


async def dial(host: str, port: int) -> trio.SocketStream:
    """`net.Dial("tcp", host:port)` with Go's style of error message."""
    try:
        return await trio.open_tcp_stream(host, port)
    except OSError as exc:
        raise NetError(f"dial tcp {host}:{port}: {describe(exc)}") from exc


def describe(exc: BaseException) -> str:
    """The cause of a network error in a few words: "Connection refused"."""
    while True:
        if isinstance(exc, BaseExceptionGroup):  # trio lists each address it tried
            exc = exc.exceptions[0]
        elif isinstance(exc, OSError) and exc.strerror:
            return exc.strerror.rpartition(": ")[2]  # trio prefixes "Error connecting to ..."
        elif exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            return str(exc) or type(exc).__name__


def run(
    prog: str,
    main: Callable[[trio.Event], Awaitable[object]],
    *,
    grace: float = 0.0,
    interrupted_status: int = 130,
) -> int:
    """Run `main(stop)` under trio, with the book's `log.Fatal` turned into one stderr line.

    On Ctrl-C (or SIGTERM) *stop* is set; *main* then has *grace* seconds to finish by itself
    (a server tells its clients goodbye) before it is cancelled, and the exit status is
    *interrupted_status* (0 for a server, whose normal end this is; 130 for a client).
    A second Ctrl-C cancels at once. `NetError`, `OSError` and a connection reset end the
    program with `PROG: cause` and status 1, no traceback.
    """

    async def guarded() -> bool:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:

            async def watch_signals() -> None:
                await wait_for_interrupt()
                stop.set()
                with trio.move_on_after(grace):
                    await wait_for_interrupt()
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_signals)
            await main(stop)
            nursery.cancel_scope.cancel()
        return stop.is_set()

    try:
        interrupted = run_program(
            prog, guarded, fatal=(NetError, OSError, *PEER_GONE), describe=_fatal_cause
        )
    except SystemExit as exit:  # Ctrl-C before the signal watcher was installed, say
        return interrupted_status if exit.code == INTERRUPTED else int(exit.code or 0)
    return interrupted_status if interrupted else 0


def _fatal_cause(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, NetError) else describe(exc)
