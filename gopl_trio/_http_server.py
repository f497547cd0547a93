"""A small HTTP/1.1 server on h11, and a handler that serves a directory of files.

`serve_http` stands in for Go's `net/http` server and `httptest.NewServer` in the HTTP
programs' tests and benchmarks: `url = await nursery.start(serve_http, handler)` binds a free
port on 127.0.0.1, and cancelling the nursery stops it. It serves many connections at once
(trio's listen backlog, not `http.server`'s five) and cancels a handler whose client hangs up,
as Go's request context does. Nothing here touches the network beyond the address it binds.

`StaticFiles` serves a directory, so that the crawlers and `mirror` can be tried on a real
site nobody here wrote (Debian's `python3-doc`) without leaving loopback:

    python -m gopl_trio._http_server DIR [--port N]

prints its base URL on the first line of standard output and serves until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import http
import mimetypes
import os
import sys
import urllib.parse
from collections.abc import AsyncGenerator, Awaitable, Callable
from functools import partial

import attrs
import h11
import trio

from ._args import port
from ._run import run

__all__ = [
    "Handler",
    "Request",
    "Response",
    "StaticFiles",
    "serve_http",
    "serve_until_cancelled",
]

PROG = "_http_server"
MAX_REQUEST_BYTES = 64 * 1024


@attrs.frozen
class Request:
    method: str
    target: str  # path and query, e.g. "/p/3.html?x=1"
    headers: list[tuple[str, str]]

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


@attrs.frozen
class Response:
    status: int = 200
    body: bytes | Callable[[], AsyncGenerator[bytes, None]] = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = attrs.Factory(list)


Handler = Callable[[Request], Awaitable[Response]]


async def serve_http(
    handler: Handler,
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve *handler* over HTTP/1.1 until cancelled; report the base URL to `nursery.start`."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, partial(_serve_connection, handler), port, host=host)
        )
        bound_host, bound_port = listeners[0].socket.getsockname()[:2]
        task_status.started(f"http://{bound_host}:{bound_port}")


async def _serve_connection(handler: Handler, stream: trio.SocketStream) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
    try:
        while True:
            event = await _next_event(conn, stream)
            if not isinstance(event, h11.Request):
                return  # the client closed the connection (or broke the protocol)
            while not isinstance(await _next_event(conn, stream), h11.EndOfMessage):
                pass  # a request body: none of our pages wants one
            request = Request(
                event.method.decode("ascii"),
                event.target.decode("ascii", "replace"),
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers],
            )
            response = await _run_handler(handler, request, conn, stream)
            if response is None:
                return  # the client hung up before the answer was ready
            await _send_response(conn, stream, response, head=request.method == "HEAD")
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        return  # the client went away mid-response, or spoke nonsense: drop the connection
    finally:
        with trio.move_on_after(1) as cleanup:
            cleanup.shield = True
            await stream.aclose()


async def _run_handler(
    handler: Handler, request: Request, conn: h11.Connection, stream: trio.SocketStream
) -> Response | None:
    """Run *handler*, cancelling it if the client closes the connection meanwhile.

    Like the request context of Go's net/http: a slow handler stops as soon as nobody is
    waiting for its answer. Bytes that arrive meanwhile (a pipelined request) are kept.
    """
    response = None
    async with trio.open_nursery() as nursery:

        async def watch_for_hangup() -> None:
            try:
                while data := await stream.receive_some(16384):
                    conn.receive_data(data)
            except trio.BrokenResourceError:
                pass
            nursery.cancel_scope.cancel()

        nursery.start_soon(watch_for_hangup)
        try:
            response = await handler(request)
        except Exception as exc:  # one bad page must not take the server down
            response = Response(500, f"internal error: {exc!r}\n".encode())
        nursery.cancel_scope.cancel()
    return response


async def _next_event(conn: h11.Connection, stream: trio.SocketStream) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await stream.receive_some(16384))


async def _send_response(
    conn: h11.Connection, stream: trio.SocketStream, resp: Response, *, head: bool = False
) -> None:
    headers = [("Content-Type", resp.content_type), *resp.headers]
    if isinstance(resp.body, bytes):
        headers.append(("Content-Length", str(len(resp.body))))
    # h11 chooses chunked encoding when there is no Content-Length.
    reason = http.HTTPStatus(resp.status).phrase.encode()
    status_line = h11.Response(status_code=resp.status, headers=headers, reason=reason)
    await stream.send_all(conn.send(status_line))
    if head:
        pass  # the headers describe the body, which is not sent
    elif isinstance(resp.body, bytes):
        if resp.body:
            await stream.send_all(conn.send(h11.Data(data=resp.body)))
    else:
        async with contextlib.aclosing(resp.body()) as chunks:
            async for chunk in chunks:
                await stream.send_all(conn.send(h11.Data(data=chunk)))
    await stream.send_all(conn.send(h11.EndOfMessage()))


# --- A directory of static files ---------------------------------------------------------------


@attrs.define
class StaticFiles:
    """A handler serving the files under *root*, as a plain web server does.

    `/dir/` serves `dir/index.html`; `/dir` (a directory without the slash) redirects to
    `/dir/`, so that relative links on the index page resolve as the browser expects. Paths are
    percent-decoded and never leave *root*. Files are read in a worker thread and kept in
    memory up to *cache_bytes*, so a benchmark's repeated crawls measure the clients, not the disk.
    """

    root: str
    cache_bytes: int = 256 * 1024 * 1024
    _cache: dict[str, bytes] = attrs.field(factory=dict, init=False)
    _cached: int = attrs.field(default=0, init=False)

    async def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"method not allowed\n", headers=[("Allow", "GET, HEAD")])
        parts = [urllib.parse.unquote(p) for p in request.path.split("/")]
        if any(p in (".", "..") or "\0" in p or os.sep in p for p in parts):
            return Response(404, b"not found\n")
        path = os.path.join(self.root, *parts)
        if await trio.to_thread.run_sync(os.path.isdir, path):
            if not request.path.endswith("/"):
                location = request.path + "/" + (f"?{request.query}" if request.query else "")
                return Response(301, b"", headers=[("Location", location)])
            path = os.path.join(path, "index.html")
        try:
            body = await self._read(path)
        except OSError:
            return Response(404, b"not found\n")
        ctype, encoding = mimetypes.guess_type(path)
        if ctype is None or encoding is not None:
            ctype = "application/octet-stream"
        elif ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        return Response(200, body, ctype)

    async def _read(self, path: str) -> bytes:
        body = self._cache.get(path)
        if body is None:
            body = await trio.to_thread.run_sync(_read_file, path)
            if self._cached + len(body) <= self.cache_bytes:
                self._cache[path] = body
                self._cached += len(body)
        return body


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


async def serve_until_cancelled(handler: Handler, port: int = 0) -> None:
    """Serve *handler* on 127.0.0.1 and print the base URL (for a server in its own process)."""
    async with trio.open_nursery() as nursery:
        url = await nursery.start(serve_http, handler, port)
        print(url, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Serve a directory of static files on loopback."
    )
    parser.add_argument("root", metavar="DIR")
    parser.add_argument("--port", type=port, default=0)
    args = parser.parse_args(argv)
    if not os.path.isdir(args.root):
        parser.error(f"not a directory: {args.root}")
    run(PROG, serve_until_cancelled, StaticFiles(args.root), args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
