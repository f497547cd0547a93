"""Tests for gopl_trio._server: the goodbye on Ctrl-C (the whole life of a server runs as a
subprocess in test_clock and test_reverb)."""

from __future__ import annotations

import contextlib
import socket

import pytest
import trio
import trio.testing

from gopl_trio import _server, _tcp


class StuckWriter(trio.abc.SendStream):
    """Takes the first three bytes of the first write, then blocks; takes later writes whole."""

    def __init__(self) -> None:
        self.data = b""
        self.writes = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        if self.writes == 1:
            self.data += bytes(data[:3])
            await trio.sleep_forever()
        await trio.lowlevel.checkpoint()
        self.data += bytes(data)

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_goodbye_after_a_cut_write_starts_on_a_new_line(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = StuckWriter()
    shared = _tcp.LockedSendStream(stream)
    _client, conn = trio.testing.memory_stream_pair()
    with trio.CancelScope() as server:  # what Ctrl-C cancels
        async with _server.goodbye_on_shutdown(conn, shared), trio.open_nursery() as nursery:
            nursery.start_soon(shared.send_all, b"hello\n")
            await trio.testing.wait_all_tasks_blocked()
            server.cancel()
    assert stream.data == b"hel\nServer shutting down\n"


async def test_a_client_that_takes_nothing_delays_the_exit_by_the_grace_at_most(
    autojump_clock: trio.testing.MockClock,
) -> None:
    _client, conn = trio.testing.lockstep_stream_pair()  # the client never reads
    start = trio.current_time()
    with trio.CancelScope() as server:
        server.cancel()
        async with _server.goodbye_on_shutdown(conn):
            await trio.sleep_forever()
    assert trio.current_time() - start == pytest.approx(_server.GOODBYE_GRACE)


async def test_goodbye_is_not_sent_when_the_handler_ends_by_itself() -> None:
    client, conn = trio.testing.memory_stream_pair()
    async with _server.goodbye_on_shutdown(conn):
        await trio.lowlevel.checkpoint()
    with pytest.raises(ValueError, match="boom"):
        async with _server.goodbye_on_shutdown(conn):
            raise ValueError("boom")
    await conn.aclose()
    assert await client.receive_some() == b""


async def test_goodbye_deadline_outside_a_running_server(
    mock_clock: trio.testing.MockClock,
) -> None:
    assert _server.goodbye_deadline() == trio.current_time() + _server.GOODBYE_GRACE


# --- over real loopback sockets -------------------------------------------------------------


async def loopback_pair(rcvbuf: int | None = None) -> tuple[trio.SocketStream, trio.SocketStream]:
    """(client, server) ends of a TCP connection on 127.0.0.1; *rcvbuf* for the client's."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listeners[0] as listener:
        sock = trio.socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.connect(listener.socket.getsockname())
        return trio.SocketStream(sock), await listener.accept()


async def receive_all(stream: trio.SocketStream) -> bytes:
    """Everything *stream* receives until end of stream or a reset."""
    data = b""
    with contextlib.suppress(trio.BrokenResourceError):
        while chunk := await stream.receive_some():
            data += chunk
    return data


async def test_goodbye_survives_the_reset_that_unread_input_causes(
    io_clock: trio.testing.MockClock,
) -> None:
    client, conn = await loopback_pair()
    async with client:
        await client.send_all(b"x" * 100_000)  # the server never reads it
        with trio.CancelScope() as server:
            server.cancel()
            async with conn, _server.goodbye_on_shutdown(conn):
                await trio.sleep_forever()
        # Closed with input unread: the kernel resets the connection -- after the goodbye.
        assert (await receive_all(client)).endswith(_server.GOODBYE.encode() + b"\n")


async def test_a_client_that_reads_late_hears_goodbye_and_the_handler_ends_once_it_is_sent(
    io_clock: trio.testing.MockClock,
) -> None:
    client, conn = await loopback_pair(rcvbuf=4096)
    shared = _tcp.LockedSendStream(conn)
    start = trio.current_time()
    received = b""

    async def read_late() -> None:
        nonlocal received
        await trio.sleep(_server.GOODBYE_GRACE / 3)
        received = await receive_all(client)

    async with client, trio.open_nursery() as nursery:
        nursery.start_soon(read_late)
        with trio.CancelScope() as server:
            goodbye = _server.goodbye_on_shutdown(conn, shared)
            async with conn, goodbye, trio.open_nursery() as writers:
                writers.start_soon(shared.send_all, b"echo " * 200_000)  # more than fits
                await trio.testing.wait_all_tasks_blocked()  # the socket is full
                server.cancel()
        ended = trio.current_time() - start
    assert received.startswith(b"echo echo")
    assert received.endswith(b"\n" + _server.GOODBYE.encode() + b"\n")  # the echo was cut
    assert _server.GOODBYE_GRACE / 3 <= ended < _server.GOODBYE_GRACE  # not the whole grace
