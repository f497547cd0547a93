"""Tests for clock1 and clock2 (gopl.io/ch8/clock1, clock2).

Timed behaviour runs on a virtual clock over memory streams (tests/memnet.py); the command
lines run for real, over loopback, on the real clock.
"""

from __future__ import annotations

import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
from memnet import MemoryListener

from gopl_trio import _lines, _server, clock1, clock2

Serve = Callable[[trio.abc.Listener[trio.abc.Stream], Callable[[], str]], Awaitable[None]]


def virtual_now() -> str:
    return f"t={trio.current_time():.1f}"


def start(nursery: trio.Nursery, serve: Serve) -> MemoryListener:
    listener = MemoryListener()
    nursery.start_soon(serve, listener, virtual_now)
    return listener


async def read_lines(conn: trio.abc.ReceiveStream, n: int) -> list[tuple[float, str]]:
    reader = _lines.LineReader(conn)
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
    listener = start(nursery, clock2.serve)
    t0 = trio.current_time()
    a = await listener.connect()
    b = await listener.connect()
    async with a, b:
        results: dict[str, list[tuple[float, str]]] = {}

        async def collect(name: str, conn: trio.abc.ReceiveStream) -> None:
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
    listener = start(nursery, clock1.serve)
    first = await listener.connect()
    second = await listener.connect()
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
    client, conn = trio.testing.memory_stream_pair()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(clock2.handle_conn, conn, virtual_now)
            await read_lines(client, 1)
            await client.aclose()
        # Leaving the nursery means the handler returned, without an exception.


@pytest.mark.parametrize("serve", [clock1.serve, clock2.serve], ids=["clock1", "clock2"])
async def test_stopping_the_server_says_goodbye_then_hangs_up(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, serve: Serve
) -> None:
    listener = MemoryListener()
    stop = trio.CancelScope()  # what Ctrl-C cancels in the real program

    async def server() -> None:
        with stop:
            await serve(listener, virtual_now)

    nursery.start_soon(server)
    conn = await listener.connect()
    async with conn:
        reader = _lines.LineReader(conn)
        first = await reader.receive_line()
        assert first is not None and first.text == "t=0.0"
        stop.cancel()
        rest = []
        with trio.fail_after(5):
            while (line := await reader.receive_line()) is not None:
                rest.append(line.text)
    assert rest == [_server.GOODBYE]


# --- the real programs, over loopback, on the real clock ------------------------------------


def wait_for_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.fullmatch(r"clock\d: listening on 127\.0\.0\.1:(\d+)\n", line)
    assert match, line
    return int(match.group(1))


def read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n") and (chunk := sock.recv(1)):
        data += chunk
    return data


def test_clock2_cli_serves_and_stops_cleanly_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gopl_trio.clock2", "--host", "127.0.0.1", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = wait_for_port(proc)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            assert re.fullmatch(rb"\d\d:\d\d:\d\d\n", read_line(sock))
            proc.send_signal(signal.SIGINT)
            rest = b""
            while chunk := sock.recv(4096):  # the server says goodbye, then closes
                rest += chunk
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert rest.endswith(b"Server shutting down\n")
    assert proc.returncode == 0
    assert err == ""


def test_clock2_cli_outlasts_running_out_of_descriptors() -> None:
    """Out of descriptors, the server keeps going, says so once a second, and recovers."""
    limit = 32

    def lower_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    proc = subprocess.Popen(
        [sys.executable, "-m", "gopl_trio.clock2", "--host", "127.0.0.1", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lower_limit,
    )
    clients: list[socket.socket] = []
    try:
        port = wait_for_port(proc)
        started = time.monotonic()
        for _ in range(2 * limit):  # more than it can hold: the rest wait in the accept queue
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        assert re.fullmatch(rb"\d\d:\d\d:\d\d\n", read_line(clients[0]))
        time.sleep(1.5)  # let the condition last: no more than one log line a second
        for sock in clients[:-1]:  # hang up; descriptors free up
            sock.close()
        # The last client waited in the accept queue all along: now it is served.
        assert re.fullmatch(rb"\d\d:\d\d:\d\d\n", read_line(clients[-1]))
        # clock2 sees a hang-up only at its next write, so the condition lasted this long:
        lasted = time.monotonic() - started
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        for sock in clients:
            sock.close()
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    lines = err.splitlines()
    assert 1 <= len(lines) <= int(lasted) + 1, (lasted, err)  # at most one a second
    assert all(
        re.fullmatch(r"clock2: accept: Too many open files \(\d+ times?.*\); retrying", line)
        for line in lines
    ), err


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
