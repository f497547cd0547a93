"""A memoizing cache that is not concurrency-safe: gopl.io/ch9/memo1, §9.7.

``get`` looks the key up, calls the slow function on a miss, and stores the result. In Go
two goroutines that miss at once both call ``f`` and both write the map: a data race, which
``go test -race`` reports. A trio task cannot be interrupted between two checkpoints, so the
dict itself is never corrupted -- but ``await self.f(key)`` *is* a checkpoint, and it sits
between the check and the store. Every task that asks for a key while its first call is
still running misses too, and calls ``f`` again: check-then-act across an ``await`` is still
a race, and trio has no detector for it. Requested all at once, each of the driver's keys is
fetched twice (``python -m gopl_trio.memo1``: "4 duplicate").
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Generic, TextIO, TypeVar

from gopl_trio import _memotest
from gopl_trio._memotest import Func, Result

V = TypeVar("V")


class Memo(Generic[V]):
    """Caches the results of calling *f*."""

    def __init__(self, f: Func[V]) -> None:
        self.f = f
        self.cache: dict[str, Result[V]] = {}

    # NOTE: unsafe for concurrent callers, as in the book (see the module docstring)
    async def get(self, key: str) -> V:
        res = self.cache.get(key)
        if res is None:
            res = await Result.of(self.f, key)  # other tasks run here, and miss too
            self.cache[key] = res
        return res.get()


async def memotest(f: Func[bytes], keys: Sequence[str], at_once: bool, out: TextIO) -> None:
    await _memotest.drive(Memo(f), keys, at_once, out)


def main(argv: list[str] | None = None) -> int:
    return _memotest.main("memo1", "Memoize a slow function (not safe).", memotest, argv)


if __name__ == "__main__":
    sys.exit(main())
