"""Mirror a web site into a directory: exercise 8.7 (§8.6).

The exercise asks for a concurrent program that fetches every page reachable from a URL,
only pages within the original domain, writes each to a local directory, and alters the links
in the mirrored pages so that they refer to the local copies. Here the design of the book's
crawl2 (gopl.io/ch8/crawl2) does the crawling (a task per unseen link, a
`trio.CapacityLimiter(20)` around each fetch and write, the nursery as the work counter),
restricted to the start URL's host, redirects included.

Each page is saved under the path of its final URL (after redirects): `/` and `/dir/` as
`index.html`, a query string appended as `?query`, as `wget` does. A file is written to a
temporary name and renamed over the old one, so the directory only ever holds complete files
and running the program again overwrites a previous mirror cleanly. When the crawl is done
every saved HTML page has its links converted, as `wget --convert-links` does: a link to a
saved page becomes a relative path to the local file, a relative link to anything not saved
(beyond -depth, an error, a stylesheet or image: only `<a href>` links are followed) becomes
an absolute URL to the original. Pressing Enter (exercise 8.10) or Ctrl-C stops the crawl at
once; the files saved so far are complete, but their links are not converted.

    python -m gopl_trio.mirror [-depth N] [-timeout S] URL DIR
"""

from __future__ import annotations

import argparse
import os
import posixpath
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TextIO

import attrs
import httpx
import trio
from selectolax.lexbor import LexborHTMLParser

from ._args import seconds
from ._cancel import wait_for_keypress
from ._crawl import Seen, Summary, check_start_urls, depth, run_until_cancelled, start_hosts
from ._run import run
from .links import TIMEOUT, FetchError, Page, Stats, decode, fetch, new_client, page_links

PROG = "mirror"
MAX_IN_FLIGHT = 20

# The attributes whose URLs are converted (wget converts these and more).
URL_ATTRIBUTES = {"a": "href", "area": "href", "link": "href", "img": "src", "script": "src"}


@attrs.frozen
class Saved:
    path: str  # relative to the mirror's directory, "/"-separated
    url: str  # the final URL it was fetched from
    charset: str | None  # None: not an HTML page


@attrs.define
class Mirror:
    client: httpx.AsyncClient
    nursery: trio.Nursery
    seen: Seen
    root: str
    time_limit: float
    out: TextIO
    err: TextIO
    stats: Stats | None
    summary: Summary
    tokens: trio.CapacityLimiter = attrs.Factory(lambda: trio.CapacityLimiter(MAX_IN_FLIGHT))
    saved: dict[str, Saved] = attrs.Factory(dict)  # URL (as linked, and final) -> its file

    def visit(self, unseen: list[str]) -> None:
        for link in unseen:
            self.nursery.start_soon(self.save, link)

    async def save(self, url: str) -> None:
        self.summary.crawled += 1
        try:
            async with self.tokens:  # bounds requests and file writes in flight alike
                page = await fetch(self.client, url, time_limit=self.time_limit, stats=self.stats)
                saved = Saved(local_path(page.url), page.url, html_charset(page))
                await trio.to_thread.run_sync(write_file, self.root, saved.path, page.body)
                links = [] if saved.charset is None else await page_links(page, self.stats)
        except FetchError as exc:
            self.fail(str(exc))
            return
        except OSError as exc:
            self.fail(f"{url}: cannot save: {exc.strerror or exc}: {exc.filename}")
            return
        self.saved[url] = self.saved[page.url] = saved
        self.summary.fetched += 1
        print(os.path.join(self.root, saved.path), file=self.out)
        self.visit(self.seen.fetched(url, links))

    def fail(self, message: str) -> None:
        self.summary.failed += 1
        print(f"{PROG}: {message}", file=self.err)

    async def convert_links(self) -> None:
        """Point the links of every saved HTML page at the local copies (one page at a time,
        each rewritten completely or not at all)."""
        pages = {saved.path: saved for saved in self.saved.values() if saved.charset is not None}
        local = {url: saved.path for url, saved in self.saved.items()}
        for saved in pages.values():
            try:
                await trio.to_thread.run_sync(convert_page, self.root, saved, local, self.stats)
            except OSError as exc:
                self.fail(f"{saved.url}: cannot convert links: {exc.strerror or exc}")


def html_charset(page: Page) -> str | None:
    """The charset of an HTML *page* (UTF-8 unless its Content-Type says), None if not HTML."""
    mime, _, params = page.content_type.partition(";")
    if mime.strip().lower() not in ("text/html", "application/xhtml+xml"):
        return None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or "utf-8"
    return "utf-8"


