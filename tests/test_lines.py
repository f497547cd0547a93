"""Tests for gopl_trio._lines: Go's bufio.Scanner and fmt.Fprintln over trio streams."""

from __future__ import annotations

import trio
import trio.testing

from gopl_trio import _lines


class ChunkStream(trio.abc.ReceiveStream):
    """Yields the given chunks one per receive_some, then EOF; checks the reader's memory."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = iter(chunks)
        self.reader: _lines.LineReader | None = None
        self.peak = 0

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        if self.reader is not None:
            self.peak = max(self.peak, self.reader.buffered)
        return next(self.chunks, b"")

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def read_all(reader: _lines.LineReader) -> list[_lines.Line]:
    lines = []
    while (line := await reader.receive_line()) is not None:
        lines.append(line)
    return lines


async def test_lines_split_across_chunks_and_crlf() -> None:
    stream = ChunkStream([b"hel", b"lo\r\nwor", b"ld\n\n", b"last without newline"])
    lines = await read_all(_lines.LineReader(stream))
    assert lines == [
        _lines.Line("hello", False),
        _lines.Line("world", False),
        _lines.Line("", False),
        _lines.Line("last without newline", False),
    ]


async def test_receive_line_is_a_checkpoint_even_when_a_line_is_buffered() -> None:
    # Otherwise a reader looping over a packet of 30,000 short lines never lets others run.
    reader = _lines.LineReader(ChunkStream([b"a\nb\n"]))
    assert await reader.receive_line() == _lines.Line("a", False)
    with trio.testing.assert_checkpoints():
        assert await reader.receive_line() == _lines.Line("b", False)


async def test_invalid_utf8_is_replaced_not_fatal() -> None:
    lines = await read_all(_lines.LineReader(ChunkStream([b"caf\xc3\xa9 \xff\xfe\x00ok\n"])))
    assert lines == [_lines.Line("café \ufffd\ufffd\x00ok", False)]


async def test_ten_megabyte_line_is_cut_and_memory_stays_bounded() -> None:
    chunk = b"x" * 65536
    stream = ChunkStream([chunk] * 160 + [b"tail\nnext line\n"])  # 10 MiB, then a newline
    reader = _lines.LineReader(stream, max_line=_lines.MAX_LINE)
    stream.reader = reader
    lines = await read_all(reader)
    assert lines == [_lines.Line("x" * _lines.MAX_LINE, True), _lines.Line("next line", False)]
    assert stream.peak <= 2 * _lines.MAX_LINE


async def test_long_line_without_any_newline_is_cut_once() -> None:
    stream = ChunkStream([b"y" * 65536] * 32)  # 2 MiB, then EOF
    reader = _lines.LineReader(stream, max_line=1000)
    stream.reader = reader
    lines = await read_all(reader)
    assert lines == [_lines.Line("y" * 1000, True)]
    assert stream.peak <= 1000 + 65536
    assert reader.at_eof


async def test_reset_counts_as_end_of_input() -> None:
    class Broken(ChunkStream):
        async def receive_some(self, max_bytes: int | None = None) -> bytes:
            chunk = await super().receive_some(max_bytes)
            if not chunk:
                raise trio.BrokenResourceError("reset")
            return chunk

    lines = await read_all(_lines.LineReader(Broken([b"a\nb"])))
    assert lines == [_lines.Line("a", False), _lines.Line("b", False)]
