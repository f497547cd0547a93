"""clock2: a TCP server that writes the time once a second to many clients at once.

gopl.io/ch8/clock2, §8.2. Where Go writes `go handleConn(conn)`, we start the handler in a
nursery: every client is served concurrently, and no handler outlives the server. A client that
disconnects ends its handler quietly (Go's handler notices on its next failed write).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NoReturn

import trio

from gopl_trio import _lines, _server, _tcp

PROG = "clock2"


def wall_clock() -> str:
    return time.strftime("%H:%M:%S")  # Go's layout "15:04:05"


async def handle_conn(conn: trio.abc.Stream, now: Callable[[], str] = wall_clock) -> None:
    async with conn, _server.goodbye_on_shutdown(conn):
        try:
            while True:
                await _lines.send_line(conn, now())
                await trio.sleep(1)
        except _tcp.PEER_GONE:
            return  # e.g. the client hung up


async def serve(
    listener: trio.abc.Listener[trio.abc.Stream], now: Callable[[], str] = wall_clock
) -> None:
    async with listener, trio.open_nursery() as nursery:
        while True:
            conn = await listener.accept()
            nursery.start_soon(handle_conn, conn, now)  # handle connections concurrently


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = _tcp.parse_args(PROG, "Serve the time of day, to every client at once.", argv)
    _server.run(PROG, args.host, args.port, serve)


if __name__ == "__main__":
    main()
