"""A bank guarded by a mutex: gopl.io/ch9/bank3, §9.2, exercise 9.1.

bank2 with ``trio.Lock`` (Go's ``sync.Mutex``) for the semaphore; ``async with`` is Go's
``Lock`` followed by ``defer Unlock``. ``withdraw`` is the one §9.2 arrives at: it must be
one critical section -- built from ``deposit`` and ``balance``, a large withdrawal would
make the balance negative for a moment and a concurrent small one would be refused -- and it
cannot call ``deposit``, which takes the lock again. Go's mutex would deadlock there; trio's
raises ``RuntimeError``. So, as in the book, the work is in ``_deposit``, which requires
the lock to be held. In trio it is synchronous, and that is its guarantee: a function with
no ``await`` runs as one step.

Unlike Go's mutex, a ``trio.Lock`` is fair and may only be released by the task that holds
it. As in bank2, no critical section here awaits, so the lock orders the callers but is not
what keeps the balance right; and a caller cancelled while it waits for the lock does
nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

import trio

from gopl_trio import _banktest


class Bank:
    def __init__(self) -> None:
        self._mu = trio.Lock()  # guards _balance
        self._balance = 0

    async def deposit(self, amount: int) -> None:
        async with self._mu:
            self._deposit(amount)

    async def balance(self) -> int:
        async with self._mu:
            return self._balance

    async def withdraw(self, amount: int) -> bool:
        async with self._mu:
            self._deposit(-amount)
            if self._balance < 0:
                self._deposit(amount)
                return False  # insufficient funds
            return True

    def _deposit(self, amount: int) -> None:
        """Call only with the lock held (a synchronous function: it runs as one step)."""
        self._balance += amount


async def demo(amounts: Sequence[int], out: TextIO) -> None:
    await _banktest.customers(Bank(), amounts, out)


def main(argv: list[str] | None = None) -> int:
    return _banktest.main("bank3", "A bank guarded by a mutex.", demo, argv)


if __name__ == "__main__":
    sys.exit(main())
