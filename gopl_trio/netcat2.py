"""netcat2: a TCP client that copies standard input to the server and the server's
replies to standard output, both at once.

gopl.io/ch8/netcat2, §8.3. The background copy (`go mustCopy(os.Stdout, conn)`) is a task
in a nursery. Like the Go program it stops as soon as standard input ends, so replies
still on their way are lost (netcat3 fixes that); unlike it, it also stops when the
server hangs up instead of waiting for the next line of input.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from gopl_trio import _run, _tcp
from gopl_trio._stdio import StdinStream, StdoutStream

PROG = "netcat2"


async def netcat(
    conn: trio.abc.Stream, stdin: trio.abc.ReceiveStream, stdout: trio.abc.SendStream
) -> None:
    async with conn, trio.open_nursery() as nursery:

        async def background() -> None:
            await _tcp.copy(stdout, conn)
            nursery.cancel_scope.cancel()  # the server hung up: stop reading input too

        nursery.start_soon(background)
        await _tcp.copy(conn, stdin)
        # NOTE: the book's flaw, kept: at end of input we exit at once, and the replies
        # still on their way are lost (netcat3 waits for them).
        nursery.cancel_scope.cancel()


async def dial_and_copy(host: str, port: int) -> None:
    await netcat(await _tcp.dial(host, port), StdinStream(), StdoutStream())


def main(argv: Sequence[str] | None = None) -> None:
    args = _tcp.parse_args(PROG, "Copy standard input to a TCP server and back.", argv)
    _run.run(PROG, dial_and_copy, args.host, args.port, fatal=_tcp.FATAL, describe=_tcp.describe)


if __name__ == "__main__":
    main()
