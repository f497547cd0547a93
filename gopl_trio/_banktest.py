"""What the bank programs share: their command line and the customers (gopl.io/ch9/bank*, §9.1).

The book tests each bank with a few goroutines that deposit at once. Here each amount on
the command line is one customer task, all started at once: a positive amount deposits, a
negative one withdraws (exercise 9.1's ``Withdraw``, which reports whether it succeeded).
Each customer prints what happened; then the final balance is printed. Which withdrawals
succeed depends on the order the customers run in -- run it a few times.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TextIO

import trio

from gopl_trio._run import run

__all__ = ["Bank", "customers", "main"]

AMOUNTS = (200, 100, -250)  # Alice deposits 200, Bob 100, Carol withdraws 250


class Bank(Protocol):
    async def deposit(self, amount: int) -> None: ...
    async def balance(self) -> int: ...
    async def withdraw(self, amount: int) -> bool: ...


async def customer(bank: Bank, amount: int, out: TextIO) -> None:
    if amount >= 0:
        await bank.deposit(amount)
        print(f"deposited {amount}", file=out, flush=True)
    elif await bank.withdraw(-amount):
        print(f"withdrew {-amount}", file=out, flush=True)
    else:
        print(f"could not withdraw {-amount}: insufficient funds", file=out, flush=True)


async def customers(bank: Bank, amounts: Sequence[int], out: TextIO) -> None:
    """One task per amount, all at once; then print the balance."""
    async with trio.open_nursery() as nursery:
        for amount in amounts:
            nursery.start_soon(customer, bank, amount, out)
    print(f"balance {await bank.balance()}", file=out, flush=True)


def main(
    prog: str,
    description: str,
    demo: Callable[[Sequence[int], TextIO], Awaitable[None]],
    argv: list[str] | None,
) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "amounts",
        nargs="*",
        type=int,
        default=list(AMOUNTS),
        metavar="AMOUNT",
        help="one customer each, all at once: N deposits N, -N withdraws N (default: 200 100 -250)",
    )
    args = parser.parse_args(argv)
    run(prog, demo, args.amounts, sys.stdout)
    return 0
