"""A concurrent web crawler with no limit on concurrency: gopl.io/ch8/crawl1, §8.6.

The book's first crawler starts one goroutine per unseen link and feeds the links they find
back to the main loop through a channel. It shows two flaws: with no limit on how many
requests run at once it soon fails with "too many open files" (or swamps the server), and it
never ends, because the main loop keeps waiting on a channel nobody will close.

Here each crawl task starts the crawl tasks for the unseen links it finds, in one nursery. The
first flaw is kept on purpose (crawl2 fixes it): the HTTP client's connection pool is unbounded
too, so every task opens its own connection. The second is gone: a nursery waits for all its
tasks, so when the last page has been crawled the program ends. With -depth (exercise 8.6)
pages more than N links from a start URL (by the shortest path) are not fetched; pressing Enter
(exercise 8.10) cancels every request in flight and prints a summary. End of file on stdin does
not cancel.

    python -m gopl_trio.crawl1 [-depth N] [-timeout S] URL ...
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
from ._run import run
from .links import (
    TIMEOUT,
    FetchError,
    Stats,
    Summary,
    check_start_urls,
    crawl_arguments,
    extract,
    new_client,
    run_until_cancelled,
)

PROG = "crawl1"


@attrs.define
class Crawler:
    client: httpx.AsyncClient
    nursery: trio.Nursery
    max_depth: int | None
    time_limit: float
    out: TextIO
    err: TextIO
    stats: Stats | None = None
    seen: dict[str, int] = attrs.Factory(dict)  # URL -> fewest links from a start URL so far
    found: dict[str, list[str]] = attrs.Factory(dict)  # links of each fetched page, for -depth
    summary: Summary = attrs.Factory(Summary)

    def visit(self, links: list[str], depth: int) -> None:
        """Start crawling each link not seen before. No await: the check and add are atomic."""
        if self.max_depth is not None and depth > self.max_depth:
            return
        for link in links:
            if link not in self.seen:
                self.seen[link] = depth
                self.nursery.start_soon(self.crawl, link)
            elif depth < self.seen[link]:
                # Met again by a shorter path: tasks do not finish in breadth-first order.
                # Its links are nearer than we thought, and some may now be within -depth.
                self.seen[link] = depth
                if link in self.found:
                    self.visit(self.found[link], depth + 1)

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
        if self.max_depth is not None:
            self.found[url] = links
        self.visit(links, self.seen[url] + 1)  # (its depth may have shrunk meanwhile)


async def crawl_all(
    urls: list[str],
    *,
    max_depth: int | None = None,
    time_limit: float = TIMEOUT,
    cancel: Callable[[], Awaitable[object]] = wait_for_keypress,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stats: Stats | None = None,
) -> Summary:
    """Crawl from *urls* until no unseen links are left or *cancel* returns."""
    summary = Summary()
    start = check_start_urls(PROG, urls, summary, err)

    async with new_client(max_connections=None) as client:

        async def work() -> None:
            async with trio.open_nursery() as nursery:
                crawler = Crawler(
                    client, nursery, max_depth, time_limit, out, err, stats, summary=summary
                )
                crawler.visit(start, 0)

        summary.interrupted = await run_until_cancelled(work, cancel)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = crawl_arguments(PROG, "Crawl the web from URL, all requests at once.").parse_args(argv)
    summary = run(
        PROG, partial(crawl_all, args.urls, max_depth=args.depth, time_limit=args.timeout)
    )
    if summary.interrupted:
        print(summary.line(PROG), file=sys.stderr)
    return summary.exit_status()


if __name__ == "__main__":
    sys.exit(main())
