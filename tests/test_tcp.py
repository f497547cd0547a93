"""Tests for gopl_trio._tcp: arguments, listening, accepting, dialling, errors, copying."""

from __future__ import annotations

import errno
import math
import os
import socket

import pytest
import trio
import trio.testing

from gopl_trio import _run, _tcp
from gopl_trio._stdio import StdinStream, StdoutStream


def test_parse_args_defaults_are_the_books() -> None:
    args = _tcp.parse_args("x", "d", [])
    assert (args.host, args.port) == ("localhost", 8000)


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_parse_args_rejects_bad_ports(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _tcp.parse_args("x", "d", ["--port", port])
    assert info.value.code == 2
    assert "--port" in capsys.readouterr().err


async def test_listen_on_a_port_in_use_is_one_clear_error() -> None:
    listener = await _tcp.open_listener("127.0.0.1", 0, "x")
    port = listener.port
    async with listener:
        with pytest.raises(_tcp.NetError) as info:
            await _tcp.open_listener("127.0.0.1", port, "x")
    assert str(info.value) == f"listen tcp 127.0.0.1:{port}: Address already in use"


async def test_dial_a_server_that_is_not_running() -> None:
    with socket.socket() as bound:  # holds the port, but does not listen: connect is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with pytest.raises(_tcp.NetError) as info:
            await _tcp.dial("127.0.0.1", port)
    assert str(info.value) == f"dial tcp 127.0.0.1:{port}: Connection refused"


async def test_listener_address_brackets_ipv6_as_go_does() -> None:
    try:
        listener = await _tcp.open_listener("::1", 0, "x")
    except _tcp.NetError:
        pytest.skip("no IPv6 loopback here")
    async with listener:
        port = listener.port
        assert listener.address == f"[::1]:{port}"
    listener = await _tcp.open_listener("127.0.0.1", 0, "x")
    async with listener:
        assert listener.address == f"127.0.0.1:{listener.port}"


async def test_peer_name_is_host_colon_port() -> None:
    async with await _tcp.open_listener("127.0.0.1", 0, "x") as listener:
        client = await _tcp.dial("127.0.0.1", listener.port)
        async with client, await listener.accept() as conn:
            assert _tcp.peer_name(conn) == f"127.0.0.1:{client.socket.getsockname()[1]}"


# --- the book's log.Fatal: one line, status 1 (through the shared runner) --------------------


def run_fatal(main: object, capsys: pytest.CaptureFixture[str]) -> tuple[object, str]:
    with pytest.raises(SystemExit) as exit:
        _run.run("prog", main, fatal=_tcp.FATAL, describe=_tcp.describe)  # type: ignore[arg-type]
    return exit.value.code, capsys.readouterr().err


def test_run_turns_errors_into_one_line_and_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    async def fails() -> None:
        await trio.lowlevel.checkpoint()
        raise _tcp.NetError("dial tcp localhost:1: Connection refused")

    assert run_fatal(fails, capsys) == (1, "prog: dial tcp localhost:1: Connection refused\n")


def test_run_reports_a_reset_connection(capsys: pytest.CaptureFixture[str]) -> None:
    async def reset() -> None:
        await trio.lowlevel.checkpoint()
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except OSError as exc:
            raise trio.BrokenResourceError from exc

    assert run_fatal(reset, capsys) == (1, "prog: Connection reset by peer\n")


def test_run_returns_when_main_finishes() -> None:
    async def fine() -> None:
        await trio.lowlevel.checkpoint()

    assert _run.run("prog", fine, fatal=_tcp.FATAL, describe=_tcp.describe) is None


# --- accept when the descriptors run out --------------------------------------------------


class ExhaustedListener(trio.abc.Listener[trio.abc.Stream]):
    """Fails with *error* until *until* on the (virtual) clock, then accepts memory streams."""

    def __init__(self, until: float, error: int = errno.EMFILE) -> None:
        self.until = until
        self.error = error
        self.attempts = 0

    async def accept(self) -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        self.attempts += 1
        if trio.current_time() < self.until:
            raise OSError(self.error, os.strerror(self.error))
        return trio.testing.memory_stream_pair()[1]

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_accept_waits_out_exhaustion_and_reports_once_a_second(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    inner = ExhaustedListener(until=3.5)
    listener = _tcp.Listener(inner, "prog")
    async with listener:
        conn = await listener.accept()
    # Served as soon as the condition passed, not at the next report ...
    assert 3.5 <= trio.current_time() <= 3.5 + _tcp.ACCEPT_PAUSE
    await conn.aclose()
    # ... trying every ACCEPT_PAUSE seconds, and saying so at 0, 1, 2 and 3 s, with counts.
    assert inner.attempts == pytest.approx(3.5 / _tcp.ACCEPT_PAUSE, abs=2)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "prog: accept: Too many open files (1 time); retrying"
    assert len(lines) == 4
    for line in lines[1:]:
        assert line.startswith("prog: accept: Too many open files (")
        assert line.endswith(" times in the last 1.0 s); retrying")
        count = int(line.split("(")[1].split()[0])
        assert count == pytest.approx(1 / _tcp.ACCEPT_PAUSE, abs=2)


@pytest.mark.parametrize("error", [errno.ENFILE, errno.ENOBUFS, errno.ENOMEM])
async def test_accept_waits_out_other_shortages(
    error: int, autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    async with _tcp.Listener(ExhaustedListener(until=0.5, error=error), "prog") as listener:
        await (await listener.accept()).aclose()
    assert capsys.readouterr().err == f"prog: accept: {os.strerror(error)} (1 time); retrying\n"


async def test_accept_raises_other_errors() -> None:
    async with _tcp.Listener(
        ExhaustedListener(until=math.inf, error=errno.EBADF), "prog"
    ) as listener:
        with pytest.raises(OSError, match="Bad file descriptor"):
            await listener.accept()


# --- moving bytes ------------------------------------------------------------------------


async def test_locked_stream_keeps_concurrent_writes_whole() -> None:
    send, receive = trio.testing.memory_stream_one_way_pair()
    # A bare trio stream refuses two writers at once (Go's net.Conn would allow it) ...
    with pytest.RaisesGroup(trio.BusyResourceError):
        async with trio.open_nursery() as nursery:
            for _ in range(2):
                nursery.start_soon(send.send_all, b"x" * 10)
    # ... so tasks that share one connection go through a lock.
    send, receive = trio.testing.memory_stream_one_way_pair()
    locked = _tcp.LockedSendStream(send)
    async with trio.open_nursery() as nursery:
        for text in (b"aaaa\n", b"bbbb\n", b"cccc\n"):
            nursery.start_soon(locked.send_all, text)
    data = b""
    while len(data) < 15:
        data += await receive.receive_some()
    assert sorted(data.splitlines()) == [b"aaaa", b"bbbb", b"cccc"]


async def test_locked_stream_gives_up_on_a_peer_that_takes_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, receive = trio.testing.lockstep_stream_pair()
    locked = _tcp.LockedSendStream(send, stall_timeout=5)
    async with trio.open_nursery() as nursery:

        async def slow_reader() -> None:  # one byte a second: slow, but never stalled for 5 s
            for _ in range(3):
                await trio.sleep(1)
                await receive.receive_some(1)

        nursery.start_soon(slow_reader)
        await locked.send_all(b"abc")
    assert not locked.interrupted
    start = trio.current_time()
    with pytest.raises(trio.TooSlowError):
        await locked.send_all(b"nobody reads this")
    assert trio.current_time() - start == 5
    assert locked.interrupted  # a last word must start on a new line


async def test_stdio_streams_over_pipes() -> None:
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        os.write(in_w, b"to stdin\n")
        os.close(in_w)
        in_w = -1
        stdin = StdinStream(in_r)
        stdout = StdoutStream(out_w)
        copied = await _tcp.copy(stdout, stdin)
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
