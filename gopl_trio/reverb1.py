"""reverb1: an echo server that answers each shout loud, normal, then quiet.

gopl.io/ch8/reverb1, §8.3. Connections are served concurrently, but within one
connection the echoes of a shout finish before the next shout is read: shout twice
quickly and the second echo waits for the first one to fade.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from gopl_trio import _net
from gopl_trio._args import positive_seconds

PROG = "reverb1"


async def echo(conn: trio.abc.SendStream, shout: str, delay: float) -> None:
    # Go's fmt.Fprintln(c, "\t", s) puts a space between the operands: "\t SHOUT\n".
    await _net.send_line(conn, "\t " + shout.upper())
    await trio.sleep(delay)
    await _net.send_line(conn, "\t " + shout)
    await trio.sleep(delay)
    await _net.send_line(conn, "\t " + shout.lower())


async def handle_conn(conn: trio.SocketStream, delay: float) -> None:
    async with conn, _net.goodbye_on_shutdown(conn):
        try:
            lines = _net.LineReader(conn)
            while line := await lines.receive_line():
                if line.cut:  # over 64 KiB: we echo only the start of it, and say so
                    await _net.send_line(conn, f"(line cut to {_net.MAX_LINE} bytes)")
                await echo(conn, line.text, delay)
        except _net.PEER_GONE:
            return  # the client hung up while we were still echoing


async def serve(listener: trio.SocketListener, delay: float = 1.0) -> None:
    async with listener, trio.open_nursery() as nursery:
        while True:
            conn = await _net.accept(listener, PROG)
            nursery.start_soon(handle_conn, conn, delay)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delay", type=positive_seconds, default=1.0, help="seconds between echoes"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _net.parse_args(PROG, "Echo each line loud, normal and quiet.", argv, add_arguments)

    async def run(stop: trio.Event) -> None:
        listener = await _net.open_listener(args.host, args.port)
        print(f"{PROG}: listening on {_net.bound_address(listener)}", file=sys.stderr)
        await serve(listener, args.delay)

    return _net.run(PROG, run, interrupted_status=0)


if __name__ == "__main__":
    sys.exit(main())
