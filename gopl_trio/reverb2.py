"""reverb2: an echo server whose echoes of several shouts overlap.

gopl.io/ch8/reverb2, §8.3, with exercises 8.4 and 8.8. Where Go writes `go echo(...)`, each
echo becomes a task in the connection's nursery, so (8.4) the connection is closed only
after every echo has finished, even when the client half-closes first (netcat3). A client
silent for `--idle` seconds (default 10) is disconnected (8.8). Unlike Go's, at most ECHOES
shouts echo at once per connection: a client that sends a million lines at once does not
cost a million tasks; its lines wait in TCP's buffers until echoes finish.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from gopl_trio import _net
from gopl_trio._args import positive_seconds

PROG = "reverb2"
ECHOES = 100  # shouts echoing at once per connection; Go's version has no limit


async def echo(conn: trio.abc.SendStream, shout: str, delay: float) -> None:
    # Go's fmt.Fprintln(c, "\t", s) puts a space between the operands: "\t SHOUT\n".
    await _net.send_line(conn, "\t " + shout.upper())
    await trio.sleep(delay)
    await _net.send_line(conn, "\t " + shout)
    await trio.sleep(delay)
    await _net.send_line(conn, "\t " + shout.lower())


async def echo_then_release(
    in_flight: trio.Semaphore, conn: trio.abc.SendStream, shout: str, delay: float
) -> None:
    try:
        await echo(conn, shout, delay)
    finally:
        in_flight.release()


async def handle_conn(conn: trio.SocketStream, delay: float, idle: float = 10.0) -> None:
    shared = _net.LockedSendStream(conn)  # overlapping echoes write to one connection
    async with conn, _net.goodbye_on_shutdown(shared):
        try:
            lines = _net.LineReader(conn)
            in_flight = trio.Semaphore(ECHOES)
            async with trio.open_nursery() as echoes:  # 8.4: close only after every echo
                while True:
                    line = None
                    with trio.move_on_after(idle):  # 8.8: silent for `idle` seconds: hang up
                        line = await lines.receive_line()
                    if line is None:
                        break
                    if line.cut:  # over 64 KiB: we echo only the start of it, and say so
                        await _net.send_line(shared, f"(line cut to {_net.MAX_LINE} bytes)")
                    # Bounded memory: a flood of shouts waits in TCP's buffers, not as tasks.
                    await in_flight.acquire()
                    echoes.start_soon(echo_then_release, in_flight, shared, line.text, delay)
        except* _net.PEER_GONE:
            pass  # the client hung up while we were still echoing


async def serve(listener: trio.SocketListener, delay: float = 1.0, idle: float = 10.0) -> None:
    async with listener, trio.open_nursery() as nursery:
        while True:
            conn = await _net.accept(listener, PROG)
            nursery.start_soon(handle_conn, conn, delay, idle)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delay", type=positive_seconds, default=1.0, help="seconds between echoes"
    )
    parser.add_argument(
        "--idle", type=positive_seconds, default=10.0, help="disconnect after silence"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _net.parse_args(PROG, "Echo each line loud, normal and quiet.", argv, add_arguments)

    async def run(stop: trio.Event) -> None:
        listener = await _net.open_listener(args.host, args.port)
        print(f"{PROG}: listening on {_net.bound_address(listener)}", file=sys.stderr)
        await serve(listener, args.delay, args.idle)

    return _net.run(PROG, run, interrupted_status=0)


if __name__ == "__main__":
    sys.exit(main())
