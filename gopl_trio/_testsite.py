"""A generated web site for the crawlers' tests and benchmark, served on loopback.

The site (`Site`) is a deterministic tree of pages, numbered breadth first: page *i* links to
its children, back to its parent and to the home page (cycles), and some pages also link to a
missing page (404), a redirect, a PNG file, a slow page and a `mailto:` address. The home page
also links to a redirect loop, an endless page, a port that refuses connections and a page that
answers 500. Every extra URL hangs off exactly one page, so the depth at which a crawler first
meets each URL does not depend on timing and `Site.reachable(depth)` can say exactly which URLs a
depth-limited crawl fetches.

Serve it with `url = await nursery.start(serve_site, site)`, or in its own process (the
benchmark does) with ``python -m gopl_trio._testsite --pages 3000``: it prints its base URL on
the first line of standard output and serves until killed.
"""

from __future__ import annotations

import argparse
import collections
import socket
import sys
from collections.abc import AsyncGenerator

import attrs
import trio

from ._args import port, positive_int, seconds
from ._http_server import Request, Response, serve_http, serve_until_cancelled
from ._run import run

__all__ = ["Site", "closed_port_url", "serve_site"]

PROG = "_testsite"


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens: a port the kernel just handed out to
    a socket that never listened and is closed again (port 1 may be in use by another test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)  # enough of a PNG for a Content-Type check


