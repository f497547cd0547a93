"""Tests for gopl_trio._net: line reading, argument parsing, errors, stdio streams."""

from __future__ import annotations

import os
import socket

import pytest
import trio
import trio.testing

from gopl_trio import _net
from gopl_trio._stdio import StdinStream, StdoutStream


class ChunkStream(trio.abc.ReceiveStream):
    """Yields the given chunks one per receive_some, then EOF; checks the reader's memory."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = iter(chunks)
        self.reader: _net.LineReader | None = None
        self.peak = 0

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        if self.reader is not None:
            self.peak = max(self.peak, self.reader.buffered)
        return next(self.chunks, b"")

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def read_all(reader: _net.LineReader) -> list[_net.Line]:
    lines = []
    while (line := await reader.receive_line()) is not None:
        lines.append(line)
    return lines


async def test_lines_split_across_chunks_and_crlf() -> None:
    stream = ChunkStream([b"hel", b"lo\r\nwor", b"ld\n\n", b"last without newline"])
    lines = await read_all(_net.LineReader(stream))
    assert lines == [
        _net.Line("hello", False),
        _net.Line("world", False),
        _net.Line("", False),
        _net.Line("last without newline", False),
    ]


async def test_receive_line_is_a_checkpoint_even_when_a_line_is_buffered() -> None:
    # Otherwise a reader looping over a packet of 30,000 short lines never lets others run.
    reader = _net.LineReader(ChunkStream([b"a\nb\n"]))
    assert await reader.receive_line() == _net.Line("a", False)
    with trio.testing.assert_checkpoints():
        assert await reader.receive_line() == _net.Line("b", False)


async def test_invalid_utf8_is_replaced_not_fatal() -> None:
    lines = await read_all(_net.LineReader(ChunkStream([b"caf\xc3\xa9 \xff\xfe\x00ok\n"])))
    assert lines == [_net.Line("café \ufffd\ufffd\x00ok", False)]


async def test_ten_megabyte_line_is_cut_and_memory_stays_bounded() -> None:
    chunk = b"x" * 65536
    stream = ChunkStream([chunk] * 160 + [b"tail\nnext line\n"])  # 10 MiB, then a newline
    reader = _net.LineReader(stream, max_line=_net.MAX_LINE)
    stream.reader = reader
    lines = await read_all(reader)
    assert lines == [_net.Line("x" * _net.MAX_LINE, True), _net.Line("next line", False)]
    assert stream.peak <= 2 * _net.MAX_LINE


async def test_long_line_without_any_newline_is_cut_once() -> None:
    stream = ChunkStream([b"y" * 65536] * 32)  # 2 MiB, then EOF
    reader = _net.LineReader(stream, max_line=1000)
    stream.reader = reader
    lines = await read_all(reader)
    assert lines == [_net.Line("y" * 1000, True)]
    assert stream.peak <= 1000 + 65536
    assert reader.at_eof


async def test_reset_counts_as_end_of_input() -> None:
    class Broken(ChunkStream):
        async def receive_some(self, max_bytes: int | None = None) -> bytes:
            chunk = await super().receive_some(max_bytes)
            if not chunk:
                raise trio.BrokenResourceError("reset")
            return chunk

    lines = await read_all(_net.LineReader(Broken([b"a\nb"])))
    assert lines == [_net.Line("a", False), _net.Line("b", False)]


def test_parse_args_defaults_are_the_books() -> None:
    args = _net.parse_args("x", "d", [])
    assert (args.host, args.port) == ("localhost", 8000)


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_parse_args_rejects_bad_ports(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _net.parse_args("x", "d", ["--port", port])
    assert info.value.code == 2
    assert "--port" in capsys.readouterr().err


async def test_listen_on_a_port_in_use_is_one_clear_error() -> None:
    listener = await _net.open_listener("127.0.0.1", 0)
    port = listener.socket.getsockname()[1]
    async with listener:
        with pytest.raises(_net.NetError) as info:
            await _net.open_listener("127.0.0.1", port)
    assert str(info.value) == f"listen tcp 127.0.0.1:{port}: Address already in use"


async def test_dial_a_server_that_is_not_running() -> None:
    with socket.socket() as bound:  # holds the port, but does not listen: connect is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with pytest.raises(_net.NetError) as info:
            await _net.dial("127.0.0.1", port)
    assert str(info.value) == f"dial tcp 127.0.0.1:{port}: Connection refused"


def test_run_turns_errors_into_one_line_and_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    async def fails(stop: trio.Event) -> None:
        await trio.lowlevel.checkpoint()
        raise _net.NetError("dial tcp localhost:1: Connection refused")

    assert _net.run("prog", fails) == 1
    assert capsys.readouterr().err == "prog: dial tcp localhost:1: Connection refused\n"


def test_run_reports_a_reset_connection(capsys: pytest.CaptureFixture[str]) -> None:
    async def reset(stop: trio.Event) -> None:
        await trio.lowlevel.checkpoint()
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except OSError as exc:
            raise trio.BrokenResourceError from exc

    assert _net.run("prog", reset) == 1
    assert capsys.readouterr().err == "prog: Connection reset by peer\n"


def test_run_returns_0_when_main_finishes() -> None:
    async def fine(stop: trio.Event) -> None:
        await trio.lowlevel.checkpoint()

    assert _net.run("prog", fine) == 0


async def test_locked_stream_keeps_concurrent_writes_whole() -> None:
    send, receive = trio.testing.memory_stream_one_way_pair()
    # A bare trio stream refuses two writers at once (Go's net.Conn would allow it) ...
    with pytest.RaisesGroup(trio.BusyResourceError):
        async with trio.open_nursery() as nursery:
            for _ in range(2):
                nursery.start_soon(send.send_all, b"x" * 10)
    # ... so tasks that share one connection go through a lock.
    send, receive = trio.testing.memory_stream_one_way_pair()
    locked = _net.LockedSendStream(send)
    async with trio.open_nursery() as nursery:
        for text in (b"aaaa\n", b"bbbb\n", b"cccc\n"):
            nursery.start_soon(locked.send_all, text)
    data = b""
    while len(data) < 15:
        data += await receive.receive_some()
    assert sorted(data.splitlines()) == [b"aaaa", b"bbbb", b"cccc"]


async def test_stdio_streams_over_pipes() -> None:
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        os.write(in_w, b"to stdin\n")
        os.close(in_w)
        in_w = -1
        stdin = StdinStream(in_r)
        stdout = StdoutStream(out_w)
        copied = await _net.copy(stdout, stdin)
        assert copied == 9
        assert os.read(out_r, 100) == b"to stdin\n"
    finally:
        for fd in (in_r, in_w, out_r, out_w):
            if fd >= 0:
                os.close(fd)


async def test_stdin_from_dev_null_is_empty() -> None:
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        assert await StdinStream(fd).receive_some() == b""
    finally:
        os.close(fd)


async def test_bound_address_brackets_ipv6_as_go_does() -> None:
    try:
        listener = await _net.open_listener("::1", 0)
    except _net.NetError:
        pytest.skip("no IPv6 loopback here")
    async with listener:
        port = listener.socket.getsockname()[1]
        assert _net.bound_address(listener) == f"[::1]:{port}"
    listener = await _net.open_listener("127.0.0.1", 0)
    async with listener:
        assert _net.bound_address(listener) == f"127.0.0.1:{listener.socket.getsockname()[1]}"
