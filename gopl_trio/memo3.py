"""A memoizing cache with two critical sections: gopl.io/ch9/memo3, §9.7.

Go's memo3 locks the mutex for the lookup, unlocks it for the slow call, and locks it again
for the store, so different keys are fetched concurrently again (memo2's fault) -- and two
goroutines that miss the same key both call ``f`` (memo1's, without the data race).

In trio neither critical section needs a lock: neither contains a checkpoint, and a trio task
is never interrupted between checkpoints. So memo3 is memo1 with its critical sections made
explicit, and it behaves exactly like memo1 -- the duplicate calls included ("4 duplicate").
``trio.testing.assert_no_checkpoints()`` is the trio form of Go's ``Lock``/``Unlock`` pair
around code that must run as one step: it takes no time, never makes anyone wait, and raises
``AssertionError`` if a later edit puts an ``await`` inside.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Generic, TextIO, TypeVar

from trio.testing import assert_no_checkpoints

from gopl_trio import _memotest
from gopl_trio._memotest import Func, Result

V = TypeVar("V")


class Memo(Generic[V]):
    """Caches the results of calling *f*."""

    def __init__(self, f: Func[V]) -> None:
        self.f = f
        self.cache: dict[str, Result[V]] = {}

    async def get(self, key: str) -> V:
        with assert_no_checkpoints():  # critical section 1: the lookup
            res = self.cache.get(key)
        if res is None:
            # NOTE: two tasks that miss the same key both call f (the book's lesson).
            res = await Result.of(self.f, key)
            with assert_no_checkpoints():  # critical section 2: the store
                self.cache[key] = res
        return res.get()


async def memotest(f: Func[bytes], keys: Sequence[str], at_once: bool, out: TextIO) -> None:
    await _memotest.drive(Memo(f), keys, at_once, out)


def main(argv: list[str] | None = None) -> int:
    return _memotest.main("memo3", "Memoize a slow function (duplicate calls).", memotest, argv)


if __name__ == "__main__":
    sys.exit(main())
