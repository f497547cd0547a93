"""chat: a TCP chat server; every line a client sends goes to every client.

gopl.io/ch8/chat, §8.10, with exercises 8.12-8.15. As in the book, one broadcaster task owns
the set of clients, and each connection has a reader (the handler) and a writer task. Go's
broadcaster selects over three channels (entering, leaving, messages); trio has no `select`,
so arrivals, departures and messages travel as tagged events on one channel.

The book's version lets one slow client stall everybody: the broadcaster blocks on that
client's unbuffered channel once its socket buffer is full. Here each client has a bounded
queue and the broadcaster never waits on it: a client that falls behind loses messages and
is told how many (8.15). Also: a newcomer hears who is present (8.12), a client silent for
`--idle` seconds is disconnected (8.13), and the first line a client sends is its name (8.14).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence

import attrs
import trio

from gopl_trio import _net
from gopl_trio._args import positive_int, positive_seconds

PROG = "chat"
IDLE = 300.0  # 8.13: seconds of silence before a client is disconnected
QUEUE = 256  # 8.15: messages a client may fall behind before it starts losing them
QUEUE_BYTES = 1024 * 1024  # ... or bytes: a stalled client holds at most this much memory
EVENTS = 64  # events waiting for the broadcaster before readers wait (back-pressure)
FLUSH = 1.0  # seconds a departing client gets to take its last messages
NAME_MAX = 32
BATCH = 64 * 1024  # bytes a writer sends at once when messages have piled up


@attrs.define(eq=False)
class Client:
    """A connected client as the broadcaster sees it: a name and an outgoing queue.

    Waking a goroutine costs next to nothing; waking a trio task costs 10-20 microseconds,
    and 200 clients times 200 messages a second would be 40,000 wake-ups a second. So while
    a client's writer waits on an empty queue, we write straight to its socket without
    blocking (and without waking the writer), and queue only what the socket cannot take.
    """

    name: str
    outgoing: trio.MemorySendChannel[bytes]
    sock: socket.socket | None = None  # the connection, for direct non-blocking writes
    writer_idle: bool = False  # nothing queued and nothing being written: write directly
    queued_bytes: int = 0
    dropped: int = 0  # messages lost since the client last got one

    def tell(self, message: str) -> None:
        self.send((message + "\n").encode("utf-8", errors="replace"))

    def send(self, data: bytes, count: int = 1) -> None:
        """Deliver *data* (*count* messages) without ever waiting; if the queue is full,
        they are lost (8.15)."""
        try:
            if self.writer_idle and self.sock is not None:
                try:
                    sent = self.sock.send(data)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    return  # reset or closed: the reader will see the end of the connection
                if sent == len(data):
                    return
                data = data[sent:]  # the rest goes first in the queue (which is empty)
                self.writer_idle = False
            else:
                if self.queued_bytes + len(data) > QUEUE_BYTES:
                    raise trio.WouldBlock
                if self.dropped:  # the notice goes where the gap is
                    notice = self.dropped_notice()
                    self.outgoing.send_nowait(notice)
                    self.queued_bytes += len(notice)
                    self.dropped = 0
            self.outgoing.send_nowait(data)
            self.queued_bytes += len(data)
        except trio.WouldBlock:
            self.dropped += count
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # its writer has finished: the client is leaving

    def dropped_notice(self) -> bytes:
        return f"({self.dropped} messages dropped: you are reading too slowly)\n".encode()


# Go's three channels, as one stream of events.
@attrs.frozen
class Arrived:
    client: Client


@attrs.frozen
class Left:
    client: Client


@attrs.frozen
class Message:
    text: str  # one line, or several joined by newlines
    count: int = 1


@attrs.frozen
class Shutdown:
    pass


Event = Arrived | Left | Message | Shutdown


async def broadcaster(events: trio.MemoryReceiveChannel[Event]) -> None:
    clients: set[Client] = set()  # all connected clients
    with events:
        async for first in events:
            for event in with_waiting(first, events):
                match event:
                    case Message(text, count):
                        # Broadcast to every client; a full queue never blocks us.
                        data = (text + "\n").encode("utf-8", errors="replace")
                        for cli in clients:
                            cli.send(data, count)
                    case Arrived(newcomer):
                        names = sorted(cli.name for cli in clients)  # 8.12
                        newcomer.tell(
                            "Already here: " + ", ".join(names) if names else "Nobody else is here"
                        )
                        for cli in clients:
                            cli.tell(newcomer.name + " has arrived")
                        clients.add(newcomer)
                    case Left(leaver):
                        leaver.outgoing.close()  # its writer sends what is queued, then ends
                        if leaver in clients:
                            clients.remove(leaver)
                            for cli in clients:
                                cli.tell(leaver.name + " has left")
                    case Shutdown():
                        for cli in clients:
                            cli.tell("Server shutting down")
                            cli.outgoing.close()
                        return


def with_waiting(first: Event, events: trio.MemoryReceiveChannel[Event]) -> list[Event]:
    """*first* and the events already waiting behind it, consecutive messages joined.

    Under load, messages pile up while we deliver the previous ones; joined, a run of them
    costs each client one write instead of one per message, so the server slows down
    gracefully instead of falling behind.
    """
    merged = [first]
    while len(merged) < EVENTS:
        try:
            event = events.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            break
        last = merged[-1]
        if isinstance(event, Message) and isinstance(last, Message) and len(last.text) < BATCH:
            merged[-1] = Message(last.text + "\n" + event.text, last.count + event.count)
        else:
            merged.append(event)
    return merged


async def handle_conn(
    conn: trio.SocketStream,
    events: trio.MemorySendChannel[Event],
    idle: float = IDLE,
    queue: int = QUEUE,
) -> None:
    async with conn:
        outgoing, queued = trio.open_memory_channel[bytes](queue)
        # A second descriptor for the same connection, for the broadcaster's direct writes.
        with socket.socket(fileno=os.dup(conn.socket.fileno())) as sock:
            sock.setblocking(False)
            cli = Client(_net.peer_name(conn), outgoing, sock)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client_writer, conn, cli, queued, nursery.cancel_scope)
                try:
                    await chat_with(cli, _net.LineReader(conn), events, idle)
                finally:
                    # Let the writer deliver what is queued, but never wait on a stalled client.
                    nursery.cancel_scope.deadline = trio.current_time() + FLUSH
            cli.sock = None


async def chat_with(
    cli: Client, lines: _net.LineReader, events: trio.MemorySendChannel[Event], idle: float
) -> None:
    """Read the client's name, then its messages, until it leaves or falls silent."""
    cli.tell("Enter your name:")  # 8.14
    first = await receive_line(lines, idle)
    if first is None:
        cli.outgoing.close()
        return
    cli.name = clean_name(first.text) or cli.name
    cli.tell("You are " + cli.name)
    try:
        await events.send(Arrived(cli))
        while (line := await receive_line(lines, idle)) is not None:
            if line.cut:
                cli.tell(f"Line dropped: longer than {_net.MAX_LINE} bytes")
            else:
                await events.send(Message(cli.name + ": " + line.text))
        if not lines.at_eof:
            cli.tell(f"Disconnected: idle for {idle:g} seconds")  # 8.13
    except trio.BrokenResourceError:
        pass  # the broadcaster has stopped: the server is shutting down
    finally:
        with trio.CancelScope(shield=True):  # the broadcaster must hear that we left
            try:
                await events.send(Left(cli))
            except trio.BrokenResourceError:
                cli.outgoing.close()


