"""Outgoing line queues for a server that sends every line to many connections (chat, §8.10).

The book's chat gives each client a channel and a writer goroutine: one wake-up per line per
client, which Go's scheduler makes cheap. A trio task switch costs several microseconds, and
at 1,000 clients and 200 lines a second that is 200,000 wake-ups a second: more than a core
(the plain form, a memory channel and a writer task per client, fell seconds behind in
`benchmarks/chat_load`). So here a line for a client goes into its `Outbox`, which never makes
the sender wait, and one task per server (`Outboxes.write_forever`) writes every outbox that
has something, without blocking, straight to its socket:

* no task switch per line or per client: one sweep over the outboxes that have lines;
* lines that arrive while a sweep is running wait for the next one, joined: under load a
  client costs one system call for several lines, so the server slows down gracefully;
* what a socket cannot take at once goes to the client's own writer task (the book's
  `clientWriter`, iterating over its outbox), which waits until the socket can take it;
* meanwhile the outbox is bounded (in lines and bytes): further lines are dropped and
  counted, and the client reads "(N messages dropped: ...)" where the gap is (exercise 8.15);
* `close(last_word)` replaces whatever is queued by one last line (the server's goodbye).
"""

from __future__ import annotations

import collections
import os
import socket

import trio

__all__ = ["Outbox", "Outboxes", "encode"]

# Bytes the writer task sends at once, at least one line: small, so that the server's goodbye,
# which replaces whatever is queued, waits behind little more than the kernel's buffers.
BATCH = 4 * 1024
KERNEL_BUFFER = 4 * 1024  # SO_SNDBUF asked for (Linux doubles it): see Outbox.__init__


def encode(line: str) -> bytes:
    """*line* as the bytes that go out: UTF-8 (U+FFFD for what cannot be), then a newline."""
    return (line + "\n").encode("utf-8", errors="replace")


class Outbox:
    """One connection's outgoing lines. `put` and `close` never wait.

    Sweeps write with `os.write` on the connection's own descriptor (trio's sockets are
    non-blocking; no `dup`, so a client costs one descriptor) and only while the writer task
    is idle, so their bytes never interleave with a `send_all`. Close the outbox before the
    connection: a closed outbox is never written again, and a closed descriptor's number may
    already belong to another client.
    """

    def __init__(self, owner: Outboxes, conn: trio.SocketStream, limit: int, limit_bytes: int):
        self._owner = owner
        # What a client has not taken waits here, where it is counted, bounded, dropped or
        # replaced by a goodbye, rather than in the kernel (which would hold up to 4 MiB).
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_BUFFER)
        self._fd = conn.socket.fileno()
        self._limit = limit
        self._limit_bytes = limit_bytes
        self._lines: collections.deque[bytes] = collections.deque()
        self._bytes = 0
        self._line_begun = False  # the first queued line is the rest of one partly written
        self.dropped = 0  # lines lost since the client last got one
        self._closed = False
        self._writer_busy = False  # the writer task has (or is sending) lines: leave them to it
        self._writer_wakeup = trio.Event()

    @property
    def queued_bytes(self) -> int:
        """Bytes held for this client right now (at most *limit_bytes*, plus a notice)."""
        return self._bytes

    def put(self, line: str | bytes) -> None:
        """Queue *line* (bytes: from `encode`, once for many outboxes); drop it if full."""
        data = encode(line) if isinstance(line, str) else line
        if self._closed:
            return
        if len(self._lines) >= self._limit or self._bytes + len(data) > self._limit_bytes:
            self.dropped += 1
            return
        if self.dropped:  # the notice goes where the gap is
            self._say_dropped()
        self._append(data)

    def _say_dropped(self) -> None:
        self._append(encode(f"({self.dropped} messages dropped: you are reading too slowly)"))
        self.dropped = 0

    def close(self, last_word: str | None = None) -> None:
        """Take no more lines; with *last_word*, it replaces the lines still queued."""
        if last_word is not None:
            begun = self._lines[0] if self._line_begun else b""  # finish the line, though
            self._lines.clear()
            self._bytes = self.dropped = 0
            self._append(begun + encode(last_word))
            self._write_now()  # at once, if the socket can take it: no waiting for a sweep
        self._closed = True
        self._writer_busy = True  # the writer sends the rest with the flow control it has
        self._writer_wakeup.set()

    def _append(self, data: bytes) -> None:
        self._lines.append(data)
        self._bytes += len(data)
        if self._writer_busy:
            self._writer_wakeup.set()
        elif len(self._lines) == 1:  # the first since the last sweep
            self._owner._schedule(self)

    def _take(self, limit: int) -> bytes:
        taken = []
        size = 0
        while self._lines and size < limit:
            taken.append(self._lines.popleft())
            size += len(taken[-1])
        self._bytes -= size
        self._line_begun = False
        return b"".join(taken)

    def _write_now(self) -> None:
        """Write what is queued without blocking; hand what does not fit to the writer task."""
        if self._writer_busy or not self._lines:
            return
        data = self._lines.popleft() if len(self._lines) == 1 else b"".join(self._lines)
        self._lines.clear()
        self._bytes = 0
        try:
            sent = os.write(self._fd, data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # reset or closed: the connection's reader sees it too
        if sent < len(data):
            rest = data[sent:].split(b"\n")  # back into lines (the first may be a line's end)
            rest.pop()  # what follows the last newline: nothing
            self._lines.extend(line + b"\n" for line in rest)
            self._bytes = len(data) - sent
            self._line_begun = sent > 0 and data[sent - 1] != ord("\n")
            self._writer_busy = True
            self._writer_wakeup.set()

    def __aiter__(self) -> Outbox:
        return self

    async def __anext__(self) -> bytes:
        """For the writer task: the next lines the socket could not take at once, joined."""
        while not self._lines:
            if self.dropped:  # caught up: say what was lost
                self._say_dropped()
                break
            if self._closed:
                raise StopAsyncIteration
            self._writer_busy = False  # the sweeps write directly again
            await self._writer_wakeup.wait()
            self._writer_wakeup = trio.Event()
        self._writer_busy = True
        return self._take(BATCH)


class Outboxes:
    """The outboxes of one server, and the one task that writes them all."""

    def __init__(self) -> None:
        self._pending: set[Outbox] = set()  # outboxes with lines the sweep should write
        self._wakeup = trio.Event()

    def open(self, conn: trio.SocketStream, limit: int, limit_bytes: int) -> Outbox:
        return Outbox(self, conn, limit, limit_bytes)

    def _schedule(self, box: Outbox) -> None:
        if not self._pending:
            self._wakeup.set()
        self._pending.add(box)

    async def write_forever(self) -> None:
        """Sweep: write every outbox that has lines; then wait for more lines."""
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            pending, self._pending = self._pending, set()
            for box in pending:
                box._write_now()
