"""Tests for reverb1, reverb2 and reverb3 (gopl.io/ch8/reverb1, reverb2; exercises 8.4, 8.8).

Timed behaviour runs on a virtual clock over memory streams (tests/memnet.py); resets, long
lines and the command lines run for real, over loopback, on the real clock.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
from memnet import MemoryListener

from gopl_trio import _lines, _server, _tcp, reverb1, reverb2, reverb3

Serve = Callable[..., Awaitable[None]]


def start(nursery: trio.Nursery, serve: Serve, *args: float) -> MemoryListener:
    listener = MemoryListener()
    nursery.start_soon(serve, listener, *args)
    return listener


async def timed_lines(conn: trio.abc.ReceiveStream) -> list[tuple[float, str]]:
    """Every line until the server closes, with the (virtual) time it arrived."""
    t0 = trio.current_time()
    reader = _lines.LineReader(conn)
    got = []
    with trio.fail_after(60):
        while (line := await reader.receive_line()) is not None:
            got.append((round(trio.current_time() - t0, 3), line.text))
    return got


async def test_reverb1_echoes_one_shout_at_a_time(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    listener = start(nursery, reverb1.serve, 1.0)
    async with await listener.connect() as conn:
        await conn.send_all(b"Hello\nWorld\n")
        await conn.send_eof()  # the server still answers after our half-close
        got = await timed_lines(conn)
    assert got == [
        (0, "\t HELLO"),
        (1, "\t Hello"),
        (2, "\t hello"),
        (2, "\t WORLD"),
        (3, "\t World"),
        (4, "\t world"),
    ]


@pytest.mark.parametrize("serve", [reverb2.serve, reverb3.serve], ids=["reverb2", "reverb3"])
async def test_reverb2_overlaps_echoes_and_waits_for_all_of_them(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, serve: Serve
) -> None:
    listener = start(nursery, serve, 1.0)
    async with await listener.connect() as conn:
        await conn.send_all(b"Hello\n")
        reader = _lines.LineReader(conn)
        assert await reader.receive_line() == _lines.Line("\t HELLO", False)
        await trio.sleep(0.5)
        await conn.send_all(b"World\n")
        await conn.send_eof()  # 8.4: the echoes still in flight must all arrive
        t0 = trio.current_time() - 0.5
        got = []
        with trio.fail_after(60):
            while (line := await reader.receive_line()) is not None:
                got.append((round(trio.current_time() - t0, 3), line.text))
    assert got == [
        (0.5, "\t WORLD"),
        (1, "\t Hello"),
        (1.5, "\t World"),
        (2, "\t hello"),
        (2.5, "\t world"),
    ]


async def test_reverb3_hangs_up_on_a_silent_client(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    listener = start(nursery, reverb3.serve, 1.0, 10.0)
    async with await listener.connect() as conn:
        t0 = trio.current_time()
        await trio.sleep(8)
        await conn.send_all(b"still here\n")  # resets the 10 s timer
        got = await timed_lines(conn)
        closed_after = trio.current_time() - t0
    assert [text for _, text in got] == ["\t STILL HERE", "\t still here", "\t still here"]
    assert closed_after == 18  # 8 s, then 10 s of silence (the echoes ended at 10 s)


async def test_reverb3_silent_client_with_echoes_pending_gets_them_first(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    listener = start(nursery, reverb3.serve, 4.0, 5.0)  # delay 4 s, idle 5 s
    async with await listener.connect() as conn:
        await conn.send_all(b"Echo\n")
        got = await timed_lines(conn)
    assert got == [(0, "\t ECHO"), (4, "\t Echo"), (8, "\t echo")]


async def test_reverb2_never_hangs_up_on_a_silent_client(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    listener = start(nursery, reverb2.serve, 1.0)  # the book's program: no idle timer
    async with await listener.connect() as conn:
        with trio.move_on_after(3600) as waited:
            await conn.receive_some()
    assert waited.cancelled_caught


async def test_reverb3_drops_a_client_that_reads_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Its echoes cannot go out: after `idle` seconds without progress, it is disconnected."""
    client, server = trio.testing.lockstep_stream_pair()  # every byte waits for a reader
    ended = []

    async def handler() -> None:
        await reverb3.handle_conn(server, 1.0, 5.0)
        ended.append(trio.current_time())

    t0 = trio.current_time()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(handler)
            await client.send_all(b"are you there\n")  # and then read nothing
        got = await timed_lines(client)  # what was stuck in the pipe, then the end
    assert ended == [t0 + 5]  # the first echo was stuck from the start
    assert [text for _, text in got] in ([], ["\t ARE YOU THERE"])


