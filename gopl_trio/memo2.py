"""A memoizing cache that holds a lock across the call: gopl.io/ch9/memo2, §9.7.

memo1 with one change: ``get`` holds a ``trio.Lock`` (Go's ``sync.Mutex``) from the lookup to
the store, across the slow call. That makes it correct -- one call per key -- and takes
away the concurrency the cache was for: requests for different keys now wait for each other,
and even a cache hit waits behind someone else's miss. Requested all at once, the driver's
four keys take four calls' time, as if fetched one after another.

Here the lock is needed, because the critical section awaits. Unlike Go's mutex, trio's
is fair (waiters get it in turn), cannot be released by a task that does not hold it, and
raises ``RuntimeError`` instead of deadlocking when the holder asks for it again (an ``f``
that calls ``get``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Generic, TextIO, TypeVar

import trio

from gopl_trio import _memotest
from gopl_trio._memotest import Func, Result

V = TypeVar("V")


class Memo(Generic[V]):
    """Caches the results of calling *f*; one ``get`` at a time."""

    def __init__(self, f: Func[V]) -> None:
        self.f = f
        self.mu = trio.Lock()  # guards cache
        self.cache: dict[str, Result[V]] = {}

    async def get(self, key: str) -> V:
        async with self.mu:
            res = self.cache.get(key)
            if res is None:
                res = await Result.of(self.f, key)
                self.cache[key] = res
        return res.get()


async def memotest(f: Func[bytes], keys: Sequence[str], at_once: bool, out: TextIO) -> None:
    await _memotest.drive(Memo(f), keys, at_once, out)


def main(argv: list[str] | None = None) -> int:
    return _memotest.main("memo2", "Memoize a slow function (one call at a time).", memotest, argv)


if __name__ == "__main__":
    sys.exit(main())
