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
fetched; pressing Enter (exercise 8.10) cancels every request in flight and prints a summary.
End of file on stdin does not cancel.

    python -m gopl_trio.crawl3 [-depth N] [-timeout S] URL ...
"""

from __future__ import annotations

import math
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TextIO

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

PROG = "crawl3"
CRAWLERS = 20

Found = tuple[str | None, list[str]]  # a page (None: the command line) and the links on it


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

    async def crawl(client: httpx.AsyncClient, url: str) -> list[str]:
        print(url, file=out)
        summary.crawled += 1
        try:
            links = await extract(client, url, time_limit=time_limit, stats=stats)
        except FetchError as exc:
            summary.failed += 1
            print(f"{PROG}: {exc}", file=err)
            return []
        summary.fetched += 1
        return links

    async def crawler(
        client: httpx.AsyncClient,
        unseen_links: trio.MemoryReceiveChannel[str],
        worklist: trio.MemorySendChannel[Found],
    ) -> None:
        async for link in unseen_links:
            links = await crawl(client, link)
            worklist.send_nowait((link, links))  # unbounded: never blocks

    async def work() -> None:
        worklist_send, worklist = trio.open_memory_channel[Found](math.inf)
        unseen_send, unseen_links = trio.open_memory_channel[str](0)
        async with (
            new_client(max_connections=2 * CRAWLERS) as client,
            trio.open_nursery() as nursery,
        ):
            for _ in range(CRAWLERS):
                nursery.start_soon(crawler, client, unseen_links, worklist_send)

            # The main task alone touches `seen`: only it reads the worklist.
            seen: dict[str, int] = {}  # URL -> fewest links from a start URL so far
            found: dict[str, list[str]] = {}  # links of each fetched page, for -depth
            pending = 1  # link lists still to come back on the worklist

            async def visit(links: list[str], depth: int) -> None:
                nonlocal pending
                if max_depth is not None and depth > max_depth:
                    return
                for link in links:
                    if link not in seen:
                        seen[link] = depth
                        pending += 1
                        await unseen_send.send(link)
                    elif depth < seen[link]:
                        # Met again by a shorter path: crawlers do not finish in breadth-first
                        # order. Its links are nearer than we thought, and may now be in reach.
                        seen[link] = depth
                        if link in found:
                            await visit(found[link], depth + 1)

            with unseen_send:  # closing it ends the crawlers' loops
                worklist_send.send_nowait((None, start))
                while pending > 0:
                    page, links = await worklist.receive()
                    pending -= 1
                    if page is not None and max_depth is not None:
                        found[page] = links
                    await visit(links, 0 if page is None else seen[page] + 1)

    summary.interrupted = await run_until_cancelled(work, cancel)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = crawl_arguments(PROG, "Crawl the web from URL with 20 crawler tasks.").parse_args(argv)
    summary = run(
        PROG, partial(crawl_all, args.urls, max_depth=args.depth, time_limit=args.timeout)
    )
    if summary.interrupted:
        print(summary.line(PROG), file=sys.stderr)
    return summary.exit_status()


if __name__ == "__main__":
    sys.exit(main())