def local_path(url: str) -> str:
    """Where the page at *url* is saved, relative to the mirror's directory.

    Raises FetchError for a URL whose path cannot name a file safely (a `..` or an empty
    segment once percent-decoded): nothing may be written outside the directory.
    """
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    if path.endswith("/"):
        path += "index.html"
    segments = [urllib.parse.unquote(segment) for segment in path[1:].split("/")]
    if any(s in ("", ".", "..") or "/" in s or "\0" in s for s in segments):
        raise FetchError(f"{url}: no safe local file name for this path")
    if parts.query:
        segments[-1] += "?" + parts.query.replace("/", "%2F")
    return "/".join(segments)


def write_file(root: str, path: str, data: bytes) -> None:
    """Write *data* to *root*/*path* atomically: a temporary file renamed over the old one."""
    full = os.path.join(root, *path.split("/"))
    directory, name = os.path.split(full)
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, full)
    except BaseException:
        os.unlink(temporary)
        raise


def convert_page(root: str, page: Saved, local: dict[str, str], stats: Stats | None) -> None:
    """Rewrite the links of one saved HTML page (see the module docstring)."""
    cpu = time.thread_time()
    assert page.charset is not None
    full = os.path.join(root, *page.path.split("/"))
    with open(full, "rb") as f:
        text = decode(Page(page.url, 200, "OK", f"text/html; charset={page.charset}", f.read()))
    tree = LexborHTMLParser(text)
    here = posixpath.dirname(page.path)
    targets: dict[str, str | None] = {}  # href without its #fragment -> what it becomes
    changed = False
    for node in tree.css(", ".join(f"{tag}[{attr}]" for tag, attr in URL_ATTRIBUTES.items())):
        attr = URL_ATTRIBUTES[node.tag or ""]
        value = node.attributes.get(attr)
        if value is None:
            continue
        href, hash_sign, fragment = value.strip().partition("#")
        if not href:
            continue  # a link within this page
        if href not in targets:  # pages repeat their links: convert each once
            targets[href] = converted(href, page.url, here, local)
        new = targets[href]
        if new is not None and new + hash_sign + fragment != value:
            node.attrs[attr] = new + hash_sign + fragment
            changed = True
    if changed:
        write_file(root, page.path, (tree.html or "").encode(page.charset, "xmlcharrefreplace"))
    if stats is not None:
        stats.parse_cpu += time.thread_time() - cpu


def converted(href: str, base_url: str, here: str, local: dict[str, str]) -> str | None:
    """What a link to *href* (without a fragment) on the page at *base_url*, saved in the
    directory *here*, becomes: a relative path to the local copy, or the absolute URL of what
    was not saved; None for a link that is not http(s)."""
    try:
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(base_url, href))
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None  # mailto:, javascript: and the like
    absolute = urllib.parse.urlunsplit(parts)
    target = local.get(absolute)
    if target is None:  # not saved: a relative link would break, point it at the original
        return absolute
    return urllib.parse.quote(posixpath.relpath(target, here or "."))


async def mirror(
    url: str,
    directory: str,
    *,
    max_depth: int | None = None,
    time_limit: float = TIMEOUT,
    cancel: Callable[[], Awaitable[object]] = wait_for_keypress,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stats: Stats | None = None,
) -> Summary:
    """Mirror the pages of *url*'s host reachable from *url* into *directory*."""
    summary = Summary()
    start = check_start_urls(PROG, [url], summary, err)
    try:
        await trio.to_thread.run_sync(partial(os.makedirs, directory, exist_ok=True))
    except OSError as exc:
        print(f"{PROG}: {directory}: cannot create: {exc.strerror or exc}", file=err)
        summary.failed += 1
        return summary
    seen = Seen(max_depth, start_hosts(start, same_host=True))
    async with new_client(max_connections=2 * MAX_IN_FLIGHT, hosts=seen.hosts) as client:

        async def work() -> None:
            async with trio.open_nursery() as nursery:
                site = Mirror(
                    client, nursery, seen, directory, time_limit, out, err, stats, summary
                )
                site.visit(seen.start(start))
            await site.convert_links()

        summary.interrupted = await run_until_cancelled(work, cancel)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Save the pages of a web site reachable from URL into DIR."
    )
    parser.add_argument(
        "-depth",
        type=depth,
        default=None,
        help="save only pages at most this many links from URL (default: no limit)",
    )
    parser.add_argument(
        "-timeout", type=seconds, default=TIMEOUT, help="seconds allowed for one request"
    )
    parser.add_argument("url", metavar="URL")
    parser.add_argument("directory", metavar="DIR")
    args = parser.parse_args(argv)
    summary = run(
        PROG,
        partial(mirror, args.url, args.directory, max_depth=args.depth, time_limit=args.timeout),
    )
    if summary.interrupted:
        print(f"{summary.line(PROG)}; links not converted", file=sys.stderr)
    return summary.exit_status()


if __name__ == "__main__":
    sys.exit(main())
