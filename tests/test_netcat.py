"""Tests for netcat1, netcat2 and netcat3 (gopl.io/ch8/netcat1-3, exercise 8.3).

Timed behaviour runs on a virtual clock against reverb1 over memory streams
(tests/memnet.py); the rest over loopback on the real clock.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
from memnet import MemoryListener

from gopl_trio import _tcp, netcat1, netcat2, netcat3, reverb1


class Output(trio.abc.SendStream):
    """Standard output for tests: remembers what was written and when."""

    def __init__(self) -> None:
        self.data = b""
        self.times: list[float] = []

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        self.data += bytes(data)
        self.times.append(trio.current_time())

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


def start_reverb1(nursery: trio.Nursery) -> MemoryListener:
    listener = MemoryListener()
    nursery.start_soon(reverb1.serve, listener, 1.0)
    return listener


async def start_talker(nursery: trio.Nursery, text: bytes) -> int:
    """A server that sends *text* and hangs up, ignoring what it is sent."""
    listener = await _tcp.open_listener("127.0.0.1", 0, "talker")

    async def serve() -> None:
        async with listener:
            conn = await listener.accept()
            async with conn:
                await conn.send_all(text)

    nursery.start_soon(serve)
    return listener.port


async def test_netcat1_copies_until_the_server_hangs_up(nursery: trio.Nursery) -> None:
    port = await start_talker(nursery, b"12:00:00\n12:00:01\n")
    out = Output()
    with trio.fail_after(10):
        await netcat1.netcat(await trio.open_tcp_stream("127.0.0.1", port), out)
    assert out.data == b"12:00:00\n12:00:01\n"


class Stdin(trio.abc.ReceiveStream):
    """Standard input that holds *text* and then ends, like a file or `printf ... |`."""

    def __init__(self, text: bytes) -> None:
        self.left = text

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        chunk, self.left = self.left, b""
        return chunk

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


class NeverEndingStdin(trio.abc.ReceiveStream):
    """A terminal where nobody types."""

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_netcat2_stops_at_end_of_input_and_loses_the_replies(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    reverb = start_reverb1(nursery)
    out = Output()
    start = trio.current_time()
    with trio.fail_after(10):
        await netcat2.netcat(await reverb.connect(), Stdin(b"Hello\n"), out)
    # The book's lesson: it exits at once, so the later echoes never reach the user.
    assert trio.current_time() - start < 1
    assert b"\t hello\n" not in out.data


async def test_netcat3_half_closes_and_waits_for_every_reply(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    reverb = start_reverb1(nursery)
    out = Output()
    start = trio.current_time()
    with trio.fail_after(10):
        await netcat3.netcat(await reverb.connect(), Stdin(b"Hello\nBye\n"), out)
    assert out.data == b"\t HELLO\n\t Hello\n\t hello\n\t BYE\n\t Bye\n\t bye\n"
    assert round(trio.current_time() - start) == 4  # it returned when reverb1 closed


Netcat = Callable[
    [trio.abc.HalfCloseableStream, trio.abc.ReceiveStream, trio.abc.SendStream], Awaitable[None]
]


@pytest.mark.parametrize("netcat", [netcat2.netcat, netcat3.netcat])
async def test_netcat_2_and_3_stop_when_the_server_hangs_up(
    netcat: Netcat, nursery: trio.Nursery
) -> None:
    port = await start_talker(nursery, b"goodbye\n")
    out = Output()
    with trio.fail_after(10):
        conn = await trio.open_tcp_stream("127.0.0.1", port)
        await netcat(conn, NeverEndingStdin(), out)
    assert out.data == b"goodbye\n"


@pytest.mark.parametrize("program", ["netcat1", "netcat2", "netcat3"])
def test_netcat_cli_server_not_running(program: str) -> None:
    with socket.socket() as bound:  # holds the port, but does not listen: connect is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                f"gopl_trio.{program}",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    assert proc.returncode == 1
    assert proc.stderr == f"{program}: dial tcp 127.0.0.1:{port}: Connection refused\n"


def test_netcat1_cli_prints_what_the_server_sends_and_ctrl_c_exits_130() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gopl_trio.netcat1",
                *["--host", "127.0.0.1", "--port", str(port)],
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            assert proc.stdout is not None
            listener.settimeout(30)
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"tick\n")
                assert proc.stdout.readline() == b"tick\n"
                proc.send_signal(signal.SIGINT)  # the server never hangs up: the user does
                _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == b""


async def test_netcat2_cli_exits_when_the_server_hangs_up(nursery: trio.Nursery) -> None:
    port = await start_talker(nursery, b"bye now\n")
    read_end, write_end = os.pipe()  # standard input that stays open: nobody types
    try:
        with trio.fail_after(30):
            proc = await trio.run_process(
                [
                    sys.executable,
                    "-m",
                    "gopl_trio.netcat2",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                stdin=read_end,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    finally:
        os.close(read_end)
        os.close(write_end)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"bye now\n", b"")
