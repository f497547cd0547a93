"""netcat1: a read-only TCP client that copies what the server sends to standard output.

gopl.io/ch8/netcat1, §8.2. `io.Copy(os.Stdout, conn)` becomes `_net.copy` from the
connection to a trio stream over standard output, so the event loop never blocks on a
slow terminal or pipe. "Connection refused" is one stderr line and exit status 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import trio

from gopl_trio import _net
from gopl_trio._stdio import StdoutStream

PROG = "netcat1"


async def netcat(conn: trio.abc.Stream, stdout: trio.abc.SendStream) -> None:
    async with conn:
        await _net.copy(stdout, conn)


def main(argv: Sequence[str] | None = None) -> int:
    args = _net.parse_args(PROG, "Copy what a TCP server sends to standard output.", argv)

    async def run(stop: trio.Event) -> None:
        conn = await _net.dial(args.host, args.port)
        await netcat(conn, StdoutStream())

    return _net.run(PROG, run)


if __name__ == "__main__":
    sys.exit(main())
