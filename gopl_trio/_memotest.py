"""What the memo programs share, like the book's gopl.io/ch9/memotest package (§9.7).

* :class:`Result`, Go's ``result{value, err}``: what one call of the memoized function
  returned or raised, kept in the cache so that every caller gets the same outcome;
* :class:`FakeFetch`, the slow function to memoize. The book memoizes ``http.Get`` of real
  URLs; nothing here leaves the machine, so ``FakeFetch`` sleeps ``delay`` seconds instead of
  fetching, returns a made-up body, and counts its calls -- the count is the lesson;
* the test driver: request every key, one after another or all at once, and print how long
  each request took, then how many calls the memo let through;
* :func:`main`, the command line of ``python -m gopl_trio.memoN``.
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TextIO, TypeVar, cast

import trio

from gopl_trio._args import seconds
from gopl_trio._run import run

__all__ = ["KEYS", "FakeFetch", "Func", "Memo", "Result", "drive", "main"]

V = TypeVar("V")
V_co = TypeVar("V_co", covariant=True)

Func = Callable[[str], Awaitable[V]]  # Go's `type Func func(key string) (interface{}, error)`

# Four keys, each requested twice (the book's driver does the same with four URLs).
KEYS = ("alpha", "beta", "gamma", "delta") * 2


@dataclass(frozen=True, slots=True)
class Result(Generic[V]):
    """What one call of the function gave: a value, or the exception it raised."""

    value: V | None = None
    error: Exception | None = None

    @classmethod
    async def of(cls, f: Func[V], key: str) -> Result[V]:
        """Call ``f(key)``; an exception becomes the result (cancellation is not caught)."""
        try:
            return cls(value=await f(key))
        except Exception as exc:
            return cls(error=exc)

    def get(self) -> V:
        """The value, or raise the error (Go's ``return res.value, res.err``)."""
        if self.error is not None:
            raise self.error
        return cast(V, self.value)


class Memo(Protocol[V_co]):
    async def get(self, key: str) -> V_co: ...


class FakeFetch:
    """A slow function to memoize: ``await fetch(key)`` takes *delay* seconds; calls counted."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: collections.Counter[str] = collections.Counter()

    async def __call__(self, key: str) -> bytes:
        self.calls[key] += 1
        await trio.sleep(self.delay)
        return f"<p>the page called {key}</p>\n".encode() * 100


async def request(memo: Memo[bytes], key: str, out: TextIO) -> None:
    start = trio.current_time()
    body = await memo.get(key)
    elapsed_ms = (trio.current_time() - start) * 1000
    print(f"{key}, {elapsed_ms:.0f} ms, {len(body)} bytes", file=out, flush=True)


async def sequential(memo: Memo[bytes], keys: Sequence[str], out: TextIO) -> None:
    for key in keys:
        await request(memo, key, out)


async def concurrent(memo: Memo[bytes], keys: Sequence[str], out: TextIO) -> None:
    async with trio.open_nursery() as nursery:  # the nursery is the book's WaitGroup
        for key in keys:
            nursery.start_soon(request, memo, key, out)


async def drive(memo: Memo[bytes], keys: Sequence[str], at_once: bool, out: TextIO) -> None:
    """The book's two tests: every key in turn, or all at once (``at_once``)."""
    await (concurrent if at_once else sequential)(memo, keys, out)


MemoTest = Callable[[Func[bytes], Sequence[str], bool, TextIO], Awaitable[None]]


async def report(
    memotest: MemoTest, fetch: FakeFetch, keys: Sequence[str], at_once: bool, out: TextIO
) -> None:
    """Run *memotest* over *keys*, then print the requests, the calls and the time taken."""
    start = trio.current_time()
    await memotest(fetch, keys, at_once, out)
    elapsed = trio.current_time() - start
    calls = sum(fetch.calls.values())
    print(
        f"{len(keys)} requests, {len(set(keys))} keys, {calls} calls of fake_fetch"
        f" ({calls - len(fetch.calls)} duplicate), {elapsed:.2f} s",
        file=out,
        flush=True,
    )


def main(prog: str, description: str, memotest: MemoTest, argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "keys", nargs="*", default=list(KEYS), metavar="KEY", help="keys to request, in order"
    )
    parser.add_argument(
        "--sequential", action="store_true", help="one request after another (default: all at once)"
    )
    parser.add_argument(
        "--delay",
        type=seconds,
        default=0.5,
        metavar="SECONDS",
        help="how long one call of the slow function takes (default 0.5)",
    )
    args = parser.parse_args(argv)
    fetch = FakeFetch(args.delay)
    run(prog, report, memotest, fetch, args.keys, not args.sequential, sys.stdout)
    return 0
