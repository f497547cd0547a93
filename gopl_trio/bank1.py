"""A bank whose balance belongs to one monitor task: gopl.io/ch9/bank1, §9.1, exercise 9.1.

Go's teller goroutine owns the balance and ``select``s between a channel of deposits and a
channel on which it offers the balance. trio has no ``select``: the requests come on one
channel as tagged values (``Deposit``, ``Balance`` and exercise 9.1's ``Withdraw``) and the
teller ``match``es them. Go's "send the balance to whoever receives" becomes a request that
carries a channel for the reply. The teller is a task in the caller's nursery, not a
goroutine started by the package's ``init``, and a ``Bank`` is an object, not the package.

A caller may be cancelled after its request was taken and before it read the reply. That
must not stop or block the teller, which serves everyone: each reply channel has room for
one answer, so the teller never waits to reply, and a caller that gave up has closed its
end, so the teller's ``send_nowait`` raises ``BrokenResourceError``, which it ignores. (An
unbuffered reply channel, or letting that error out, would block or kill the teller.) The
request itself still happened: a withdrawal whose caller was cancelled may have been made.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO, TypeVar

import trio

from gopl_trio import _banktest

T = TypeVar("T")


@dataclass(frozen=True)
class Deposit:
    amount: int


@dataclass(frozen=True)
class Balance:
    reply: trio.MemorySendChannel[int]


@dataclass(frozen=True)
class Withdraw:
    amount: int
    reply: trio.MemorySendChannel[bool]


Request = Deposit | Balance | Withdraw


class Bank:
    """Run :meth:`teller` in a nursery; then deposit, withdraw and ask the balance."""

    def __init__(self) -> None:
        self._requests, self._incoming = trio.open_memory_channel[Request](0)

    async def deposit(self, amount: int) -> None:
        await self._requests.send(Deposit(amount))

    async def balance(self) -> int:
        reply_tx, reply = trio.open_memory_channel[int](1)
        with reply:
            await self._requests.send(Balance(reply_tx))
            return await reply.receive()

    async def withdraw(self, amount: int) -> bool:
        reply_tx, reply = trio.open_memory_channel[bool](1)
        with reply:
            await self._requests.send(Withdraw(amount, reply_tx))
            return await reply.receive()

    async def teller(self) -> None:
        balance = 0  # no other task can reach this variable
        with self._incoming:  # once the teller has stopped, callers get BrokenResourceError
            async for request in self._incoming:
                match request:
                    case Deposit(amount):
                        balance += amount
                    case Balance(reply):
                        answer(reply, balance)
                    case Withdraw(amount, reply):
                        ok = amount <= balance
                        if ok:
                            balance -= amount
                        answer(reply, ok)


def answer(reply: trio.MemorySendChannel[T], value: T) -> None:
    """Reply without waiting; a caller that stopped waiting is not the teller's problem."""
    with reply, contextlib.suppress(trio.BrokenResourceError):
        reply.send_nowait(value)


async def demo(amounts: Sequence[int], out: TextIO) -> None:
    bank = Bank()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bank.teller)
        await _banktest.customers(bank, amounts, out)
        nursery.cancel_scope.cancel()  # the teller would serve for ever


def main(argv: list[str] | None = None) -> int:
    return _banktest.main("bank1", "A bank run by a teller task.", demo, argv)


if __name__ == "__main__":
    sys.exit(main())
