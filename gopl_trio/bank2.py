"""A bank guarded by a binary semaphore: gopl.io/ch9/bank2, §9.2, exercise 9.1.

Go makes a semaphore of a channel with room for one token: send to acquire, receive to
release. trio has the semaphore itself: ``trio.Semaphore(1, max_value=1)``, used with
``async with`` so that the token goes back however the block ends. Like Go's channel, and
unlike ``trio.Lock`` or ``trio.CapacityLimiter``, a ``Semaphore`` does not know who holds
its token: another task may release it (errgroup's ``SetLimit`` needs that); here the task
that acquires it always releases it.

What trio changes: no critical section below contains a checkpoint, so a trio task could not
be interrupted inside one even without the semaphore -- ``balance += amount`` is one step
for trio, unlike for Go. The semaphore still decides who goes next (acquiring is a
checkpoint, so callers do queue for it), and it becomes necessary as soon as a critical
section awaits: see memo2. A deposit cancelled while it waits for the token does nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

import trio

from gopl_trio import _banktest


class Bank:
    def __init__(self) -> None:
        self._sema = trio.Semaphore(1, max_value=1)  # a binary semaphore guarding _balance
        self._balance = 0

    async def deposit(self, amount: int) -> None:
        async with self._sema:  # take the token; it goes back when the block ends
            self._balance = self._balance + amount

    async def balance(self) -> int:
        async with self._sema:
            return self._balance

    async def withdraw(self, amount: int) -> bool:
        async with self._sema:
            if amount > self._balance:
                return False  # insufficient funds
            self._balance = self._balance - amount
            return True


async def demo(amounts: Sequence[int], out: TextIO) -> None:
    await _banktest.customers(Bank(), amounts, out)


def main(argv: list[str] | None = None) -> int:
    return _banktest.main("bank2", "A bank guarded by a binary semaphore.", demo, argv)


if __name__ == "__main__":
    sys.exit(main())
