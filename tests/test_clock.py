"""Tests for clock1 and clock2 (gopl.io/ch8/clock1, clock2) over loopback sockets."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from gopl_trio import _net, clock1, clock2

Serve = Callable[[trio.SocketListener, Callable[[], str]], Awaitable[None]]


def virtual_now() -> str:
    return f"t={trio.current_time():.1f}"


async def start(nursery: trio.Nursery, serve: Serve) -> int:
    listener = await _net.open_listener("127.0.0.1", 0)
    nursery.start_soon(serve, listener, virtual_now)
    port: int = listener.socket.getsockname()[1]
    return port


async def read_lines(conn: trio.SocketStream, n: int) -> list[tuple[float, str]]:
    reader = _net.LineReader(conn)
    got = []
    for _ in range(n):
        line = await reader.receive_line()
        assert line is not None
        got.append((trio.current_time(), line.text))
    return got


def test_wall_clock_format() -> None:
    assert re.fullmatch(r"\d\d:\d\d:\d\d", clock1.wall_clock())


async def test_clock2_serves_two_clients_once_a_second(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    port = await start(nursery, clock2.serve)
    t0 = trio.current_time()
    a = await trio.open_tcp_stream("127.0.0.1", port)
    b = await trio.open_tcp_stream("127.0.0.1", port)
    async with a, b:
        results: dict[str, list[tuple[float, str]]] = {}

        async def collect(name: str, conn: trio.SocketStream) -> None:
            results[name] = await read_lines(conn, 3)

        with trio.fail_after(10):
            async with trio.open_nursery() as inner:
                inner.start_soon(collect, "a", a)
                inner.start_soon(collect, "b", b)
    for got in results.values():
        assert [round(t - t0) for t, _ in got] == [0, 1, 2]
        assert [text for _, text in got] == [f"t={t0 + i:.1f}" for i in range(3)]


async def test_clock1_serves_one_client_at_a_time(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    port = await start(nursery, clock1.serve)
    first = await trio.open_tcp_stream("127.0.0.1", port)
    second = await trio.open_tcp_stream("127.0.0.1", port)
    async with second:
        async with first:
            await read_lines(first, 3)
            with trio.move_on_after(5) as waited:  # the second client hears nothing meanwhile
                await second.receive_some()
            assert waited.cancelled_caught
        hung_up = trio.current_time()
        with trio.fail_after(5):
            [(when, text)] = await read_lines(second, 1)
        # The handler notices the hang-up at its next write, within two ticks.
        assert 0 <= when - hung_up <= 2
        assert text.startswith("t=")


async def test_handler_ends_quietly_when_the_client_hangs_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    listener = await _net.open_listener("127.0.0.1", 0)
    async with listener:
        port = listener.socket.getsockname()[1]
        client = await trio.open_tcp_stream("127.0.0.1", port)
        conn = await listener.accept()
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(clock2.handle_conn, conn, virtual_now)
                await read_lines(client, 1)
                await client.aclose()
            # Leaving the nursery means the handler returned, without an exception.


def wait_for_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.fullmatch(r"clock\d: listening on 127\.0\.0\.1:(\d+)\n", line)
    assert match, line
    return int(match.group(1))


def test_clock2_cli_serves_and_stops_cleanly_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gopl_trio.clock2", "--host", "127.0.0.1", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = wait_for_port(proc)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            data = sock.makefile("rb").readline()
        assert re.fullmatch(rb"\d\d:\d\d:\d\d\n", data)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    assert err == ""


@pytest.mark.parametrize("program", ["clock1", "clock2"])
def test_clock_cli_port_in_use(program: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                f"gopl_trio.{program}",
                "--host",
                "127.0.0.1",
                *["--port", str(port)],
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert proc.stderr == f"{program}: listen tcp 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize("serve", [clock1.serve, clock2.serve], ids=["clock1", "clock2"])
async def test_stopping_the_server_says_goodbye_then_hangs_up(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, serve: Serve
) -> None:
    listener = await _net.open_listener("127.0.0.1", 0)
    port = listener.socket.getsockname()[1]
    stop = trio.CancelScope()  # what Ctrl-C cancels in the real program

    async def server() -> None:
        with stop:
            await serve(listener, virtual_now)

    nursery.start_soon(server)
    conn = await trio.open_tcp_stream("127.0.0.1", port)
    async with conn:
        reader = _net.LineReader(conn)
        first = await reader.receive_line()
        assert first is not None and first.text == "t=0.0"
        stop.cancel()
        rest = []
        with trio.fail_after(5):
            while (line := await reader.receive_line()) is not None:
                rest.append(line.text)
    assert rest == [_net.GOODBYE]
