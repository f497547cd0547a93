"""Fetching pages and extracting their links: gopl.io/ch5/links, §5.6.

The trio counterpart of the book's `links` package (`links.Extract`), used by crawl1-3 and
mirror (§8.6, exercise 8.7) and fetchfirst (exercise 8.11). As a program it is the book's
findlinks (`gopl.io/ch5/findlinks2`, §5.3, here on `links.extract`): fetch each URL and print
the links on the page, one per line.

    python -m gopl_trio.links [-timeout S] URL ...

Differences from the Go helper, each on purpose:

* Redirects are followed like Go's `http.Get` does (httpx needs `follow_redirects=True`), and
  relative links are resolved against the *final* URL.
* A whole request, redirects included, has one deadline (10 s by default); the body is read up
  to a bound (4 MiB) and non-HTML responses are refused before their body is read.
* Only `http:`/`https:` links are returned and `#fragments` are dropped: `mailto:` links and
  anchors within a page are not pages to crawl. Malformed hrefs are skipped, as in Go.
* Parsing uses lexbor (through selectolax), not the standard library's `html.parser`: on real
  pages (Debian's Python documentation, 93 KiB on average) `html.parser` took about ten times
  as long and the crawlers were bound by it (see `benchmarks/crawl.py` and the porting guide).
  Resolving the hrefs is cached per page, because real pages repeat their links. Bodies of
  256 KiB or more are parsed in a worker thread (lexbor lets go of the GIL while it works), so
  a big page never stalls the event loop.

Every failure is a `FetchError` whose message is one line naming the URL.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from collections.abc import Collection
from functools import partial

import attrs
import httpx
import trio
from selectolax.lexbor import LexborHTMLParser

from ._args import seconds
from ._run import run

__all__ = [
    "MAX_BODY",
    "TIMEOUT",
    "FetchError",
    "Page",
    "Stats",
    "absolute_links",
    "check_url",
    "extract",
    "fetch",
    "find_hrefs",
    "host_of",
    "new_client",
    "parse_links",
]

PROG = "links"
MAX_BODY = 4 * 1024 * 1024  # bytes read from one response at most
TIMEOUT = 10.0  # seconds for one whole request, redirects included
THREAD_PARSE_BYTES = 256 * 1024  # parse bodies at least this big in a worker thread


class FetchError(Exception):
    """A page could not be fetched or used; str() is one line naming the URL."""


@attrs.frozen
class Page:
    url: str  # the final URL, after redirects
    status: int
    reason: str
    content_type: str
    body: bytes


@attrs.define
class Stats:
    """Optional accounting for the benchmark: latency per fetch, the HTML pages whose links
    were extracted, and the CPU time that took (in whichever thread it ran)."""

    latencies: list[float] = attrs.Factory(list)
    pages: list[str] = attrs.Factory(list)
    parse_cpu: float = 0.0


class OffHostError(FetchError):
    """A redirect led off the hosts a client was limited to."""


def new_client(
    max_connections: int | None = None, hosts: Collection[str] | None = None
) -> httpx.AsyncClient:
    """One client per run, shared by all tasks so connections are reused.

    Keep the number of concurrent requests at or below *max_connections* (None: no limit):
    cancelling requests that wait for a pool slot can leak slots (httpcore bug #1093).
    Timeouts are ours (one trio deadline per request), so httpx's own are off. With *hosts*
    (see `host_of`), the client refuses to send a request anywhere else, redirects included.
    """

    async def stay_on_hosts(request: httpx.Request) -> None:
        if hosts is not None and host_of(str(request.url)) not in hosts:
            raise OffHostError(str(request.url))

    return httpx.AsyncClient(
        follow_redirects=True,
        timeout=None,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64),
        headers={"User-Agent": "gopl_trio"},
        event_hooks={"request": [stay_on_hosts]},
    )


def host_of(url: str) -> str:
    """The host and port of an absolute URL, as -same-host compares them: "h:80"."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.hostname}:{port}"


def check_url(url: str) -> str:
    """Return *url* if it is an absolute http(s) URL, else raise FetchError."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number < 65536
        url.encode()  # a surrogate (from undecodable argv bytes) could not even be printed
    except ValueError as exc:  # UnicodeEncodeError included
        raise FetchError(f"{url}: malformed URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        what = f"unsupported scheme {parts.scheme!r}" if parts.scheme else "not an absolute URL"
        raise FetchError(f"{url}: {what}")
    if not parts.hostname:
        raise FetchError(f"{url}: no host")
    return url


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    html_only: bool = False,
    time_limit: float = TIMEOUT,
    max_bytes: int = MAX_BODY,
    stats: Stats | None = None,
) -> Page:
    """GET *url* (following redirects) and return the page; FetchError on any failure.

    Responses other than 2xx are errors, like in Go's `links.Extract`. With *html_only*, a
    response that is not HTML is refused before its body is read.
    """
    check_url(url)
    start = time.perf_counter()
    with trio.move_on_after(time_limit) as deadline:
        try:
            async with client.stream("GET", url) as resp:
                final = str(resp.url)
                ctype = resp.headers.get("content-type", "")
                if not 200 <= resp.status_code < 300:
                    raise FetchError(f"getting {url}: {resp.status_code} {_reason(resp)}")
                if html_only and not _is_html(ctype):
                    raise FetchError(f"{url}: not HTML ({ctype or 'no Content-Type'})")
                body = bytearray()
                # Stop a too-big body by cancelling, not by leaving the loop: the exception
                # then unwinds httpx's nested async generators instead of abandoning them
                # (httpx issue #3686; trio warns about abandoned generators).
                too_big = False
                with trio.CancelScope() as stop_reading:
                    async for chunk in resp.aiter_bytes():  # decompressed: what we keep counts
                        if too_big or len(body) + len(chunk) > max_bytes:
                            too_big = True
                            stop_reading.cancel()  # takes effect at httpx's next network read
                        else:
                            body += chunk
                if too_big:
                    raise FetchError(f"{url}: body larger than {max_bytes} bytes")
        except OffHostError as exc:
            raise FetchError(f"{url}: redirected off the start hosts, to {exc}") from None
        except httpx.TooManyRedirects:
            raise FetchError(f"{url}: too many redirects") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{url}: {_describe(exc)}") from None
        except (httpx.InvalidURL, UnicodeError) as exc:
            # UnicodeError: a host httpx cannot IDNA-encode ("http://xn--/"), here or in a
            # redirect's Location; httpx raises it as it is, not as an httpx error.
            raise FetchError(f"{url}: malformed URL: {exc}") from None
    if deadline.cancelled_caught:
        raise FetchError(f"{url}: timed out after {time_limit:g} s")
    if stats is not None:
        stats.latencies.append(time.perf_counter() - start)
    return Page(final, resp.status_code, _reason(resp), ctype, bytes(body))


def _reason(resp: httpx.Response) -> str:
    return resp.reason_phrase or httpx.codes.get_reason_phrase(resp.status_code)


def _is_html(content_type: str) -> bool:
    mime = content_type.partition(";")[0].strip().lower()
    return mime in ("text/html", "application/xhtml+xml")


def _describe(exc: BaseException) -> str:
    """One line for an httpx error: the underlying OS error's text where there is one."""
    # A refused connection arrives as httpx.ConnectError("all attempts to connect ... failed")
    # caused by trio's ExceptionGroup of per-address OSErrors; the OS's words are clearer.
    cause: BaseException | None = exc
    for _ in range(20):  # a chain of causes is short; never loop on a cyclic one
        if cause is None:
            break
        if isinstance(cause, BaseExceptionGroup) and cause.exceptions:
            cause = cause.exceptions[0]
            continue
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__  # a few httpx errors have an empty message
    return " ".join(text.split())


async def extract(
    client: httpx.AsyncClient,
    url: str,
    *,
    time_limit: float = TIMEOUT,
    max_bytes: int = MAX_BODY,
    stats: Stats | None = None,
) -> list[str]:
    """Fetch the HTML page at *url* and return the absolute URLs of its `<a href>` links."""
    page = await fetch(
        client, url, html_only=True, time_limit=time_limit, max_bytes=max_bytes, stats=stats
    )
    return await page_links(page, stats)


async def page_links(page: Page, stats: Stats | None = None) -> list[str]:
    """The absolute URLs of the `<a href>` links of an HTML *page*; big ones in a thread."""
    text = decode(page)
    if len(page.body) < THREAD_PARSE_BYTES:
        return _parse_counted(text, page.url, stats)
    # lexbor lets go of the GIL while it parses, and Python hands the GIL back and forth every
    # few milliseconds while the links are resolved, so the event loop keeps running. Abandon
    # the thread on cancellation: a page with tens of thousands of links takes a second.
    return await trio.to_thread.run_sync(
        _parse_counted, text, page.url, stats, abandon_on_cancel=True
    )


def _parse_counted(text: str, base_url: str, stats: Stats | None) -> list[str]:
    if stats is None:
        return parse_links(text, base_url)
    cpu = time.thread_time()  # a system call: only when measuring
    links = parse_links(text, base_url)
    stats.parse_cpu += time.thread_time() - cpu
    stats.pages.append(base_url)
    return links


def decode(page: Page) -> str:
    """The text of *page*, decoded as its Content-Type says (UTF-8 if it does not)."""
    try:
        return page.body.decode(_charset(page.content_type), errors="replace")
    except UnicodeError:  # a few codecs ("idna", "punycode") fail even with errors="replace"
        return page.body.decode("utf-8", errors="replace")


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip("\"'")
            try:
                "".encode(name)
            except LookupError:
                break
            return name
    return "utf-8"


def parse_links(text: str, base_url: str) -> list[str]:
    """Absolute http(s) URLs of the `<a href>` links in *text*, in order, duplicates kept."""
    return absolute_links(find_hrefs(text), base_url)


def find_hrefs(text: str) -> list[str]:
    """The raw `href` values of the `<a>` elements in the HTML *text*."""
    return [
        href
        for node in LexborHTMLParser(text).css("a[href]")
        if (href := node.attributes.get("href")) is not None
    ]


def absolute_links(hrefs: list[str], base_url: str) -> list[str]:
    """Resolve *hrefs* against *base_url*; keep http(s) only, drop fragments and bad URLs."""
    links = []
    resolved: dict[str, str | None] = {}  # href without its fragment -> link (None: skip it)
    for href in hrefs:
        key = href.strip().partition("#")[0]
        if key not in resolved:
            resolved[key] = _absolute(key, base_url)
        if (link := resolved[key]) is not None:
            links.append(link)
    return links


def _absolute(href: str, base_url: str) -> str | None:
    try:
        absolute = urllib.parse.urljoin(base_url, href)
        parts = urllib.parse.urlsplit(absolute)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
        absolute.encode()  # no lone surrogates: they could not be requested or printed
    except ValueError:
        return None  # a malformed URL: skip it, as Go's links.Extract does
    if parts.scheme in ("http", "https") and parts.hostname:
        return urllib.parse.urlunsplit(parts._replace(fragment=""))
    return None


# --- findlinks: the links of each page given on the command line --------------------------------


async def find_links(urls: list[str], time_limit: float = TIMEOUT) -> int:
    """Print the links on each page, one per line; one stderr line per bad page. Status 1 if
    any page failed."""
    status = 0
    async with new_client() as client:
        for url in urls:
            try:
                for link in await extract(client, url, time_limit=time_limit):
                    print(link)
            except FetchError as exc:
                print(f"{PROG}: {exc}", file=sys.stderr)
                status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Print the links on each web page, one per line (findlinks)."
    )
    parser.add_argument(
        "-timeout", type=seconds, default=TIMEOUT, help="seconds allowed for one request"
    )
    parser.add_argument("urls", nargs="+", metavar="URL")
    args = parser.parse_args(argv)
    return run(PROG, partial(find_links, args.urls, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