async def receive_line(lines: _net.LineReader, idle: float) -> _net.Line | None:
    """The next line, or None at end of stream or after `idle` seconds of silence."""
    with trio.move_on_after(idle):
        return await lines.receive_line()
    return None


def clean_name(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable()).strip()[:NAME_MAX]


async def client_writer(
    conn: trio.SocketStream,
    cli: Client,
    queued: trio.MemoryReceiveChannel[bytes],
    done: trio.CancelScope,
) -> None:
    try:
        with queued:
            while True:
                # Nothing queued: until something is, the broadcaster may write directly.
                cli.writer_idle = not queued.statistics().current_buffer_used
                try:
                    data = await queued.receive()
                except trio.EndOfChannel:
                    return
                cli.writer_idle = False
                # Send what has piled up in one write: a client that fell behind catches up
                # with one system call instead of one per message.
                batch = [data]
                size = len(data)
                while size < BATCH:
                    try:
                        data = queued.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    batch.append(data)
                    size += len(data)
                cli.queued_bytes -= size
                if cli.dropped and not queued.statistics().current_buffer_used:
                    batch.append(cli.dropped_notice())  # caught up: say what was lost
                    cli.dropped = 0
                await conn.send_all(b"".join(batch))
    except _net.PEER_GONE:
        pass  # reset or closed: the reader notices the end of input too
    finally:
        cli.writer_idle = False
        done.cancel()  # no writer, no client: stop reading from it too


async def serve(
    listener: trio.SocketListener,
    *,
    idle: float = IDLE,
    queue: int = QUEUE,
    stop: trio.Event | None = None,
) -> None:
    """Serve until cancelled, or until *stop* is set: then say goodbye to every client."""
    events_send, events_recv = trio.open_memory_channel[Event](EVENTS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(broadcaster, events_recv)

        async def accept_loop() -> None:
            async with listener, trio.open_nursery() as handlers:
                while True:
                    try:
                        conn = await _net.accept(listener, PROG)
                    except trio.ClosedResourceError:
                        return  # we are shutting down
                    handlers.start_soon(handle_conn, conn, events_send, idle, queue)

        nursery.start_soon(accept_loop)
        if stop is None:
            return  # run until cancelled
        await stop.wait()
        await listener.aclose()  # no new clients
        await events_send.send(Shutdown())  # tells everyone, closes every queue
        nursery.cancel_scope.deadline = trio.current_time() + FLUSH


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--idle",
        type=positive_seconds,
        default=IDLE,
        help=f"disconnect a client silent this many seconds (default: {IDLE:g})",
    )
    parser.add_argument(
        "--queue",
        type=positive_int,
        default=QUEUE,
        help=f"messages a slow client may fall behind before losing some (default: {QUEUE})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _net.parse_args(PROG, "A chat server.", argv, add_arguments)

    async def run(stop: trio.Event) -> None:
        listener = await _net.open_listener(args.host, args.port)
        print(f"{PROG}: listening on {_net.bound_address(listener)}", file=sys.stderr)
        await serve(listener, idle=args.idle, queue=args.queue, stop=stop)

    return _net.run(PROG, run, grace=2 * FLUSH, interrupted_status=0)


if __name__ == "__main__":
    sys.exit(main())
