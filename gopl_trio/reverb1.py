"""reverb1: an echo server that answers each shout loud, normal, then quiet.

gopl.io/ch8/reverb1, §8.3. Connections are served concurrently, but within one
connection the echoes of a shout finish before the next shout is read: shout twice
quickly and the second echo waits for the first one to fade.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from typing import NoReturn

import trio

from gopl_trio import _lines, _server, _tcp
from gopl_trio._args import positive_seconds

PROG = "reverb1"


async def echo(conn: trio.abc.SendStream, shout: str, delay: float) -> None:
    # Go's fmt.Fprintln(c, "\t", s) puts a space between the operands: "\t SHOUT\n".
    await _lines.send_line(conn, "\t " + shout.upper())
    await trio.sleep(delay)
    await _lines.send_line(conn, "\t " + shout)
    await trio.sleep(delay)
    await _lines.send_line(conn, "\t " + shout.lower())


async def handle_conn(conn: trio.abc.Stream, delay: float) -> None:
    async with conn, _server.goodbye_on_shutdown(conn):
        try:
            lines = _lines.LineReader(conn)
            while line := await lines.receive_line():
                if line.cut:  # over 64 KiB: we echo only the start of it, and say so
                    await _lines.send_line(conn, f"(line cut to {_lines.MAX_LINE} bytes)")
                # NOTE: the book's lesson: the next shout waits until this echo has faded.
                await echo(conn, line.text, delay)
        except _tcp.PEER_GONE:
            return  # the client hung up while we were still echoing


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
