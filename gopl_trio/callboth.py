"""Cancel sibling requests when one fails: the `context.WithCancel` example of *Learning Go*.

Not a gopl program: the book's chapter 8 cancels with a `done` channel (§8.9) and mentions the
`context` package only in passing, so we port the short example *Learning Go* uses to introduce
`context.WithCancel` (ch. "The Context", "Cancellation"). Two HTTP servers run on loopback:
a slow one that answers "Slow response" after 2 s, and a fast one that answers "error" when
asked with `error=true` and "ok" otherwise. `call_both` calls them concurrently; if either
call fails, the other is cancelled at once.

In Go, a context made by `WithCancel` is passed into every request and a failing goroutine
calls `cancel()` itself. In trio the nursery is the context: an exception escaping one child
cancels its siblings, and everything awaited inside the nursery is cancellable without being
handed anything. The servers run in a nursery around the client and are cancelled as soon as
it is done, so `true` ends in milliseconds, not after the slow handler or a server's shutdown
wait.

    python -m gopl_trio.callboth true|false [--slow-delay SECONDS]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial

import httpx
import trio

from . import _run
from ._args import seconds
from ._http_server import Handler, Request, Response, serve_http

PROG = "callboth"


class CallError(Exception):
    """A call failed; its sibling must be cancelled."""


async def call_server(
    client: httpx.AsyncClient, label: str, url: str, say: Callable[[str], None]
) -> None:
    try:
        response = await client.get(url)
    except trio.Cancelled:
        say(f"{label} request err: cancelled")  # report, then let the cancellation go on
        raise
    except httpx.HTTPError as exc:
        say(f"{label} request err: {exc}")
        raise CallError(label) from None
    result = response.text
    if result:
        say(f"{label} result: {result}")
    if result == "error":
        say(f"cancelling from {label}")
        raise CallError(label)  # leaving the nursery with an error cancels the sibling


async def call_both(
    error_value: str, slow_url: str, fast_url: str, say: Callable[[str], None]
) -> None:
    async with httpx.AsyncClient() as client:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call_server, client, "slow", slow_url, say)
                nursery.start_soon(
                    call_server, client, "fast", f"{fast_url}?error={error_value}", say
                )
        except* CallError:
            pass  # already reported; the point was to stop the other call
    say("done with both")


def slow_server(delay: float) -> Handler:
    async def handle(request: Request) -> Response:
        await trio.sleep(delay)
        return Response(200, b"Slow response")

    return handle


async def fast_server(request: Request) -> Response:
    if "error=true" in request.query.split("&"):
        return Response(200, b"error")
    return Response(200, b"ok")


async def run(
    error_value: str, slow_delay: float = 2.0, say: Callable[[str], None] = print
) -> None:
    async with trio.open_nursery() as servers:
        slow_url = await servers.start(serve_http, slow_server(slow_delay))
        fast_url = await servers.start(serve_http, fast_server)
        await call_both(error_value, slow_url, fast_url, say)
        servers.cancel_scope.cancel()  # shut both servers down, slow handler included


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Call a slow and a fast server; cancel both if one fails."
    )
    parser.add_argument("error", choices=["true", "false"], help="make the fast server fail")
    parser.add_argument("--slow-delay", type=seconds, default=2.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    # Flush each line, so that piped output, too, shows the 2 s gap between the two results.
    _run.run(PROG, run, args.error, args.slow_delay, partial(print, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
