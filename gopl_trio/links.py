"""Fetching pages and extracting their links: the shared helper of the HTTP programs.

The trio counterpart of the book's `gopl.io/ch5/links` package (`links.Extract`, §5.6), used
by crawl1-3 (§8.6) and fetchfirst (exercise 8.11). Differences from the Go helper, each on
purpose:

* Redirects are followed like Go's `http.Get` does (httpx needs `follow_redirects=True`), and
  relative links are resolved against the *final* URL.
* A whole request, redirects included, has one deadline (10 s by default); the body is read up
  to a bound (4 MiB) and non-HTML responses are refused before their body is read.
* Only `http:`/`https:` links are returned and `#fragments` are dropped: `mailto:` links and
  anchors within a page are not pages to crawl. Malformed hrefs are skipped, as in Go.
* Parsing uses the standard library's `html.parser`; it is fast enough that the crawler is
  limited by the HTTP client and the server, not by parsing (see `benchmarks/crawl.py`). Large
  bodies are parsed in a worker thread so a big page never stalls the event loop.

Every failure is a `FetchError` whose message is one line naming the URL.
"""

from __future__ import annotations

import argparse
import html.parser
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TextIO

import attrs
import httpx
import trio

from ._args import non_negative, seconds
from ._cancel import cancel_when, wait_for_interrupt, wait_for_keypress

__all__ = [
    "MAX_BODY",
    "TIMEOUT",
    "FetchError",
    "Page",
    "Stats",
    "Summary",
    "check_start_urls",
    "crawl_arguments",
    "extract",
    "fetch",
    "new_client",
    "parse_links",
    "run_until_cancelled",
]

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
    """Optional accounting for the benchmark: latency per fetch, CPU time spent parsing
    (pages parsed in a worker thread are not counted)."""

    latencies: list[float] = attrs.Factory(list)
    parse_cpu: float = 0.0
    parsed: int = 0


def new_client(max_connections: int | None = None) -> httpx.AsyncClient:
    """One client per run, shared by all tasks so connections are reused.

    Keep the number of concurrent requests at or below *max_connections* (None: no limit):
    cancelling requests that wait for a pool slot can leak slots (httpcore bug #1093).
    Timeouts are ours (one trio deadline per request), so httpx's own are off.
    """
    return httpx.AsyncClient(
        follow_redirects=True,
        timeout=None,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64),
        headers={"User-Agent": "gopl_trio"},
    )


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
    try:
        text = page.body.decode(_charset(page.content_type), errors="replace")
    except UnicodeError:  # a few codecs ("idna", "punycode") fail even with errors="replace"
        text = page.body.decode("utf-8", errors="replace")
    if len(page.body) >= THREAD_PARSE_BYTES:
        links = await trio.to_thread.run_sync(parse_links, text, page.url, abandon_on_cancel=True)
    elif stats is None:
        links = parse_links(text, page.url)
    else:
        cpu = time.thread_time()  # a system call: only when measuring
        links = parse_links(text, page.url)
        stats.parse_cpu += time.thread_time() - cpu
        stats.parsed += 1
    return links


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


class _LinkParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            for name, value in attrs:
                if name == "href" and value is not None:
                    self.hrefs.append(value)


def parse_links(text: str, base_url: str) -> list[str]:
    """Absolute http(s) URLs of the `<a href>` links in *text*, in order, duplicates kept."""
    return absolute_links(find_hrefs(text), base_url)


def find_hrefs(text: str) -> list[str]:
    """The raw `href` values of the `<a>` elements in the HTML *text*."""
    parser = _LinkParser()
    parser.feed(text)
    parser.close()
    return parser.hrefs


def absolute_links(hrefs: list[str], base_url: str) -> list[str]:
    """Resolve *hrefs* against *base_url*; keep http(s) only, drop fragments and bad URLs."""
    links = []
    for href in hrefs:
        try:
            absolute = urllib.parse.urljoin(base_url, href.strip())
            parts = urllib.parse.urlsplit(absolute)
            parts.port  # noqa: B018 -- raises ValueError for a bad port
            absolute.encode()  # no lone surrogates: they could not be requested or printed
        except ValueError:
            continue  # a malformed URL: skip it, as Go's links.Extract does
        if parts.scheme in ("http", "https") and parts.hostname:
            links.append(urllib.parse.urlunsplit(parts._replace(fragment="")))
    return links


async def run_until_cancelled(
    work: Callable[[], Awaitable[None]],
    cancel: Callable[[], Awaitable[object]] = wait_for_keypress,
) -> bool:
    """Run *work* until it returns, or until *cancel* returns or Ctrl-C arrives.

    Exercise 8.10's "cancel the crawl when a key is pressed": *cancel* defaults to waiting for
    a byte on standard input (end of file is not a key press). Returns True if the work was
    interrupted. Every request in flight is cancelled at once by the cancel scope: nothing has
    to be threaded through the calls, unlike Go's `done` channel and `req.Cancel`.
    """
    with trio.CancelScope() as done:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_when, cancel, done)
            nursery.start_soon(cancel_when, wait_for_interrupt, done)
            await work()
            nursery.cancel_scope.cancel()  # finished: stop watching stdin and signals
    return done.cancelled_caught


# --- Shared by the crawlers' command lines -------------------------------------------------


@attrs.define
class Summary:
    """What a crawl did; printed to stderr when the user interrupts it."""

    crawled: int = 0  # URLs whose fetch was started (each printed once)
    fetched: int = 0  # pages whose links were extracted
    failed: int = 0  # errors reported
    interrupted: bool = False

    def line(self, prog: str) -> str:
        cancelled = self.crawled - self.fetched - self.failed
        return (
            f"{prog}: interrupted after {self.crawled} URLs: {self.fetched} fetched, "
            f"{self.failed} failed, {cancelled} cancelled"
        )

    def exit_status(self) -> int:
        return 130 if self.interrupted else 1 if self.failed else 0


def check_start_urls(prog: str, urls: list[str], summary: Summary, err: TextIO) -> list[str]:
    """The well-formed start URLs. Each bad one is one line on *err* and counts as failed;
    the others are still crawled."""
    start = []
    for url in urls:
        try:
            start.append(check_url(url))
        except FetchError as exc:
            summary.failed += 1
            print(f"{prog}: {exc}", file=err)
    return start


def depth(text: str) -> int:
    """An argparse type: a number of links, 0 or more (its name is in argparse's message)."""
    return non_negative(text)


def crawl_arguments(prog: str, description: str) -> argparse.ArgumentParser:
    """The crawlers' flags: the book's URL arguments plus -depth (exercise 8.6) and -timeout."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "-depth",
        type=depth,
        default=None,
        help="fetch only URLs at most this many links from a start URL (default: no limit)",
    )
    parser.add_argument(
        "-timeout", type=seconds, default=TIMEOUT, help="seconds allowed for one request"
    )
    parser.add_argument("urls", nargs="+", metavar="URL")
    return parser