@attrs.define
class Site:
    """A generated site of *pages* HTML pages; see the module docstring for its shape."""

    pages: int = 300
    fanout: int = 4
    extras_every: int = 7  # every 7th page gets the extra (bad, slow, non-HTML) links
    slow_delay: float = 0.05  # seconds the /slow/ pages take
    page_delay: float = 0.0  # seconds every ordinary page takes
    filler: int = 2000  # bytes of text per page, so parsing has something to chew on
    refused_url: str = attrs.Factory(lambda: closed_port_url())  # nothing listens there
    # Filled in while serving: how often each path was requested, and concurrency.
    hits: collections.Counter[str] = attrs.Factory(collections.Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    slow_started: trio.Event = attrs.Factory(trio.Event)  # set when a slow page is requested
    slow_cancelled: trio.Event = attrs.Factory(trio.Event)  # set when one is cancelled

    def children(self, i: int) -> range:
        return range(
            min(self.fanout * i + 1, self.pages), min(self.fanout * i + 1 + self.fanout, self.pages)
        )

    def links(self, i: int) -> list[str]:
        """The hrefs on page *i*, as written in its HTML (some are relative)."""
        hrefs = [f"/p/{c}.html" for c in self.children(i)]
        if i > 0:
            hrefs += [f"{(i - 1) // self.fanout}.html", "/", f"#section-{i}"]  # parent, home
        if i % self.extras_every == 3:
            hrefs += [
                f"/missing/{i}.html",
                f"/r/{i}",
                f"/img/{i}.png",
                f"/slow/{i}.html",
                f"mailto:webmaster{i}@example.invalid",
                "http://[::1",  # malformed: skipped like Go's links.Extract does
            ]
        if i == 0:
            hrefs += [self.refused_url, "/loop/a", "/huge.html", "/error.html"]
        return hrefs

    def page(self, i: int) -> bytes:
        items = "\n".join(
            f'<li><a class="x" href="{h}">link {n}</a></li>' for n, h in enumerate(self.links(i))
        )
        text = ("Lorem ipsum dolor sit amet &amp; consectetur. " * (self.filler // 46 + 1))[
            : self.filler
        ]
        return (
            f"<!DOCTYPE html>\n<html><head><title>Page {i}</title>"
            f'<link rel="stylesheet" href="/style.css"></head>\n'
            f"<body><h1 id=top>Page {i}</h1><p>{text}</p>\n<ul>\n{items}\n</ul>\n"
            f"<p><img src=/img/{i}.png alt=''> <a>no href</a></p></body></html>\n"
        ).encode()

    def reachable(self, depth: int | None = None) -> set[str]:
        """Paths a crawl from "/" fetches when links more than *depth* hops away are skipped.

        Bad links are included (a crawler tries them and reports the error); `mailto:` links
        and malformed ones are not.
        """
        seen: dict[str, int] = {"/": 0}
        frontier = ["/"]
        while frontier:
            path = frontier.pop(0)
            d = seen[path]
            if depth is not None and d >= depth:
                continue
            for nxt in self._targets(path):
                if nxt not in seen:
                    seen[nxt] = d + 1
                    frontier.append(nxt)
        return set(seen)

    def _targets(self, path: str) -> list[str]:
        """Absolute link targets of *path*, as a crawler resolves them (after redirects)."""
        i = self._page_number(path)
        if i is not None:
            out = []
            for h in self.links(i):
                if h.startswith(("mailto:", "#", "http://[")):
                    continue
                if not h.startswith(("/", "http:")):
                    h = f"/p/{h}"  # relative to /p/N.html
                out.append(h)
            return out
        if path.startswith("/r/"):  # redirects to /landing/N/, whose relative link goes deeper
            return [f"/landing/{path[3:]}/next.html", "/"]
        if path.startswith("/landing/") and path.endswith("/next.html"):
            return ["/"]
        return []

    def _page_number(self, path: str) -> int | None:
        if path == "/":
            return 0
        if path.startswith("/p/") and path.endswith(".html"):
            try:
                i = int(path[3:-5])
            except ValueError:
                return None
            if 0 <= i < self.pages and str(i) == path[3:-5]:
                return i
        return None

    async def handle(self, request: Request) -> Response:
        path = request.path
        self.hits[path] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._respond(path)
        finally:
            self.in_flight -= 1

    async def _respond(self, path: str) -> Response:
        html = "text/html; charset=utf-8"
        i = self._page_number(path)
        if i is not None:
            await trio.sleep(self.page_delay)
            return Response(200, self.page(i), html)
        if path.startswith("/r/"):
            return Response(302, b"", headers=[("Location", f"/landing/{path[3:]}/")])
        if path.startswith("/landing/"):
            if path.endswith("/next.html"):
                return Response(200, b'<a href="/">home</a>', html)
            return Response(200, b'<p><a href="next.html">next</a></p>', html)
        if path.startswith("/img/"):
            return Response(200, PNG, "image/png")
        if path.startswith("/slow/"):
            self.slow_started.set()
            try:
                await trio.sleep(self.slow_delay)
            except trio.Cancelled:
                self.slow_cancelled.set()  # the client hung up: its handler was cancelled
                raise
            return Response(200, b'<a href="/">home</a>', html)
        if path == "/loop/a":
            return Response(302, b"", headers=[("Location", "/loop/b")])
        if path == "/loop/b":
            return Response(302, b"", headers=[("Location", "/loop/a")])
        if path == "/huge.html":
            return Response(200, _endless_page, html)
        if path == "/error.html":
            return Response(500, b"oops\n")
        return Response(404, b"not found\n")


async def _endless_page() -> AsyncGenerator[bytes, None]:
    chunk = b"<p>" + b"all work and no play " * 3000 + b"</p>\n"
    while True:
        yield chunk


async def serve_site(
    site: Site,
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve *site*; `await nursery.start(serve_site, site)` returns its base URL."""
    await serve_http(site.handle, port, host, task_status=task_status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Serve the generated test site.")
    parser.add_argument("--pages", type=positive_int, default=3000)
    parser.add_argument("--slow-delay", type=seconds, default=0.05)
    parser.add_argument("--port", type=port, default=0)
    args = parser.parse_args(argv)
    site = Site(pages=args.pages, slow_delay=args.slow_delay)
    run(PROG, serve_until_cancelled, site.handle, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
