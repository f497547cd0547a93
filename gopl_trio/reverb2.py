"""reverb2: an echo server whose echoes of several shouts overlap.

gopl.io/ch8/reverb2, §8.3. Where Go writes `go echo(...)` for each line, each echo becomes a
task in the connection's nursery. Leaving the nursery waits for every echo, so the connection
is closed only after the last one, even when the client half-closes first (netcat3): the fix
that exercise 8.4 asks of the Go program comes with the nursery. The echoes share the
connection through a lock (a trio stream refuses two writers at once).

Like the book's program it starts a task for every line it reads, without limit, and never
hangs up on a silent client: reverb3 adds those limits (exercise 8.8).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from typing import NoReturn

import trio

from gopl_trio import _lines, _server, _tcp
from gopl_trio._args import positive_seconds

PROG = "reverb2"


async def echo(conn: trio.abc.SendStream, shout: str, delay: float) -> None:
    # Go's fmt.Fprintln(c, "\t", s) puts a space between the operands: "\t SHOUT\n".
    await _lines.send_line(conn, "\t " + shout.upper())
    await trio.sleep(delay)
    await _lines.send_line(conn, "\t " + shout)
    await trio.sleep(delay)
    await _lines.send_line(conn, "\t " + shout.lower())


async def handle_conn(conn: trio.abc.Stream, delay: float) -> None:
    shared = _tcp.LockedSendStream(conn)  # overlapping echoes write to one connection
    async with conn, _server.goodbye_on_shutdown(conn, shared):
        try:
            lines = _lines.LineReader(conn)
            async with trio.open_nursery() as echoes:  # closes only after every echo (8.4)
                while line := await lines.receive_line():
                    if line.cut:  # over 64 KiB: we echo only the start of it, and say so
                        await _lines.send_line(shared, f"(line cut to {_lines.MAX_LINE} bytes)")
                    # NOTE: as in the book, one task per line and no limit: a client that pastes
                    # a million lines costs a million tasks, and one that never reads keeps
                    # them all waiting. reverb3 bounds both.
                    echoes.start_soon(echo, shared, line.text, delay)
        except* _tcp.PEER_GONE:
            pass  # the client hung up while we were still echoing


async def serve(listener: trio.abc.Listener[trio.abc.Stream], delay: float = 1.0) -> None:
    async with listener, trio.open_nursery() as nursery:
        while True:
            conn = await listener.accept()
            nursery.start_soon(handle_conn, conn, delay)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delay", type=positive_seconds, default=1.0, help="seconds between echoes"
    )


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = _tcp.parse_args(PROG, "Echo each line loud, normal and quiet.", argv, add_arguments)
    _server.run(PROG, args.host, args.port, functools.partial(serve, delay=args.delay))


if __name__ == "__main__":
    main()
