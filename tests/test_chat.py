"""Tests for the chat server (gopl.io/ch8/chat, exercises 8.12-8.15) over loopback sockets.

The timed tests (8.13's idle limit) run on a MockClock whose autojump threshold is not zero:
virtual time jumps only after the real sockets have been quiet for a real 50 ms.
"""

from __future__ import annotations

import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest
import trio
import trio.testing

from gopl_trio import _lines, _outbox, _tcp, chat


class Client:
    """A chat user at the other end of a real TCP connection."""

    timeout = 30.0  # for each line; tests on a MockClock raise it past the idle limit

    def __init__(self, conn: trio.SocketStream) -> None:
        self.conn = conn
        self.lines = _lines.LineReader(conn)

    @classmethod
    async def join(cls, port: int, name: str, *, expect_present: str | None = None) -> Client:
        client = cls(await trio.open_tcp_stream("127.0.0.1", port))
        assert await client.line() == "Enter your name:"
        await client.say(name)
        assert await client.line() == f"You are {name}"
        present = await client.line()
        if expect_present is not None:
            assert present == expect_present
        return client

    async def say(self, text: str | bytes) -> None:
        await self.conn.send_all(text.encode() + b"\n" if isinstance(text, str) else text)

    async def line(self) -> str | None:
        with trio.fail_after(self.timeout):
            line = await self.lines.receive_line()
        return None if line is None else line.text

    async def lines_until(self, last: str) -> list[str]:
        got = []
        while (line := await self.line()) is not None:
            got.append(line)
            if line == last:
                return got
        raise AssertionError(f"connection closed before {last!r}; got {got[-3:]}")

    async def aclose(self) -> None:
        await self.conn.aclose()


async def start(nursery: trio.Nursery, idle: float = chat.IDLE, queue: int = chat.QUEUE) -> int:
    listener = await _tcp.open_listener("127.0.0.1", 0, "chat")
    nursery.start_soon(lambda: chat.serve(listener, idle=idle, queue=queue))
    return listener.port


