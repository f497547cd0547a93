"""A concurrent, non-blocking cache with duplicate suppression: gopl.io/ch9/memo4, §9.7.

memo3's cache maps a key to a result; here it maps a key to an *entry*, created by the first
task to ask for that key. That task calls ``f`` and then sets the entry's ``ready`` event;
every later task for the same key waits on the event instead of calling ``f`` again. Go
broadcasts by closing the ``ready`` channel; ``trio.Event.set()`` is the same one-shot
broadcast (it cannot be cleared either). Requested all at once, the driver's keys are
fetched once each, concurrently: one call's time, "0 duplicate".

What Go's program does not have to decide: the task computing the value may be cancelled
(a timeout, Ctrl-C). Then nothing would ever set ``ready`` and the waiters would wait for
ever. Here the cancelled task removes its entry and still sets ``ready``; the waiters find
no result and try again, and the first of them becomes the one that calls ``f``. So every
waiter gets a value, ``f`` runs to completion at most once per key, and a call nobody waits
for any more is stopped rather than finished -- it is restarted only for a waiter. A cancelled
*waiter* changes nothing. (memo5 makes the other choice: the call belongs to the server.)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TextIO, TypeVar

import trio
from trio.testing import assert_no_checkpoints

from gopl_trio import _memotest
from gopl_trio._memotest import Func, Result

V = TypeVar("V")


@dataclass(eq=False)
class Entry(Generic[V]):
    ready: trio.Event = field(default_factory=trio.Event)  # set when res is ready
    res: Result[V] | None = None  # still None when ready: the call was cancelled


class Memo(Generic[V]):
    """Caches the results of calling *f*; each key's call is made once."""

    def __init__(self, f: Func[V]) -> None:
        self.f = f
        self.cache: dict[str, Entry[V]] = {}

    async def get(self, key: str) -> V:
        while True:
            with assert_no_checkpoints():
                e = self.cache.get(key)
                first = e is None
                if e is None:
                    e = self.cache[key] = Entry()
            if first:
                # Nobody asked for this key before: make the call here, then wake the others.
                try:
                    e.res = await Result.of(self.f, key)
                finally:
                    if e.res is None:  # cancelled: give the key up (no await possible here)
                        del self.cache[key]
                    e.ready.set()  # wake every waiter at once
            else:
                # Somebody is making the call already: wait until it is done.
                await e.ready.wait()
            if e.res is not None:
                return e.res.get()
            # The task computing it was cancelled: ask again, maybe as the first.


async def memotest(f: Func[bytes], keys: Sequence[str], at_once: bool, out: TextIO) -> None:
    await _memotest.drive(Memo(f), keys, at_once, out)


def main(argv: list[str] | None = None) -> int:
    return _memotest.main("memo4", "Memoize a slow function (one call per key).", memotest, argv)


if __name__ == "__main__":
    sys.exit(main())