async def test_reverb3_bounds_the_echoes_of_a_flood_of_lines(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """Thousands of shouts in one packet: a bounded number echo at once, others still served."""
    listener = start(nursery, reverb3.serve, 1.0)
    n = 2000
    async with await listener.connect() as flood:
        await flood.send_all(b"".join(b"%d\n" % i for i in range(n)))
        await flood.send_eof()
        async with trio.open_nursery() as inner:

            async def other_client() -> None:
                await trio.sleep(3)  # in the middle of the flood's echoes
                async with await listener.connect() as other:
                    await other.send_all(b"other\n")
                    with trio.fail_after(0.5):  # not queued behind the flood
                        line = await _lines.LineReader(other).receive_line()
                    assert line == _lines.Line("\t OTHER", False)

            inner.start_soon(other_client)
            got = await timed_lines(flood)
    # Go would start 2,000 goroutines at once; we echo ECHOES shouts, then the next ECHOES...
    assert len([text for t, text in got if t == 0]) == reverb3.ECHOES
    assert max(t for t, _ in got) == 2 * n / reverb3.ECHOES
    # ... and every shout is echoed three times.
    assert sorted(text for _, text in got) == sorted(f"\t {i}" for i in range(n) for _ in range(3))


async def test_reverb2_starts_an_echo_per_line_without_limit(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """The book's program, the lesson reverb3 fixes: every shout of a flood echoes at once."""
    listener = start(nursery, reverb2.serve, 1.0)
    n = 2000
    async with await listener.connect() as flood:
        await flood.send_all(b"".join(b"%d\n" % i for i in range(n)))
        await flood.send_eof()
        got = await timed_lines(flood)
    assert len([text for t, text in got if t == 0]) == n
    assert max(t for t, _ in got) == 2


# Lines whose echoes cost the most: invalid bytes become 3-byte U+FFFD, and "ΐ".upper() is
# three characters of two bytes each.
NASTY = {
    "ascii": b"a" * 65535,
    "invalid": b"\xff" * 65535,
    "expands": "ΐ".encode() * 32767,
    "short": b"x",
    "cut": b"\xff" * 200_000,
}


@pytest.mark.parametrize("kind", NASTY)
async def test_reverb3_holds_under_a_mebibyte_for_a_client_that_never_reads(
    kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    line = NASTY[kind] + b"\n"
    client, server = trio.testing.lockstep_stream_pair()  # the client reads nothing
    tracemalloc.start()
    try:
        async with trio.open_nursery() as nursery:
            baseline = tracemalloc.get_traced_memory()[0]
            nursery.start_soon(reverb3.handle_conn, server, 1.0, 3600.0)

            async def flood() -> None:
                with trio.move_on_after(600):
                    while True:
                        await client.send_all(line * max(1, 65536 // len(line)))

            nursery.start_soon(flood)
            await trio.sleep(300)  # every echo that could start has started and is stuck
            await trio.testing.wait_all_tasks_blocked()
            held = tracemalloc.get_traced_memory()[0] - baseline
            nursery.cancel_scope.cancel()
    finally:
        tracemalloc.stop()
    assert held <= 1024 * 1024, f"{held / 1024:.0f} KiB"


@pytest.mark.parametrize("serve", [reverb2.serve, reverb3.serve], ids=["reverb2", "reverb3"])
async def test_stopping_reverb_cancels_pending_echoes_and_says_goodbye(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, serve: Serve
) -> None:
    listener = MemoryListener()
    stop = trio.CancelScope()  # what Ctrl-C cancels in the real program

    async def server() -> None:
        with stop:
            await serve(listener, 1.0)

    nursery.start_soon(server)
    async with await listener.connect() as conn:
        await conn.send_all(b"hello\n")
        reader = _lines.LineReader(conn)
        loud = await reader.receive_line()
        assert loud is not None and loud.text == "\t HELLO"
        stop.cancel()  # the "Hello" and "hello" echoes are still pending
        rest = []
        with trio.fail_after(5):
            while (line := await reader.receive_line()) is not None:
                rest.append(line.text)
    assert rest == [_server.GOODBYE]


# --- the real programs, over loopback, on the real clock ------------------------------------


@pytest.mark.parametrize("serve", [reverb2.serve, reverb3.serve], ids=["reverb2", "reverb3"])
async def test_bad_input_and_resets_do_not_disturb_other_clients(
    nursery: trio.Nursery, serve: Serve
) -> None:
    listener = await _tcp.open_listener("127.0.0.1", 0, "test")
    nursery.start_soon(serve, listener, 0.01)
    port = listener.port
    # A 10 MB line without a newline, then EOF: echoed cut to 64 KiB.
    async with await trio.open_tcp_stream("127.0.0.1", port) as big:
        async with trio.open_nursery() as inner:

            async def flood() -> None:
                block = b"a" * 65536
                for _ in range(160):
                    await big.send_all(block)
                await big.send_eof()

            inner.start_soon(flood)
            got = await timed_lines(big)
        assert got[0][1] == f"(line cut to {_lines.MAX_LINE} bytes)"
        assert [len(text) for _, text in got[1:]] == [2 + _lines.MAX_LINE] * 3
        assert got[1][1] == "\t " + "A" * _lines.MAX_LINE

    # A client that resets its connection in the middle of its echoes.
    rude = await trio.open_tcp_stream("127.0.0.1", port)
    await rude.send_all(b"bye\n")
    rude.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    await rude.aclose()  # SO_LINGER 0: an RST instead of a FIN

    # Everyone else is still served, and bytes that are not UTF-8 do no harm.
    async with await trio.open_tcp_stream("127.0.0.1", port) as polite:
        await polite.send_all(b"caf\xc3\xa9 \xff\n")
        await polite.send_eof()
        got = await timed_lines(polite)
    assert [text for _, text in got] == ["\t CAFÉ \ufffd", "\t café \ufffd", "\t café \ufffd"]


def test_reverb2_cli_with_netcat3_cli() -> None:
    """The book's demo, both ends as real programs: netcat3 half-closes, echoes still arrive."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gopl_trio.reverb2", *["--port", "0", "--delay", "0.05"]],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        match = re.fullmatch(r"reverb2: listening on 127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        client = subprocess.run(
            [
                sys.executable,
                "-m",
                "gopl_trio.netcat3",
                *["--host", "127.0.0.1", "--port", match.group(1)],
            ],
            input=b"Hello?\n",
            capture_output=True,
            timeout=30,
        )
        server.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop, no traceback
        _, server_err = server.communicate(timeout=30)
    finally:
        server.kill()
        server.communicate()
    assert client.returncode == 0, client.stderr
    assert client.stdout == b"\t HELLO?\n\t Hello?\n\t hello?\n"
    assert client.stderr == b"done\n"
    assert (server.returncode, server_err) == (0, "")


@pytest.mark.parametrize("program", ["reverb1", "reverb3"])
def test_reverb_cli_rejects_a_bad_delay(program: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", f"gopl_trio.{program}", "--delay", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "--delay" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_reverb3_cli_says_goodbye_to_a_stalled_client_then_exits() -> None:
    """Ctrl-C: a client that read nothing while its echoes piled up still hears goodbye."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gopl_trio.reverb3", "--host", "127.0.0.1", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GOPL_TRIO_GOODBYE_GRACE": "5"},  # a busy machine is no excuse
    )
    try:
        assert server.stderr is not None
        match = re.search(r":(\d+)$", server.stderr.readline().strip())
        assert match
        with socket.socket() as stalled:
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.connect(("127.0.0.1", int(match.group(1))))
            stalled.settimeout(0.5)
            line = b"\xff" * 65535 + b"\n"  # 576 KiB of echoes: more than the buffers hold
            with contextlib.suppress(TimeoutError):
                for _ in range(20):  # and more input than the server will read
                    stalled.sendall(line)
            stalled.settimeout(10)
            assert stalled.recv(1, socket.MSG_PEEK)  # the echoes have started
            server.send_signal(signal.SIGINT)
            signalled = time.monotonic()
            stalled.settimeout(10)
            tail = b""
            received = 0
            # Reading at last: the rest, then goodbye, then the end -- a reset, since the
            # server closes with our input unread, once we have the goodbye (the kernel
            # keeps what it has received).
            with contextlib.suppress(ConnectionResetError):
                while chunk := stalled.recv(65536):
                    tail = (tail + chunk)[-100:]
                    received += len(chunk)
            server.wait(timeout=10)
            exited = time.monotonic() - signalled
    finally:
        server.kill()
        server.communicate()
    # After the echo it was writing when it stopped (cut short: then a fresh line), goodbye.
    assert received > 4096
    assert tail.endswith(b"\n" + _server.GOODBYE.encode() + b"\n")
    assert exited < 5  # it left as soon as the client had the goodbye, not after the grace
    assert server.returncode == 0
