"""A line-protocol server that stops accepting while its clients finish.

    l, _ := net.Listen("tcp", "localhost:0")
    go func() { <-stop; l.Close() }()              // stop accepting ...
    for { c, err := l.Accept(); if err != nil { break }; wg.Add(1); go handle(c) }
    wg.Wait()                                        // ... and let the clients finish

`trio.serve_tcp` is the accept loop; `handler_nursery=` puts the connections in a nursery of
ours instead of the accept loop's own, so that cancelling the accept loop (a scope of its
own, handed back by `task_status.started`) stops accepting and closes the listener while
the connections go on. An exception in a handler would cancel the whole server:
each handler catches "the client went away" itself. Real loopback sockets.
Guide: "Common program shapes".
"""

from functools import partial

import trio
import trio.testing
from line_reader import LineReader


async def handle(conn: trio.SocketStream) -> None:
    async with conn:
        try:
            async for line in LineReader(conn):
                await conn.send_all(line.upper().encode() + b"\n")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away: this connection only


async def accept_loop(
    handlers: trio.Nursery,
    *,
    task_status: trio.TaskStatus[tuple[trio.CancelScope, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                partial(trio.serve_tcp, handle, 0, host="127.0.0.1", handler_nursery=handlers)
            )
            port = listeners[0].socket.getsockname()[1]
            task_status.started((scope, port))


async def ask(stream: trio.SocketStream, reader: LineReader, text: str) -> str | None:
    await stream.send_all(text.encode() + b"\n")
    return await reader.receive_line()


async def main() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as handlers:
            stop_accepting, port = await handlers.start(accept_loop, handlers)
            client = await trio.open_tcp_stream("127.0.0.1", port)
            reader = LineReader(client)
            assert await ask(client, reader, "hello") == "HELLO"

            stop_accepting.cancel()  # no new connections ...
            await trio.testing.wait_all_tasks_blocked()
            try:
                await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:  # connection refused: the listener is closed
                pass
            else:
                raise AssertionError("still accepting")

            assert await ask(client, reader, "still here") == "STILL HERE"  # ... old ones go on
            await client.aclose()  # the last client leaves: its handler ends, and so does main


if __name__ == "__main__":
    trio.run(main)
