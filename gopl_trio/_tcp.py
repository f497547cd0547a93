"""TCP the way the book's programs use it: listen, accept, dial, names, errors, `io.Copy`.

Go's `net` package and trio spell these differently:

* `net.Listen("tcp", host:port)` is `open_listener`, which binds one address as Go does
  (trio binds every address the name resolves to) and returns a `Listener` whose `accept`
  outlasts a full descriptor table (see there).
* `net.Dial` is `dial`; `conn.RemoteAddr().String()` is `peer_name`, in Go's `[::1]:8000` form.
* `log.Fatal(err)` on "address in use" or "connection refused" is a `NetError` (or any
  exception in `FATAL`) that reaches `gopl_trio._run.run(..., fatal=FATAL, describe=describe)`:
  one stderr line `PROG: cause` and exit status 1.
* `io.Copy(dst, src)` is `copy`; several goroutines writing to one `net.Conn` share a
  `LockedSendStream`.
"""

from __future__ import annotations

import argparse
import errno
import math
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

import trio

from gopl_trio import _args

__all__ = [
    "FATAL",
    "PEER_GONE",
    "Listener",
    "LockedSendStream",
    "NetError",
    "copy",
    "describe",
    "dial",
    "open_listener",
    "parse_args",
    "peer_name",
]

_CHUNK = 64 * 1024

# Errors that mean "the peer went away" (reset, half-open, closed): end that connection quietly.
PEER_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)


class NetError(Exception):
    """A failure worth one stderr line: `listen tcp localhost:8000: Address already in use`."""


# What ends a program with one stderr line and status 1, as `log.Fatal` does in the book.
FATAL: tuple[type[BaseException], ...] = (NetError, OSError, *PEER_GONE)


def describe(exc: BaseException) -> str:
    """The cause of a network error in a few words: "Connection refused"."""
    while True:
        if isinstance(exc, BaseExceptionGroup):  # trio lists each address it tried
            exc = exc.exceptions[0]
        elif isinstance(exc, NetError):
            return str(exc)
        elif isinstance(exc, OSError) and exc.strerror:
            return exc.strerror.rpartition(": ")[2]  # trio prefixes "Error connecting to ..."
        elif exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            return str(exc) or type(exc).__name__


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
        "--port", type=_args.port, default=8000, help="TCP port, 0 = any free port (default: 8000)"
    )
    if add_arguments is not None:
        add_arguments(parser)
    return parser.parse_args(argv)


# --- listening and accepting ---------------------------------------------------------------

S = TypeVar("S", bound=trio.abc.AsyncResource)

# Out of descriptors (per process or system-wide) or kernel memory: this passes when other
# connections close, so wait a moment and accept again instead of failing.
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
ACCEPT_PAUSE = 0.01  # seconds between attempts while out of descriptors
REPORT_EVERY = 1.0  # seconds; at most one "accept: Too many open files" line per interval


class Listener(trio.abc.Listener[S]):
    """A listener whose `accept` waits out a full descriptor table instead of failing.

    The book's accept loop logs any error and continues, which turns EMFILE into a busy loop
    that prints as fast as it can. Here `accept` keeps trying every ACCEPT_PAUSE seconds, so a
    client waiting in the kernel's queue is served as soon as a descriptor is free, and it
    prints one line per REPORT_EVERY seconds at most, with the number of failed attempts.
    Other errors are raised.
    """

    def __init__(self, listener: trio.abc.Listener[S], prog: str, address: str = "") -> None:
        self.inner = listener
        self.prog = prog
        self.address = address  # as Go prints it: 127.0.0.1:8000, [::1]:8000
        self._failures = 0  # failed attempts not yet reported
        self._reported_at = -math.inf

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2] or 0)

    async def accept(self) -> S:
        while True:
            try:
                return await self.inner.accept()
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                self._report(exc)
            await trio.sleep(ACCEPT_PAUSE)

    def _report(self, exc: OSError) -> None:
        self._failures += 1
        now = trio.current_time()
        if now - self._reported_at < REPORT_EVERY:
            return
        window = now - self._reported_at
        since = f" in the last {window:.1f} s" if window < 10 * REPORT_EVERY else ""
        times = "time" if self._failures == 1 else "times"
        print(
            f"{self.prog}: accept: {exc.strerror} ({self._failures} {times}{since}); retrying",
            file=sys.stderr,
            flush=True,
        )
        self._failures = 0
        self._reported_at = now

    async def aclose(self) -> None:
        await self.inner.aclose()


async def open_listener(host: str, port: int, prog: str) -> Listener[trio.SocketStream]:
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
    first = listeners[0]
    return Listener(first, prog, _go_address(first.socket.getsockname()))


def peer_name(stream: trio.SocketStream) -> str:
    """`conn.RemoteAddr().String()`: host:port of the other end."""
    try:
        return _go_address(stream.socket.getpeername())
    except OSError:
        return "unknown"


def _go_address(sockname: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = sockname[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # as Go writes [::1]:8000


async def dial(host: str, port: int) -> trio.SocketStream:
    """`net.Dial("tcp", host:port)` with Go's style of error message."""
    try:
        return await trio.open_tcp_stream(host, port)
    except OSError as exc:
        raise NetError(f"dial tcp {host}:{port}: {describe(exc)}") from exc


# --- moving bytes ------------------------------------------------------------------------


async def copy(dst: trio.abc.SendStream, src: trio.abc.ReceiveStream) -> int:
    """`io.Copy(dst, src)`: copy until end of *src*; return the number of bytes copied."""
    total = 0
    while data := await src.receive_some(_CHUNK):
        await dst.send_all(data)
        total += len(data)
    return total


class LockedSendStream(trio.abc.SendStream):
    """A send stream several tasks may write to at once, each write kept whole.

    Go's `net.Conn` allows concurrent `Write` calls; a trio stream raises
    `trio.BusyResourceError` instead, so tasks that share one connection share a lock.

    With a finite *stall_timeout*, a write that makes no progress for that many seconds (the
    peer reads nothing) raises `trio.TooSlowError`. `interrupted` is true after a write was
    cut short (cancelled or failed), so that a last word can start on a fresh line.
    """

    def __init__(self, stream: trio.abc.SendStream, stall_timeout: float = math.inf) -> None:
        self._stream = stream
        self._lock = trio.StrictFIFOLock()
        self._stall_timeout = stall_timeout
        self.interrupted = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        async with self._lock:
            self.interrupted = True
            if self._stall_timeout == math.inf:
                await self._stream.send_all(data)
            else:
                view = memoryview(data)
                for start in range(0, len(view), _STALL_CHUNK):
                    with trio.fail_after(self._stall_timeout):
                        await self._stream.send_all(view[start : start + _STALL_CHUNK])
            self.interrupted = False

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._stream.aclose()


_STALL_CHUNK = 16 * 1024  # progress is checked once per this many bytes
