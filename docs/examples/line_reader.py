"""bufio.Scanner over a trio stream: a line reader built on the public API only.

    scanner := bufio.NewScanner(conn)
    for scanner.Scan() { use(scanner.Text()) }
    if err := scanner.Err(); err != nil { ... }       // e.g. bufio.ErrTooLong

trio streams deliver bytes in whatever pieces arrived (`receive_some`); lines are ours to
cut. This reader is a class with `__anext__`, not an async generator (an async generator
suspended inside a cancel scope or nursery is a trap: PEP 789, trio's `as_safe_channel`).
A cancelled `receive_line` loses nothing: the buffer is only consumed after the last
checkpoint. One task reads at a time. Guide: "bufio.Scanner".
"""

import trio
import trio.testing


class LineTooLong(Exception):
    """bufio.ErrTooLong: a line longer than max_line without a newline."""


class LineReader:
    def __init__(self, stream: trio.abc.ReceiveStream, max_line: int = 64 * 1024) -> None:
        self._stream = stream
        self._max_line = max_line
        self._buffer = bytearray()
        self._searched = 0  # bytes of the buffer already known to hold no newline
        self._eof = False

    async def receive_line(self) -> str | None:
        """The next line without its `\\n` (and `\\r`), or None at the end of the stream."""
        while True:
            end = self._buffer.find(b"\n", self._searched)
            if end >= 0 or self._eof:
                await trio.lowlevel.checkpoint()  # every call checkpoints, even from the buffer
                return self._take(end)
            self._searched = len(self._buffer)
            if self._searched > self._max_line:
                raise LineTooLong(f"line longer than {self._max_line} bytes")
            data = await self._stream.receive_some()
            if data:
                self._buffer += data
            else:
                self._eof = True

    def _take(self, end: int) -> str | None:
        if end < 0:  # end of stream: a last line without a newline, or nothing
            if not self._buffer:
                return None
            end = len(self._buffer)
        line = bytes(self._buffer[:end]).removesuffix(b"\r")
        del self._buffer[: end + 1]
        self._searched = 0
        return line.decode("utf-8", errors="replace")  # Go keeps invalid bytes as they are

    def __aiter__(self) -> "LineReader":
        return self

    async def __anext__(self) -> str:
        line = await self.receive_line()
        if line is None:
            raise StopAsyncIteration
        return line


async def main() -> None:
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(b"first\r\nsec")
    await client.send_all(b"ond\n\nlast without newline")
    await client.send_eof()
    assert [line async for line in LineReader(server)] == [
        "first",
        "second",
        "",
        "last without newline",
    ]

    # Cancelled half-way through a line: nothing is lost.
    client, server = trio.testing.memory_stream_pair()
    reader = LineReader(server)
    await client.send_all(b"hal")
    with trio.move_on_after(1):
        await reader.receive_line()
    await client.send_all(b"f\n")
    assert await reader.receive_line() == "half"

    # A line beyond the limit is an error, as bufio.ErrTooLong.
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(b"x" * 100)
    try:
        await LineReader(server, max_line=64).receive_line()
    except LineTooLong:
        pass
    else:
        raise AssertionError("no LineTooLong")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
