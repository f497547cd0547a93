"""netcat2: a TCP client that copies standard input to the server and the server's
replies to standard output, both at once.

gopl.io/ch8/netcat2, §8.3. The background copy (`go mustCopy(os.Stdout, conn)`) is a task
in a nursery. Like the Go program it stops as soon as standard input ends, so replies
still on their way are lost (netcat3 fixes that); unlike it, it also stops when the
server hangs up instead of waiting for the next line of input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import trio

from gopl_trio import _net
from gopl_trio._stdio import StdinStream, StdoutStream

PROG = "netcat2"


async def netcat(
    conn: trio.abc.Stream, stdin: trio.abc.ReceiveStream, stdout: trio.abc.SendStream
) -> None:
    async with conn, trio.open_nursery() as nursery:

        async def background() -> None:
            await _net.copy(stdout, conn)
            nursery.cancel_scope.cancel()  # the server hung up: stop reading input too

        nursery.start_soon(background)
        await _net.copy(conn, stdin)
        nursery.cancel_scope.cancel()  # end of input: exit now, as the book's program does


def main(argv: Sequence[str] | None = None) -> int:
    args = _net.parse_args(PROG, "Copy standard input to a TCP server and back.", argv)

    async def run(stop: trio.Event) -> None:
        conn = await _net.dial(args.host, args.port)
        await netcat(conn, StdinStream(), StdoutStream())

    return _net.run(PROG, run)


if __name__ == "__main__":
    sys.exit(main())
