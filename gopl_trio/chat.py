"""chat: a TCP chat server; every line a client sends goes to every client.

gopl.io/ch8/chat, §8.10, with exercises 8.12-8.15. As in the book, one broadcaster task owns
the set of clients, and each connection has a reader (`handle_conn`) and a writer
(`client_writer`). Go's broadcaster selects over three channels (entering, leaving,
messages); trio has no `select`, so the three travel as tagged events on one channel.

The exercises, in the book's order: a newcomer hears who is present (8.12); a client silent
for `--idle` seconds is disconnected (8.13); the first line a client sends is its name (8.14);
a slow client cannot stall the others (8.15): a client's outgoing queue is bounded and the
broadcaster never waits on it, so a client that falls behind loses messages and is told how
many. Two things Go's chat does not do: control characters in messages are shown as `cat -v`
shows them, and on Ctrl-C every client hears "Server shutting down".

Go's `chan<- string` per client is an `_outbox.Outbox`: besides bounding the queue, it writes
lines for many clients with one task instead of waking a writer per line (see there: at 1,000
clients a task switch per delivery is more than a core).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from collections.abc import Sequence

import attrs
import trio

from gopl_trio import _args, _cancel, _lines, _outbox, _run, _server, _tcp

PROG = "chat"
IDLE = 300.0  # 8.13: seconds of silence before a client is disconnected
QUEUE = 256  # 8.15: messages a client may fall behind before it starts losing them
QUEUE_BYTES = 1024 * 1024  # ... or bytes: a stalled client holds at most this much memory
EVENTS = 64  # events waiting for the broadcaster before readers wait (back-pressure)
FLUSH = 1.0  # seconds a departing client gets to take its last messages
GOODBYE = _server.GOODBYE  # "Server shutting down", as clock and reverb say it
GRACE = _server.GOODBYE_GRACE  # seconds after Ctrl-C in which clients can take the goodbye
NAME_MAX = 32


@attrs.define(eq=False)
class Client:
    """What the broadcaster knows of a client: Go's `client` plus the name of exercise 8.14."""

    name: str
    outgoing: _outbox.Outbox  # Go's `chan<- string`, buffered and never waited on (8.15)


# Go's three channels, as one stream of events.
@attrs.frozen
class Entering:
    client: Client


@attrs.frozen
class Leaving:
    client: Client


@attrs.frozen
class Message:
    text: str


Event = Entering | Leaving | Message


async def broadcaster(events: trio.MemoryReceiveChannel[Event]) -> None:
    clients: set[Client] = set()  # all connected clients
    with events:
        async for first in events:
            # Take every event already waiting before yielding: under load, a client's
            # outbox then sends the lines of several messages in one write.
            for event in [first, *waiting(events)]:
                match event:
                    case Message(text):
                        # Broadcast incoming message to all clients' outgoing queues.
                        line = _outbox.encode(text)  # once for all
                        for cli in clients:
                            cli.outgoing.put(line)
                    case Entering(cli):
                        names = sorted(other.name for other in clients)  # 8.12
                        cli.outgoing.put(
                            "Already here: " + ", ".join(names) if names else "Nobody else is here"
                        )
                        clients.add(cli)
                    case Leaving(cli):
                        clients.discard(cli)
                        cli.outgoing.close()


def waiting(events: trio.MemoryReceiveChannel[Event]) -> list[Event]:
    """The events already in the channel (at most EVENTS), without waiting."""
    got: list[Event] = []
    with contextlib.suppress(trio.WouldBlock, trio.EndOfChannel):
        while len(got) < EVENTS:
            got.append(events.receive_nowait())
    return got


async def handle_conn(
    conn: trio.SocketStream,
    events: trio.MemorySendChannel[Event],
    outgoing: _outbox.Outbox,
    idle: float = IDLE,
) -> None:
    cli = Client(_tcp.peer_name(conn), outgoing)
    async with conn, trio.open_nursery() as nursery:
        nursery.start_soon(client_writer, conn, outgoing, nursery.cancel_scope)
        try:
            await chat_with(cli, _lines.LineReader(conn), events, idle)
        finally:
            outgoing.close()  # the writer sends what is queued, then ends ...
            # ... but a departing client that does not read cannot hold us here.
            nursery.cancel_scope.deadline = trio.current_time() + FLUSH


