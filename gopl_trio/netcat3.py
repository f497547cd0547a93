"""netcat3: like netcat2, but at the end of input it waits for the server to finish.

gopl.io/ch8/netcat3, §8.4.1, with exercise 8.3. Go's main goroutine waits on a `done`
channel for the background copy; here leaving the nursery waits for that task. At end of
input we half-close the connection (`send_eof`, Go's `CloseWrite`): the server reads EOF
but can still answer, and we print its replies until it closes its side.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import trio

from gopl_trio import _run, _tcp
from gopl_trio._stdio import StdinStream, StdoutStream

PROG = "netcat3"


async def netcat(
    conn: trio.abc.HalfCloseableStream,
    stdin: trio.abc.ReceiveStream,
    stdout: trio.abc.SendStream,
) -> None:
    async with conn, trio.open_nursery() as nursery:

        async def background() -> None:
            await _tcp.copy(stdout, conn)
            print("done", file=sys.stderr)  # the book logs "done" when the server closes
            nursery.cancel_scope.cancel()  # the server hung up: stop reading input too

        nursery.start_soon(background)
        await _tcp.copy(conn, stdin)
        await conn.send_eof()  # 8.3: close our half only; the nursery waits for `background`


async def dial_and_copy(host: str, port: int) -> None:
    await netcat(await _tcp.dial(host, port), StdinStream(), StdoutStream())


def main(argv: Sequence[str] | None = None) -> None:
    args = _tcp.parse_args(PROG, "Copy standard input to a TCP server and back.", argv)
    _run.run(PROG, dial_and_copy, args.host, args.port, fatal=_tcp.FATAL, describe=_tcp.describe)


if __name__ == "__main__":
    main()
