"""Tests for reverb1 and reverb2 (gopl.io/ch8/reverb1, reverb2; exercises 8.4, 8.8)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import trio
import trio.testing

from gopl_trio import _net, reverb1, reverb2


async def start_reverb1(nursery: trio.Nursery) -> int:
    listener = await _net.open_listener("127.0.0.1", 0)
    nursery.start_soon(reverb1.serve, listener, 1.0)
    port: int = listener.socket.getsockname()[1]
    return port


async def start_reverb2(nursery: trio.Nursery, idle: float = 10.0) -> int:
    listener = await _net.open_listener("127.0.0.1", 0)
    nursery.start_soon(reverb2.serve, listener, 1.0, idle)
    port: int = listener.socket.getsockname()[1]
    return port


async def timed_lines(conn: trio.SocketStream) -> list[tuple[float, str]]:
    """Every line until the server closes, with the (virtual) time it arrived."""
    t0 = trio.current_time()
    reader = _net.LineReader(conn)
    got = []
    with trio.fail_after(60):
        while (line := await reader.receive_line()) is not None:
            got.append((round(trio.current_time() - t0, 3), line.text))
    return got


async def test_reverb1_echoes_one_shout_at_a_time(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    port = await start_reverb1(nursery)
    async with await trio.open_tcp_stream("127.0.0.1", port) as conn:
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


async def test_reverb2_overlaps_echoes_and_waits_for_all_of_them(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    port = await start_reverb2(nursery)
    async with await trio.open_tcp_stream("127.0.0.1", port) as conn:
        await conn.send_all(b"Hello\n")
        reader = _net.LineReader(conn)
        assert await reader.receive_line() == _net.Line("\t HELLO", False)
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


async def test_reverb2_hangs_up_on_a_silent_client(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    port = await start_reverb2(nursery, idle=10.0)
    async with await trio.open_tcp_stream("127.0.0.1", port) as conn:
        t0 = trio.current_time()
        await trio.sleep(8)
        await conn.send_all(b"still here\n")  # resets the 10 s timer
        got = await timed_lines(conn)
        closed_after = trio.current_time() - t0
    assert [text for _, text in got] == ["\t STILL HERE", "\t still here", "\t still here"]
    assert closed_after == 18  # 8 s, then 10 s of silence (the echoes ended at 10 s)


async def test_reverb2_silent_client_with_echoes_pending_gets_them_first(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    listener = await _net.open_listener("127.0.0.1", 0)
    nursery.start_soon(reverb2.serve, listener, 4.0, 5.0)  # delay 4 s, idle 5 s
    port = listener.socket.getsockname()[1]
    async with await trio.open_tcp_stream("127.0.0.1", port) as conn:
        await conn.send_all(b"Echo\n")
        got = await timed_lines(conn)
    assert got == [(0, "\t ECHO"), (4, "\t Echo"), (8, "\t echo")]


async def test_bad_input_and_resets_do_not_disturb_other_clients(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    port = await start_reverb2(nursery)
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
        assert got[0][1] == f"(line cut to {_net.MAX_LINE} bytes)"
        assert [len(text) for _, text in got[1:]] == [2 + _net.MAX_LINE] * 3
        assert got[1][1] == "\t " + "A" * _net.MAX_LINE

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


async def test_reverb2_bounds_the_echoes_of_a_flood_of_lines(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """Thousands of shouts in one packet: a bounded number echo at once, others still served."""
    port = await start_reverb2(nursery)
    n = 2000
    async with await trio.open_tcp_stream("127.0.0.1", port) as flood:
        await flood.send_all(b"".join(b"%d\n" % i for i in range(n)))
        await flood.send_eof()
        async with trio.open_nursery() as inner:

            async def other_client() -> None:
                await trio.sleep(3)  # in the middle of the flood's echoes
                async with await trio.open_tcp_stream("127.0.0.1", port) as other:
                    await other.send_all(b"other\n")
                    with trio.fail_after(0.5):  # not queued behind the flood
                        line = await _net.LineReader(other).receive_line()
                    assert line == _net.Line("\t OTHER", False)

            inner.start_soon(other_client)
            got = await timed_lines(flood)
    # Go would start 2,000 goroutines at once; we echo ECHOES shouts, then the next ECHOES...
    assert len([text for t, text in got if t == 0]) == reverb2.ECHOES
    assert max(t for t, _ in got) == 2 * n / reverb2.ECHOES
    # ... and every shout is echoed three times.
    assert sorted(text for _, text in got) == sorted(f"\t {i}" for i in range(n) for _ in range(3))


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


def test_reverb1_cli_rejects_a_bad_delay() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gopl_trio.reverb1", "--delay", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "--delay" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_stopping_reverb2_cancels_pending_echoes_and_says_goodbye(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    listener = await _net.open_listener("127.0.0.1", 0)
    port = listener.socket.getsockname()[1]
    stop = trio.CancelScope()  # what Ctrl-C cancels in the real program

    async def server() -> None:
        with stop:
            await reverb2.serve(listener, 1.0, 10.0)

    nursery.start_soon(server)
    conn = await trio.open_tcp_stream("127.0.0.1", port)
    async with conn:
        await conn.send_all(b"hello\n")
        reader = _net.LineReader(conn)
        loud = await reader.receive_line()
        assert loud is not None and loud.text == "\t HELLO"
        stop.cancel()  # the "Hello" and "hello" echoes are still pending
        rest = []
        with trio.fail_after(5):
            while (line := await reader.receive_line()) is not None:
                rest.append(line.text)
    assert rest == [_net.GOODBYE]