@pytest.fixture
def virtual_time(mock_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test must also name `mock_clock` itself: pytest-trio runs it on that clock then."""
    mock_clock.autojump_threshold = 0.05  # real seconds of quiet before virtual time jumps
    monkeypatch.setattr(Client, "timeout", 1000.0)


async def test_arrivals_messages_and_departures(nursery: trio.Nursery) -> None:
    port = await start(nursery)
    alice = await Client.join(port, "alice", expect_present="Nobody else is here")
    bob = await Client.join(port, "bob", expect_present="Already here: alice")  # 8.12
    assert await alice.line() == "bob has arrived"
    carol = await Client.join(port, "carol", expect_present="Already here: alice, bob")
    assert await alice.line() == "carol has arrived"
    assert await bob.line() == "carol has arrived"

    await alice.say("hello, all")
    for client in (alice, bob, carol):  # like the book's, the sender hears itself too
        assert await client.line() == "alice: hello, all"

    await bob.aclose()
    assert await alice.line() == "bob has left"
    assert await carol.line() == "bob has left"
    await alice.aclose()
    assert await carol.line() == "alice has left"
    await carol.aclose()


async def test_greetings_keep_their_order_when_everything_arrives_at_once(
    nursery: trio.Nursery,
) -> None:
    # Name and first message in one packet: the queued greeting and the broadcaster's direct
    # writes must not overtake each other.
    port = await start(nursery)
    for i in range(30):
        client = Client(await trio.open_tcp_stream("127.0.0.1", port))
        await client.say(f"u{i}\nhi")
        assert await client.line() == "Enter your name:"
        assert await client.line() == f"You are u{i}"
        present = await client.line()
        assert present is not None
        assert present.startswith(("Already here: ", "Nobody else is here"))
        assert await client.lines_until(f"u{i}: hi")
        await client.aclose()


async def test_a_blank_name_falls_back_to_the_address(nursery: trio.Nursery) -> None:
    port = await start(nursery)
    conn = await trio.open_tcp_stream("127.0.0.1", port)
    client = Client(conn)
    assert await client.line() == "Enter your name:"
    await client.say("  \t ")
    you_are = await client.line()
    host, local_port = conn.socket.getsockname()[:2]
    assert you_are == f"You are {host}:{local_port}"
    await client.aclose()


async def test_idle_clients_are_disconnected(
    mock_clock: trio.testing.MockClock, virtual_time: None, nursery: trio.Nursery
) -> None:
    port = await start(nursery, idle=300)
    start_time = trio.current_time()
    quiet = await Client.join(port, "quiet")
    chatty = await Client.join(port, "chatty")
    assert await quiet.line() == "chatty has arrived"
    await trio.sleep(200)
    await chatty.say("still here")  # resets chatty's 300 s, not quiet's
    assert await chatty.line() == "chatty: still here"
    assert await quiet.line() == "chatty: still here"
    got = await quiet.lines_until("Disconnected: idle for 300 seconds")  # 8.13
    assert got == ["Disconnected: idle for 300 seconds"]
    assert await quiet.line() is None  # and the server closed the connection
    assert round(trio.current_time() - start_time) == 300
    assert await chatty.line() == "quiet has left"
    assert await chatty.line() == "Disconnected: idle for 300 seconds"
    assert round(trio.current_time() - start_time) == 500
    await quiet.aclose()
    await chatty.aclose()


async def test_a_client_that_never_sends_its_name_times_out_too(
    mock_clock: trio.testing.MockClock, virtual_time: None, nursery: trio.Nursery
) -> None:
    port = await start(nursery, idle=60)
    start_time = trio.current_time()
    client = Client(await trio.open_tcp_stream("127.0.0.1", port))
    assert await client.line() == "Enter your name:"
    assert await client.line() is None
    assert round(trio.current_time() - start_time) == 60
    await client.aclose()


async def test_abuse_long_line_binary_and_reset(nursery: trio.Nursery) -> None:
    port = await start(nursery)
    watcher = await Client.join(port, "watcher")
    vandal = await Client.join(port, "vandal")
    assert await watcher.line() == "vandal has arrived"

    # 10 MB without a newline, then a newline: the sender is told, nobody else sees it.
    async with trio.open_nursery() as inner:

        async def flood() -> None:
            for _ in range(160):
                await vandal.say(b"z" * 65536)
            await vandal.say("\xff\xfe binary \x00 bytes")

        inner.start_soon(flood)
        assert await vandal.line() == f"Line dropped: longer than {_lines.MAX_LINE} bytes"
    # The rest of that line was discarded; its next line is delivered, with U+FFFD for bad bytes.
    await vandal.say(b"\xff\xfe binary \x00 bytes\n")
    assert await watcher.line() == "vandal: \ufffd\ufffd binary ^@ bytes"

    # An abrupt reset: everyone else hears that the client left, and the server goes on.
    linger = struct.pack("ii", 1, 0)
    vandal.conn.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    await vandal.aclose()  # sends RST
    assert await watcher.line() == "vandal has left"
    late = await Client.join(port, "late", expect_present="Already here: watcher")
    await late.say("hi")
    assert await watcher.line() == "late has arrived"
    assert await watcher.line() == "late: hi"
    await watcher.aclose()
    await late.aclose()


async def test_control_characters_are_shown_as_cat_v_shows_them(nursery: trio.Nursery) -> None:
    port = await start(nursery)
    watcher = await Client.join(port, "watcher")
    vandal = await Client.join(port, "vandal")
    assert await watcher.line() == "vandal has arrived"
    await vandal.say("\x1b[2J\rwatcher: my password is\tsecret\x7f\x07")
    assert await watcher.line() == "vandal: ^[[2J^Mwatcher: my password is\tsecret^?^G"
    assert chat.visible("plain text, ünïcode") == "plain text, ünïcode"
    await watcher.aclose()
    await vandal.aclose()


@pytest.mark.parametrize("limit", ["messages", "bytes"])
async def test_a_stalled_client_never_delays_the_others(
    limit: str, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8.15: one client never reads while another floods ~6 MB; the rest keep chatting.

    In the book's version the broadcaster blocks on the stalled client once its socket
    buffer is full, and with it every other client: this test would hit its deadline.
    The stalled client's queue is bounded by its length, or by its size in bytes.
    """
    if limit == "messages":
        port = await start(nursery, queue=16)
    else:
        monkeypatch.setattr(chat, "QUEUE_BYTES", 64 * 1024)
        port = await start(nursery, queue=1_000_000)
    peak_queued = 0  # the most bytes the server ever held for one client
    put = _outbox.Outbox.put

    def put_and_measure(self: _outbox.Outbox, line: str) -> None:
        nonlocal peak_queued
        put(self, line)
        peak_queued = max(peak_queued, self.queued_bytes)

    monkeypatch.setattr(_outbox.Outbox, "put", put_and_measure)
    stalled = await Client.join(port, "stalled")  # reads nothing once everyone is here
    observer = await Client.join(port, "observer")
    flooder = await Client.join(port, "flooder")
    pinger = await Client.join(port, "pinger")
    for client in (stalled, observer, flooder):
        await client.lines_until("pinger has arrived")

    n, size = 6000, 1000
    payload = "x" * size
    with trio.fail_after(60):
        async with trio.open_nursery() as inner:

            async def flood() -> None:
                for i in range(n):
                    await flooder.say(f"{i:05} {payload}")

            async def drain_flooder() -> None:  # the flooder reads its own echoes
                await flooder.lines_until(f"flooder: {n - 1:05} {payload}")

            inner.start_soon(flood)
            inner.start_soon(drain_flooder)
            got = await observer.lines_until(f"flooder: {n - 1:05} {payload}")
        assert len(got) == n  # the observer lost nothing
        await pinger.say("ping")
        assert await observer.line() == "pinger: ping"
    # The server's memory for the stalled client stayed bounded (a drop notice may go over).
    assert 0 < peak_queued <= chat.QUEUE_BYTES + 100
    if limit == "messages":
        assert peak_queued <= 17 * (size + 20)

    # The stalled client now reads: what fitted in its queue and socket buffers, with a
    # notice at each gap saying exactly how many messages it lost there.
    received, dropped, notices = 0, 0, 0
    while received + dropped < n + 1:  # the flood and the ping: each delivered or counted
        line = await stalled.line()
        assert line is not None
        if match := re.fullmatch(r"\((\d+) messages dropped: you are reading too slowly\)", line):
            dropped += int(match.group(1))
            notices += 1
        else:
            assert line.startswith(("flooder: ", "pinger: ")), line
            received += 1
    assert received + dropped == n + 1
    assert notices >= 1
    assert received < n // 2  # bounded: most of the flood was never queued for it
    await pinger.say("pong")
    assert await stalled.line() == "pinger: pong"
    for client in (stalled, observer, flooder, pinger):
        await client.aclose()


async def test_stop_says_goodbye_to_every_client_named_unnamed_or_stalled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chat, "GRACE", 30.0)  # behaviour here; the 250 ms is a benchmark's
    listener = await _tcp.open_listener("127.0.0.1", 0, "chat")
    port = listener.port
    stop = trio.Event()
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: chat.serve(listener, queue=16, stop=stop))
        alice = await Client.join(port, "alice")
        nameless = Client(await trio.open_tcp_stream("127.0.0.1", port))
        assert await nameless.line() == "Enter your name:"
        # Two clients that stop reading: their buffers fill, then their queues drop lines.
        stalled = await Client.join(port, "stalled")
        stalled.conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        flooder = await Client.join(port, "flooder")
        await alice.lines_until("flooder has arrived")
        line = "x" * 1000

        async def flood() -> None:
            for _ in range(3000):  # 3 MB: more than the kernel buffers and 16 queued lines
                await flooder.say(line)
            await flooder.say("end")

        async with trio.open_nursery() as inner:
            inner.start_soon(flood)
            got = await alice.lines_until("flooder: end")  # the broadcaster is through
        assert got.count(f"flooder: {line}") == 3000
        stop.set()

        async def hears_goodbye(client: Client) -> None:
            tail = b""
            with trio.fail_after(30):
                while data := await client.conn.receive_some(65536):
                    tail = (tail + data)[-200:]
            assert tail.split(b"\n")[-2:] == [b"Server shutting down", b""], tail[-60:]
            await client.aclose()

        async with trio.open_nursery() as inner:
            for client in (alice, nameless, stalled, flooder):
                inner.start_soon(hears_goodbye, client)
    # Leaving the nursery: serve() returned by itself, and no task outlived it.
    assert trio.lowlevel.current_statistics().tasks_living == tasks_before
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", port)


