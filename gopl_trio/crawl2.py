"""A web crawler with at most 20 requests in flight: gopl.io/ch8/crawl2, §8.6.

The book's second crawler adds a counting semaphore (a buffered channel of 20 tokens) around
each fetch, and a counter of pending work lists so the main loop knows when to stop. Here the
semaphore is a `trio.CapacityLimiter(20)`, and the counter is not needed: the nursery already
waits for every crawl task, so the program ends when the last one does. With -depth
(exercise 8.6) pages more than N links from a start URL (by the shortest path) are not
fetched; -same-host follows only links to the start URLs' hosts; pressing Enter (exercise
8.10) cancels every request in flight and prints a summary. End of file on stdin does not
cancel.

    python -m gopl_trio.crawl2 [-depth N] [-same-host] [-timeout S] URL ...
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TextIO

import attrs
import httpx
import trio

from ._cancel import wait_for_keypress
from ._crawl import (
    Seen,
    Summary,
    check_start_urls,
    crawl_arguments,
    run_until_cancelled,
    start_hosts,
)
from ._run import run
from .links import TIMEOUT, FetchError, Stats, extract, new_client

PROG = "crawl2"
MAX_IN_FLIGHT = 20


@attrs.define
class Crawler:
    client: httpx.AsyncClient
    nursery: trio.Nursery
    seen: Seen
    time_limit: float
    out: TextIO
    err: TextIO
    stats: Stats | None
    summary: Summary
    tokens: trio.CapacityLimiter = attrs.Factory(lambda: trio.CapacityLimiter(MAX_IN_FLIGHT))

    def visit(self, unseen: list[str]) -> None:
        for link in unseen:
            self.nursery.start_soon(self.crawl, link)

    async def crawl(self, url: str) -> None:
        print(url, file=self.out)
        self.summary.crawled += 1
        try:
            async with self.tokens:  # acquire a token; released even when cancelled
                links = await extract(
                    self.client, url, time_limit=self.time_limit, stats=self.stats
                )
        except FetchError as exc:
            self.summary.failed += 1
            print(f"{PROG}: {exc}", file=self.err)
            return
        self.summary.fetched += 1
        self.visit(self.seen.fetched(url, links))


async def crawl_all(
    urls: list[str],
    *,
    max_depth: int | None = None,
    same_host: bool = False,
    time_limit: float = TIMEOUT,
    cancel: Callable[[], Awaitable[object]] = wait_for_keypress,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stats: Stats | None = None,
) -> Summary:
    """Crawl from *urls* until no unseen links are left or *cancel* returns."""
    summary = Summary()
    start = check_start_urls(PROG, urls, summary, err)
    seen = Seen(max_depth, start_hosts(start, same_host))

    async with new_client(max_connections=2 * MAX_IN_FLIGHT, hosts=seen.hosts) as client:

        async def work() -> None:
            async with trio.open_nursery() as nursery:
                crawler = Crawler(client, nursery, seen, time_limit, out, err, stats, summary)
                crawler.visit(seen.start(start))

        summary.interrupted = await run_until_cancelled(work, cancel)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = crawl_arguments(
        PROG, "Crawl the web from URL, at most 20 requests at a time."
    ).parse_args(argv)
    summary = run(
        PROG,
        partial(
            crawl_all,
            args.urls,
            max_depth=args.depth,
            same_host=args.same_host,
            time_limit=args.timeout,
        ),
    )
    if summary.interrupted:
        print(summary.line(PROG), file=sys.stderr)
    return summary.exit_status()


if __name__ == "__main__":
    sys.exit(main())
