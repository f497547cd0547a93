"""reverb3: reverb2 with exercise 8.8's idle timeout and limits no client outgrows.

gopl.io/ch8/reverb2 with exercise 8.8 (§8.7). A client that shouts nothing for `--idle`
seconds (default 10) is disconnected once its last echoes have gone out. Three limits make
the server safe to expose, where the book's reverb2 is a lesson:

* **Echoes in flight are bounded in number and in bytes**: at most ECHOES per connection,
  holding at most ECHO_BYTES of text (a single shout always fits, however long: at most
  576 KiB, a 64 KiB line of invalid bytes, each one echoed as a 3-byte U+FFFD). While the
  budget is spent the server reads nothing more, and TCP's flow control slows the client.
  With the line reader's 128 KiB, one client holds well under 1 MiB whatever it sends.
* **A client that reads nothing is dropped** once an echo has made no progress for `--idle`
  seconds: otherwise its echoes, and the memory they hold, would wait forever.
* Lines over 64 KiB are cut, with a notice, as in reverb1 and reverb2.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from typing import NoReturn

import trio

from gopl_trio import _lines, _server, _tcp
from gopl_trio._args import positive_seconds

PROG = "reverb3"
IDLE = 10.0  # 8.8: seconds without a shout before a client is disconnected
ECHOES = 100  # echoes in flight per connection
ECHO_BYTES = 512 * 1024  # bytes of echo text in flight per connection
# The most one character can take in its three echoes, as UTF-8 (U+1F52, astral characters);
# the tab, space and newline add 3 bytes per echo.
BYTES_PER_CHAR = 12


class EchoBudget:
    """At most *echoes* echoes and *nbytes* bytes in flight; one echo always fits."""

    def __init__(self, echoes: int = ECHOES, nbytes: int = ECHO_BYTES) -> None:
        self.max_echoes = echoes
        self.max_bytes = nbytes
        self.echoes = 0
        self.bytes = 0
        self._released = trio.Event()

    async def acquire(self, nbytes: int) -> None:
        while self.echoes and (
            self.echoes >= self.max_echoes or self.bytes + nbytes > self.max_bytes
        ):
            await self._released.wait()
        self.echoes += 1
        self.bytes += nbytes

    def release(self, nbytes: int, *, echoes: int = 1) -> None:
        self.echoes -= echoes
        self.bytes -= nbytes
        self._released.set()
        self._released = trio.Event()


def encode_echoes(shout: str) -> list[bytes]:
    """The three echoes of *shout*, ready to send: all that an echo task holds."""
    # Go's fmt.Fprintln(c, "\t", s) puts a space between the operands: "\t SHOUT\n".
    return [f"\t {text}\n".encode() for text in (shout.upper(), shout, shout.lower())]


async def echo(
    conn: trio.abc.SendStream, echoes: list[bytes], delay: float, budget: EchoBudget
) -> None:
    try:
        for i, data in enumerate(echoes):
            if i:
                await trio.sleep(delay)
            await conn.send_all(data)
    finally:
        budget.release(sum(map(len, echoes)))


async def handle_conn(conn: trio.abc.Stream, delay: float, idle: float = IDLE) -> None:
    # Overlapping echoes write to one connection; an echo stuck for `idle` seconds ends it.
    shared = _tcp.LockedSendStream(conn, stall_timeout=idle)
    async with conn, _server.goodbye_on_shutdown(conn, shared):
        try:
            lines = _lines.LineReader(conn)
            budget = EchoBudget()
            async with trio.open_nursery() as echoes:  # closes only after every echo (8.4)
                while True:
                    line = None
                    with trio.move_on_after(idle):  # 8.8: silent for `idle` seconds: hang up
                        line = await lines.receive_line()
                    if line is None:
                        break
                    if line.cut:  # over 64 KiB: we echo only the start of it, and say so
                        await _lines.send_line(shared, f"(line cut to {_lines.MAX_LINE} bytes)")
                    # Bounded memory: while the budget is spent, shouts wait in TCP's buffers.
                    most = 9 + BYTES_PER_CHAR * len(line.text)
                    await budget.acquire(most)
                    three = encode_echoes(line.text)
                    budget.release(most - sum(map(len, three)), echoes=0)  # what was not needed
                    echoes.start_soon(echo, shared, three, delay, budget)
        except* _tcp.PEER_GONE:
            pass  # the client hung up while we were still echoing
        except* trio.TooSlowError:
            pass  # the client has read nothing for `idle` seconds: hang up


async def serve(
    listener: trio.abc.Listener[trio.abc.Stream], delay: float = 1.0, idle: float = IDLE
) -> None:
    async with listener, trio.open_nursery() as nursery:
        while True:
            conn = await listener.accept()
            nursery.start_soon(handle_conn, conn, delay, idle)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delay", type=positive_seconds, default=1.0, help="seconds between echoes"
    )
    parser.add_argument(
        "--idle",
        type=positive_seconds,
        default=IDLE,
        help=f"disconnect a client silent (or not reading) this long (default: {IDLE:g})",
    )


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = _tcp.parse_args(PROG, "Echo each line loud, normal and quiet.", argv, add_arguments)
    serve_args = functools.partial(serve, delay=args.delay, idle=args.idle)
    _server.run(PROG, args.host, args.port, serve_args)


if __name__ == "__main__":
    main()
