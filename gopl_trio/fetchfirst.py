"""Fetch several URLs at once and keep only the first response: exercise 8.11 (§8.9).

The exercise asks for a variant of `fetch` (gopl.io/ch1/fetch) in the style of
`mirroredQuery` (§8.4.4): request every URL concurrently and, as soon as one response has
arrived, cancel the other requests. In Go each request needs the cancellation wired in
(`req.Cancel`, or a context) and the losers must be drained or they leak; here the winner
cancels the nursery's scope and every other request stops at once, its connection closed.

A failed request (bad URL, refused connection, timeout, a status other than 2xx, a body over
the size bound) is reported on stderr and does not win; if every request fails, exit 1.

    python -m gopl_trio.fetchfirst [-timeout S] URL ...
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from typing import TextIO

import attrs
import trio

from ._args import seconds
from ._run import run
from .links import TIMEOUT, FetchError, Page, fetch, new_client

PROG = "fetchfirst"


@attrs.frozen
class Winner:
    url: str  # as requested
    page: Page
    elapsed: float


async def fetch_first(
    urls: list[str], *, time_limit: float = TIMEOUT, err: TextIO = sys.stderr
) -> Winner | None:
    """Return the first successful response among *urls*, or None if all of them fail."""
    winner: Winner | None = None
    async with new_client(max_connections=None) as client, trio.open_nursery() as nursery:
        start = time.perf_counter()

        async def request(url: str) -> None:
            nonlocal winner
            try:
                page = await fetch(client, url, time_limit=time_limit)
            except FetchError as exc:
                print(f"{PROG}: {exc}", file=err)
                return
            winner = Winner(url, page, time.perf_counter() - start)
            nursery.cancel_scope.cancel()  # the others lose: cancel them all at once

        for url in urls:
            nursery.start_soon(request, url)
    return winner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Print the first URL to respond; cancel the other requests."
    )
    parser.add_argument(
        "-timeout", type=seconds, default=TIMEOUT, help="seconds allowed for one request"
    )
    parser.add_argument("urls", nargs="+", metavar="URL")
    args = parser.parse_args(argv)
    winner = run(PROG, partial(fetch_first, args.urls, time_limit=args.timeout))
    if winner is None:
        print(f"{PROG}: all {len(args.urls)} requests failed", file=sys.stderr)
        return 1
    page = winner.page
    # The layout of the book's fetchall: time, size, URL; then the status.
    print(f"{winner.elapsed:.2f}s {len(page.body):7d}  {winner.url}  {page.status} {page.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
