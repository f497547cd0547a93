"""netcat1: a read-only TCP client that copies what the server sends to standard output.

gopl.io/ch8/netcat1, §8.2. `io.Copy(os.Stdout, conn)` becomes `_tcp.copy` from the
connection to a trio stream over standard output, so the event loop never blocks on a
slow terminal or pipe. "Connection refused" is one stderr line and exit status 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from gopl_trio import _run, _tcp
from gopl_trio._stdio import StdoutStream

PROG = "netcat1"


async def netcat(conn: trio.abc.Stream, stdout: trio.abc.SendStream) -> None:
    async with conn:
        await _tcp.copy(stdout, conn)


async def dial_and_copy(host: str, port: int) -> None:
    await netcat(await _tcp.dial(host, port), StdoutStream())


def main(argv: Sequence[str] | None = None) -> None:
    args = _tcp.parse_args(PROG, "Copy what a TCP server sends to standard output.", argv)
    _run.run(PROG, dial_and_copy, args.host, args.port, fatal=_tcp.FATAL, describe=_tcp.describe)


if __name__ == "__main__":
    main()