def start_cli(*options: str, **popen: object) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gopl_trio.chat", "--host", "127.0.0.1", "--port", "0", *options],
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[call-overload]
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.fullmatch(r"chat: listening on 127\.0\.0\.1:(\d+)\n", line)
    if not match:
        proc.kill()
        raise AssertionError(line)
    return proc, int(match.group(1))


def test_chat_cli_end_to_end_with_ctrl_c() -> None:
    proc, port = start_cli()
    with proc:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                reader = sock.makefile("rb")
                assert reader.readline() == b"Enter your name:\n"
                sock.sendall(b"gopher\r\nhello from telnet\r\n")
                assert reader.readline() == b"You are gopher\n"
                assert reader.readline() == b"Nobody else is here\n"
                assert reader.readline() == b"gopher: hello from telnet\n"
                proc.send_signal(signal.SIGINT)
                assert reader.readline() == b"Server shutting down\n"
                assert reader.readline() == b""
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0
    assert err == ""


def test_chat_survives_running_out_of_descriptors() -> None:
    """With `ulimit -n 64`, 100 clients connect: the server stays up, says so once a second at
    most, and serves waiting clients as soon as descriptors free up."""

    def limit_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc, port = start_cli(preexec_fn=limit_descriptors)
    with proc:
        socks = []
        try:
            for _ in range(100):  # the kernel completes the handshakes; accept fails
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=30))
            # Served: the first ones hear the prompt; the rest wait in the listen queue.
            assert socks[0].recv(100) == b"Enter your name:\n"
            time.sleep(1.5)  # not to synchronise: the condition lasts, and is logged sparingly
            for sock in socks[:50]:  # free descriptors ...
                sock.close()
            socks[-1].settimeout(30)  # ... and the last one to connect is served
            assert socks[-1].recv(100) == b"Enter your name:\n"
            assert proc.poll() is None  # still up
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            for sock in socks:
                sock.close()
            proc.kill()
    assert proc.returncode == 0
    reports = err.splitlines()
    assert reports, "running out of descriptors is reported"
    assert len(reports) <= 3, reports  # about 2 s of EMFILE: at most one line a second
    for report in reports:
        assert re.fullmatch(r"chat: accept: Too many open files \(.*\); retrying", report)


def test_chat_cli_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "gopl_trio.chat", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert proc.stderr == f"chat: listen tcp 127.0.0.1:{port}: Address already in use\n"
