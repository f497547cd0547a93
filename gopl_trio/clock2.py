"""clock2: a TCP server that writes the time once a second to many clients at once.

gopl.io/ch8/clock2, §8.2. Where Go writes `go handleConn(conn)`, we start the handler in a
nursery: every client is served concurrently, and no handler outlives the server. A client that
disconnects ends its handler quietly (Go's handler notices on its next failed write).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

import trio

from gopl_trio import _net

PROG = "clock2"


def wall_clock() -> str:
    return time.strftime("%H:%M:%S")  # Go's layout "15:04:05"


async def handle_conn(conn: trio.SocketStream, now: Callable[[], str] = wall_clock) -> None:
    async with conn, _net.goodbye_on_shutdown(conn):
        try:
            while True:
                await _net.send_line(conn, now())
                await trio.sleep(1)
        except _net.PEER_GONE:
            return  # e.g. the client hung up


async def serve(listener: trio.SocketListener, now: Callable[[], str] = wall_clock) -> None:
    async with listener, trio.open_nursery() as nursery:
        while True:
            conn = await _net.accept(listener, PROG)
            nursery.start_soon(handle_conn, conn, now)  # handle connections concurrently


def main(argv: Sequence[str] | None = None) -> int:
    args = _net.parse_args(PROG, "Serve the time of day, to every client at once.", argv)

    async def run(stop: trio.Event) -> None:
        listener = await _net.open_listener(args.host, args.port)
        print(f"{PROG}: listening on {_net.bound_address(listener)}", file=sys.stderr)
        await serve(listener)

    return _net.run(PROG, run, interrupted_status=0)


if __name__ == "__main__":
    sys.exit(main())
