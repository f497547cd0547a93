"""What the crawlers (crawl1-3, mirror) share: the `seen` map, flags, summary, cancellation.

The book's crawlers keep a `seen` map of URLs already met. Ours keep it in `Seen`, which also
holds the two rules the exercises add on top, so that each is written once:

* `-depth N` (exercise 8.6): fetch only URLs at most N links from a start URL *by the
  shortest path*. Tasks do not finish in breadth-first order, so a URL can first be met by a
  long path and later by a shorter one; its depth then shrinks, and if its page was already
  fetched its links are visited again at the smaller depth (nothing is fetched twice).
* `-same-host` (exercise 8.7's "only pages within the original domain"): follow only links
  whose host (and port) is one of the start URLs'.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Iterable
from typing import TextIO

import attrs
import trio

from ._args import non_negative, seconds
from ._cancel import cancel_when, wait_for_interrupt, wait_for_keypress
from .links import TIMEOUT, FetchError, check_url, host_of

__all__ = [
    "Seen",
    "Summary",
    "check_start_urls",
    "crawl_arguments",
    "run_until_cancelled",
    "start_hosts",
]


@attrs.define
class Seen:
    """The URLs a crawl has met, each with the fewest links from a start URL so far.

    Only synchronous methods: a check and an insert with no `await` between them are atomic
    for trio tasks, so crawl tasks may share one `Seen` (crawl3 keeps it in its main task).
    """

    max_depth: int | None = None
    hosts: set[str] | None = None  # -same-host: the only hosts to follow links to
    depth: dict[str, int] = attrs.Factory(dict)
    found: dict[str, list[str]] = attrs.Factory(dict)  # links of each fetched page, for -depth

    def start(self, urls: list[str]) -> list[str]:
        """Record the start URLs (depth 0); return those to crawl."""
        return self._add(urls, 0)

    def fetched(self, url: str, links: list[str]) -> list[str]:
        """Record the *links* found on page *url*; return those never seen before."""
        if self.hosts is not None:
            links = [link for link in links if host_of(link) in self.hosts]
        if self.max_depth is not None:
            self.found[url] = links
        return self._add(links, self.depth[url] + 1)  # (its depth may have shrunk meanwhile)

    def _add(self, links: Iterable[str], depth: int) -> list[str]:
        unseen = []
        pending = [(links, depth)]
        while pending:
            links, depth = pending.pop()
            if self.max_depth is not None and depth > self.max_depth:
                continue
            for link in links:
                if link not in self.depth:
                    self.depth[link] = depth
                    unseen.append(link)
                elif depth < self.depth[link]:
                    # Met again by a shorter path: its links are nearer than we thought,
                    # and some of them may now be within -depth.
                    self.depth[link] = depth
                    if link in self.found:
                        pending.append((self.found[link], depth + 1))
        return unseen


def start_hosts(urls: list[str], same_host: bool) -> set[str] | None:
    """The hosts of the start URLs for -same-host, None (any host) without it."""
    return {host_of(url) for url in urls} if same_host else None


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


def depth(text: str) -> int:
    """An argparse type: a number of links, 0 or more (its name is in argparse's message)."""
    return non_negative(text)


def crawl_arguments(prog: str, description: str) -> argparse.ArgumentParser:
    """The crawlers' flags: the book's URL arguments plus -depth (exercise 8.6), -same-host
    and -timeout."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "-depth",
        type=depth,
        default=None,
        help="fetch only URLs at most this many links from a start URL (default: no limit)",
    )
    parser.add_argument(
        "-same-host",
        action="store_true",
        help="follow only links to the start URLs' hosts (redirects included)",
    )
    parser.add_argument(
        "-timeout", type=seconds, default=TIMEOUT, help="seconds allowed for one request"
    )
    parser.add_argument("urls", nargs="+", metavar="URL")
    return parser
