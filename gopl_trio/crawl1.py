"""A concurrent web crawler with no limit on concurrency: gopl.io/ch8/crawl1, §8.6.

The book's first crawler starts one goroutine per unseen link and feeds the links they find
back to the main loop through a channel. It shows two flaws: with no limit on how many
requests run at once it soon fails with "too many open files" (or swamps the server), and it
never ends, because the main loop keeps waiting on a channel nobody will close.

Here each crawl task starts the crawl tasks for the unseen links it finds, in one nursery. The
first flaw is kept on purpose (crawl2 fixes it): the HTTP client's connection pool is unbounded
too, so every task opens its own connection. The second is gone: a nursery waits for all its
tasks, so when the last page has been crawled the program ends. With -depth (exercise 8.6)
pages more than N links from a start URL (by the shortest path) are not fetched; -same-host
follows only links to the start URLs' hosts; pressing Enter (exercise 8.10) cancels every
request in flight and prints a summary. End of file on stdin does not cancel.

    python -m gopl_trio.crawl1 [-depth N] [-same-host] [-timeout S] URL ...
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

PROG = "crawl1"


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

    def visit(self, unseen: list[str]) -> None:
        # NOTE: one task per unseen link, with no bound: the flaw crawl2 fixes.
        for link in unseen:
            self.nursery.start_soon(self.crawl, link)

    async def crawl(self, url: str) -> None:
        print(url, file=self.out)
        self.summary.crawled += 1
        try:
            links = await extract(self.client, url, time_limit=self.time_limit, stats=self.stats)
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

    async with new_client(max_connections=None, hosts=seen.hosts) as client:

        async def work() -> None:
            async with trio.open_nursery() as nursery:
                crawler = Crawler(client, nursery, seen, time_limit, out, err, stats, summary)
                crawler.visit(seen.start(start))

        summary.interrupted = await run_until_cancelled(work, cancel)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = crawl_arguments(PROG, "Crawl the web from URL, all requests at once.").parse_args(argv)
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
