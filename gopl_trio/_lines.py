"""Reading and writing text lines over a trio stream: Go's `bufio.Scanner` and `fmt.Fprintln`.

The book's servers read a connection with `bufio.NewScanner(conn)` and `input.Scan()`, and
answer with `fmt.Fprintln(conn, ...)`. trio has neither: a stream gives bytes in the chunks the
network delivered. `LineReader` is the Scanner with `ScanLines`, with two deliberate differences:

* **Bounded memory, no `ErrTooLong`.** Go's Scanner stops at a 64 KiB line and the book's loops
  then end the connection without a word. Here a longer line is cut to *max_line* bytes
  (`Line.cut` says so) and the rest of it is discarded as it arrives, so a 10 MB line -- or
  a stream with no newline at all -- costs at most *max_line* plus one read.
* **Bad bytes are not fatal.** Bytes that are not UTF-8 become U+FFFD (a Go string would keep
  them). `\\r\\n` loses its `\\r`, as with `ScanLines` (telnet sends `\\r\\n`).

It is a class with a method rather than an async generator: an async generator suspended
inside a cancel scope is a known trio trap. Usage::

    lines = LineReader(conn)
    while (line := await lines.receive_line()) is not None:
        await send_line(conn, line.text.upper())
"""

from __future__ import annotations

from typing import NamedTuple

import trio

__all__ = ["MAX_LINE", "Line", "LineReader", "send_line"]

MAX_LINE = 64 * 1024  # bytes, as bufio.MaxScanTokenSize; a longer line is cut
_CHUNK = 64 * 1024  # bytes asked for per read


class Line(NamedTuple):
    text: str  # decoded with replacement, without the line ending
    cut: bool  # the line was longer than the limit and its tail was thrown away


class LineReader:
    """`bufio.Scanner` with `ScanLines` over a trio stream, with bounded memory."""

    def __init__(self, stream: trio.abc.ReceiveStream, max_line: int = MAX_LINE) -> None:
        self._stream = stream
        self._max = max_line
        self._buf = bytearray()
        self._scanned = 0  # no newline in _buf[:_scanned]
        self._discarding = False  # inside the tail of a line already returned as cut
        self._eof = False

    @property
    def buffered(self) -> int:
        """Bytes held right now (never more than *max_line* plus one read)."""
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
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""  # reset or closed: the end, as the Scanner sees it
            if not data:
                self._eof = True
                self._discarding = False
            else:
                self._buf += data


def _line(raw: bytes, *, cut: bool) -> Line:
    if raw.endswith(b"\r"):  # ScanLines drops a \r before the \n too
        raw = raw[:-1]
    return Line(raw.decode("utf-8", errors="replace"), cut)


async def send_line(stream: trio.abc.SendStream, text: str) -> None:
    """`fmt.Fprintln(conn, text)`: *text* and a newline, as UTF-8."""
    await stream.send_all(text.encode("utf-8", errors="replace") + b"\n")
