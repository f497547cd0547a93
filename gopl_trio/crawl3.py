"""A web crawler with 20 long-lived crawler tasks: gopl.io/ch8/crawl3, §8.6.

The book's third crawler bounds concurrency differently: 20 crawler goroutines take unseen
links from one channel, and the main goroutine alone reads the `seen` map, so no lock is
needed (confinement). Found links go back to the main loop on a second channel, each list
sent from a fresh goroutine so that a crawler never blocks while the main loop is blocked
sending it work.

Here that second channel simply has an unbounded buffer, which is what the extra goroutines
amount to. The main task counts the link lists it still expects, the way the book's crawl2
does, and when none are left it closes the unseen-links channel: the crawlers' `async for`
loops end, their nursery exits and so does the program (the book's crawl3 never ends). With
-depth (exercise 8.6) pages more than N links from a start URL (by the shortest path) are not
fetched; -same-host follows only links to the start URLs' hosts; pressing Enter (exercise
8.10) cancels every request in flight and prints a summary. End of file on stdin does not
cancel.

    python -m gopl_trio.crawl3 [-depth N] [-same-host] [-timeout S] URL ...
"""

from __future__ import annotations

import math
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

PROG = "crawl3"
CRAWLERS = 20

Found = tuple[str | None, list[str]]  # a page (None: the command line) and the links on it


@attrs.define
class Crawl:
    """The book's `crawl` function: print the URL, return the links on its page."""

    client: httpx.AsyncClient
    time_limit: float
    out: TextIO
    err: TextIO
    stats: Stats | None
    summary: Summary

    async def __call__(self, url: str) -> list[str]:
        print(url, file=self.out)
        self.summary.crawled += 1
        try:
            links = await extract(self.client, url, time_limit=self.time_limit, stats=self.stats)
        except FetchError as exc:
            self.summary.failed += 1
            print(f"{PROG}: {exc}", file=self.err)
            return []
        self.summary.fetched += 1
        return links


async def crawler(
    crawl: Crawl,
    unseen_links: trio.MemoryReceiveChannel[str],
    worklist: trio.MemorySendChannel[Found],
) -> None:
    async for link in unseen_links:
        found_links = await crawl(link)
        worklist.send_nowait((link, found_links))  # unbounded: never blocks


async def crawl_from(start: list[str], crawl: Crawl, seen: Seen) -> None:
    """The book's main loop: start the crawlers, then feed them the unseen links."""
    worklist_send, worklist = trio.open_memory_channel[Found](math.inf)
    unseen_send, unseen_links = trio.open_memory_channel[str](0)
    async with trio.open_nursery() as nursery:
        for _ in range(CRAWLERS):
            nursery.start_soon(crawler, crawl, unseen_links, worklist_send)

        # The main task alone touches `seen`: only it reads the worklist.
        with unseen_send:  # closing it ends the crawlers' loops
            worklist_send.send_nowait((None, start))
            pending = 1  # link lists still to come back on the worklist
            while pending > 0:
                page, links = await worklist.receive()
                pending -= 1
                for link in seen.start(links) if page is None else seen.fetched(page, links):
                    pending += 1
                    await unseen_send.send(link)


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
    async with new_client(max_connections=2 * CRAWLERS, hosts=seen.hosts) as client:
        crawl = Crawl(client, time_limit, out, err, stats, summary)
        summary.interrupted = await run_until_cancelled(
            partial(crawl_from, start, crawl, seen), cancel
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    args = crawl_arguments(PROG, "Crawl the web from URL with 20 crawler tasks.").parse_args(argv)
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