async def chat_with(
    cli: Client, lines: _lines.LineReader, events: trio.MemorySendChannel[Event], idle: float
) -> None:
    cli.outgoing.put("Enter your name:")  # 8.14: the first line is the name
    first = await receive_line(lines, idle)
    if first is None:
        return
    cli.name = clean_name(first.text) or cli.name
    cli.outgoing.put("You are " + cli.name)
    try:
        await events.send(Message(cli.name + " has arrived"))
        await events.send(Entering(cli))
        while (line := await receive_line(lines, idle)) is not None:
            if line.cut:
                cli.outgoing.put(f"Line dropped: longer than {_lines.MAX_LINE} bytes")
            else:
                await events.send(Message(cli.name + ": " + visible(line.text)))
        if not lines.at_eof:
            cli.outgoing.put(f"Disconnected: idle for {idle:g} seconds")  # 8.13
    except trio.BrokenResourceError:
        pass  # the broadcaster has stopped: the server is shutting down
    finally:
        # The broadcaster must hear that we left (unless it has stopped).
        with trio.CancelScope(shield=True), contextlib.suppress(trio.BrokenResourceError):
            await events.send(Leaving(cli))
            await events.send(Message(cli.name + " has left"))


async def receive_line(lines: _lines.LineReader, idle: float) -> _lines.Line | None:
    """The next line, or None at end of stream or after *idle* seconds of silence (8.13)."""
    with trio.move_on_after(idle):
        return await lines.receive_line()
    return None


def clean_name(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable()).strip()[:NAME_MAX]


def visible(text: str) -> str:
    """*text* with control characters shown as `cat -v` shows them (`^[`, `^M`, `^?`); tabs stay.

    NOTE: Go's chat relays them as they are: one client can clear everyone's screen (ESC [2J)
    or, with a carriage return, overwrite a line with one that seems to come from another.
    """
    return text.translate(_CAT_V)


_CAT_V = {c: "^" + chr(c ^ 0x40) for c in [*range(32), 127] if c != ord("\t")}


async def client_writer(
    conn: trio.SocketStream, outgoing: _outbox.Outbox, done: trio.CancelScope
) -> None:
    try:
        async for data in outgoing:  # what the socket could not take at once
            await conn.send_all(data)
    except _tcp.PEER_GONE:
        pass  # reset or closed: the reader notices the end of input too
    finally:
        done.cancel()  # no writer, no client: stop reading from it too


async def serve(
    listener: trio.abc.Listener[trio.SocketStream],
    *,
    idle: float = IDLE,
    queue: int = QUEUE,
    stop: trio.Event | None = None,
) -> None:
    """Serve until cancelled, or until *stop* is set: then say goodbye to every client."""
    stop = trio.Event() if stop is None else stop  # never set: serve until cancelled
    events_send, events_recv = trio.open_memory_channel[Event](EVENTS)
    outboxes = _outbox.Outboxes()
    connected: set[_outbox.Outbox] = set()  # every client, named or not

    async def accept_loop(handlers: trio.Nursery) -> None:
        while True:
            conn = await listener.accept()  # waits out a full descriptor table
            outgoing = outboxes.open(conn, queue, QUEUE_BYTES)
            connected.add(outgoing)
            handlers.start_soon(handle_and_forget, conn, outgoing)

    async def handle_and_forget(conn: trio.SocketStream, outgoing: _outbox.Outbox) -> None:
        try:
            await handle_conn(conn, events_send, outgoing, idle)
        finally:
            connected.discard(outgoing)

    async with listener, trio.open_nursery() as nursery:
        nursery.start_soon(outboxes.write_forever)
        async with trio.open_nursery() as handlers:
            async with trio.open_nursery() as room:
                room.start_soon(broadcaster, events_recv)
                room.start_soon(accept_loop, handlers)
                await stop.wait()
                handlers.cancel_scope.deadline = trio.current_time() + GRACE
                room.cancel_scope.cancel()  # no more broadcasting, no more accepting
            await listener.aclose()  # no new clients
            for outgoing in connected:
                outgoing.close(last_word=GOODBYE)  # whatever it had queued, this comes next
        nursery.cancel_scope.cancel()  # every handler has ended: so can the outboxes' writer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--idle",
        type=_args.positive_seconds,
        default=IDLE,
        help=f"disconnect a client silent this many seconds (default: {IDLE:g})",
    )
    parser.add_argument(
        "--queue",
        type=_args.positive_int,
        default=QUEUE,
        help=f"messages a slow client may fall behind before losing some (default: {QUEUE})",
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = _tcp.parse_args(PROG, "A chat server.", argv, add_arguments)

    async def run() -> int:
        listener = await _tcp.open_listener(args.host, args.port, PROG)
        print(f"{PROG}: listening on {listener.address}", file=sys.stderr, flush=True)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(set_when_interrupted, stop)
            await serve(listener, idle=args.idle, queue=args.queue, stop=stop)
            nursery.cancel_scope.cancel()
        return 0  # Ctrl-C is how a server ends normally

    _run.run_then_exit(PROG, run, fatal=_tcp.FATAL, describe=_tcp.describe)


async def set_when_interrupted(stop: trio.Event) -> None:
    await _cancel.wait_for_interrupt()
    gc.disable()  # as `_server.run` does: the process ends in a moment; no collections before
    stop.set()


if __name__ == "__main__":
    main()
