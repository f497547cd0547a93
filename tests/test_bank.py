"""Tests for gopl_trio.bank1-3 (gopl.io/ch9/bank1-3, §9.1-9.2, exercise 9.1).

On the autojump MockClock; callers are arranged with ``wait_all_tasks_blocked``, and a
caller "waiting its turn" is made by holding the bank's guard in the test (bank2, bank3) or
by not having started the teller yet (bank1).
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import pytest
import trio
import trio.testing

from gopl_trio import bank1, bank2, bank3

MODULES = [bank1, bank2, bank3]
IDS = ["bank1", "bank2", "bank3"]

DEADLINE = 60  # virtual seconds: a caller or teller stuck for ever fails at once


@asynccontextmanager
async def open_bank(module: ModuleType) -> AsyncIterator[Any]:
    """A bank of *module*; for bank1 with its teller serving until the block ends."""
    bank = module.Bank()
    if module is not bank1:
        yield bank
        return
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bank.teller)
        yield bank
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def turn_held(module: ModuleType, bank: Any, nursery: trio.Nursery) -> AsyncIterator[None]:
    """Until the block ends, callers of *bank* wait for their turn: the test holds bank2's
    semaphore or bank3's lock; bank1's teller is started in *nursery* only then."""
    if module is bank1:
        yield
        nursery.start_soon(bank.teller)
    else:
        async with bank._sema if module is bank2 else bank._mu:
            yield
    await trio.testing.wait_all_tasks_blocked()


# --- what every version does ---------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_alice_and_bob(module: ModuleType, autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(DEADLINE):
        async with open_bank(module) as bank:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(bank.deposit, 200)  # Alice
                nursery.start_soon(bank.deposit, 100)  # Bob
            assert await bank.balance() == 300


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_a_thousand_deposits_at_once(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(DEADLINE):
        async with open_bank(module) as bank:
            async with trio.open_nursery() as nursery:
                for i in range(1, 1001):
                    nursery.start_soon(bank.deposit, i)
            assert await bank.balance() == 1001 * 1000 // 2


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_withdraw_reports_whether_it_succeeded(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(DEADLINE):
        async with open_bank(module) as bank:
            await bank.deposit(100)
            assert await bank.withdraw(30) is True
            assert await bank.balance() == 70
            assert await bank.withdraw(71) is False  # insufficient funds: nothing changes
            assert await bank.balance() == 70
            assert await bank.withdraw(70) is True
            assert await bank.balance() == 0
            assert await bank.withdraw(1) is False


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_concurrent_withdrawals_never_overdraw_nor_fail_spuriously(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    """100 in the account; at once, one customer asks for 150 and a hundred ask for 1 each.
    The 150 can never be paid; every 1 can. A Withdraw built from Deposit and Balance would
    make the balance negative for a moment and refuse some of the 1s (see the counter-example
    below)."""
    results: list[tuple[int, bool]] = []

    async def withdraw(bank: Any, amount: int) -> None:
        results.append((amount, await bank.withdraw(amount)))

    for seed in range(5):
        with trio.fail_after(DEADLINE):
            async with open_bank(module) as bank:
                await bank.deposit(100)
                amounts = [1] * 100 + [150]
                random.Random(seed).shuffle(amounts)
                results.clear()
                async with trio.open_nursery() as nursery:
                    for amount in amounts:
                        nursery.start_soon(withdraw, bank, amount)
                assert sorted(results) == [(1, True)] * 100 + [(150, False)]
                assert await bank.balance() == 0


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_random_customers_balance_adds_up(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    rng = random.Random(9)
    amounts = [rng.choice([1, -1]) * rng.randint(1, 50) for _ in range(300)]
    paid: list[int] = []

    async def customer(bank: Any, amount: int) -> None:
        if amount > 0:
            await bank.deposit(amount)
        elif await bank.withdraw(-amount):
            paid.append(-amount)

    with trio.fail_after(DEADLINE):
        async with open_bank(module) as bank:
            async with trio.open_nursery() as nursery:
                for amount in amounts:
                    nursery.start_soon(customer, bank, amount)
            assert await bank.balance() == sum(a for a in amounts if a > 0) - sum(paid)
            assert await bank.balance() >= 0


# --- cancellation ----------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_a_caller_cancelled_while_waiting_its_turn_does_nothing(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    bank = module.Bank()
    scopes = [trio.CancelScope() for _ in range(10)]
    done: list[int] = []

    async def deposit(i: int) -> None:
        with scopes[i]:
            await bank.deposit(10**i)
            done.append(i)

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            async with turn_held(module, bank, nursery):
                for i in range(10):
                    nursery.start_soon(deposit, i)
                await trio.testing.wait_all_tasks_blocked()
                assert done == []  # every caller is waiting its turn
                for scope in scopes[::2]:
                    scope.cancel()
                await trio.testing.wait_all_tasks_blocked()
                assert done == []
            # The turn is free again: the callers still waiting get it, one by one.
            assert sorted(done) == [1, 3, 5, 7, 9]
            assert await bank.balance() == 1010101010
            assert await bank.withdraw(1010101010) is True
            nursery.cancel_scope.cancel()  # bank1's teller


async def test_bank1_teller_survives_a_caller_that_stopped_waiting_for_its_reply(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The caller's request is taken, then the caller is cancelled before the reply comes:
    the teller must neither block on the reply nor die of BrokenResourceError."""
    bank = bank1.Bank()
    caller = trio.CancelScope()
    got: list[bool] = []

    async def withdraw() -> None:
        with caller:
            got.append(await bank.withdraw(50))

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(withdraw)
            await trio.testing.wait_all_tasks_blocked()
            request = await bank._incoming.receive()  # taken, as by the teller's receive
            await trio.testing.wait_all_tasks_blocked()
            caller.cancel()  # the caller gives up while it waits for the reply
            await trio.testing.wait_all_tasks_blocked()
            assert caller.cancelled_caught and got == []

            nursery.start_soon(bank.teller)
            await bank.deposit(80)
            await bank._requests.send(request)  # now the teller serves it: the reply fails
            # And two requests whose callers never read the reply, nor closed the channel:
            for _ in range(2):
                reply_tx, _unread = trio.open_memory_channel[int](1)
                await bank._requests.send(bank1.Balance(reply_tx))
            assert await bank.balance() == 30  # still serving; the withdrawal was made
            assert await bank.withdraw(30) is True
            assert await bank.balance() == 0
            nursery.cancel_scope.cancel()


async def test_bank1_callers_after_the_teller_stopped_are_told(
    autojump_clock: trio.abc.Clock,
) -> None:
    bank = bank1.Bank()
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bank.teller)
            await bank.deposit(5)
            nursery.cancel_scope.cancel()
        with pytest.raises(trio.BrokenResourceError):
            await bank.deposit(1)
        with pytest.raises(trio.BrokenResourceError):
            await bank.balance()


async def test_bank3_withdraw_does_not_take_the_lock_twice(autojump_clock: trio.abc.Clock) -> None:
    """A trio.Lock raises RuntimeError when its holder acquires it again (Go's deadlocks):
    withdraw works inside one critical section through the lock-free _deposit."""
    bank = bank3.Bank()
    await bank.deposit(10)
    assert await bank.withdraw(20) is False
    assert await bank.withdraw(10) is True
    assert not bank._mu.locked()


# --- the lesson of §9.2, as a counter-example ------------------------------------------------


async def test_withdraw_built_from_deposit_and_balance_refuses_a_small_one(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The book's first Withdraw, Deposit(-amount) then Balance() < 0, is two critical
    sections: between them the balance is negative, and a small withdrawal that comes in
    between is refused although the money was there all along. bank3's withdraw is one."""
    bank = bank3.Bank()
    await bank.deposit(100)
    small: list[bool] = []

    async def withdraw_small() -> None:
        small.append(await bank.withdraw(50))

    async with trio.open_nursery() as nursery:
        await bank.deposit(-150)  # the large withdrawal, step 1
        nursery.start_soon(withdraw_small)  # ... and someone withdraws 50 meanwhile
        await trio.testing.wait_all_tasks_blocked()
        if await bank.balance() < 0:  # step 2: insufficient funds, so
            await bank.deposit(150)  # undo
    assert small == [False]
    assert await bank.balance() == 100  # the money was there all along

    small.clear()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bank.withdraw, 150)  # the whole of it, one critical section
        nursery.start_soon(withdraw_small)
    assert small == [True]
    assert await bank.balance() == 50


# --- the programs ----------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_demo_prints_each_customer_then_the_balance(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    out = io.StringIO()
    with trio.fail_after(DEADLINE):
        await module.demo([200, 100, -250], out)
    lines = out.getvalue().splitlines()
    assert lines[-1] in {"balance 50", "balance 300"}
    withdrawn = (
        "withdrew 250"
        if lines[-1] == "balance 50"
        else ("could not withdraw 250: insufficient funds")
    )
    assert sorted(lines[:-1]) == sorted(["deposited 200", "deposited 100", withdrawn])
    before = trio.lowlevel.current_statistics().tasks_living
    await module.demo([], io.StringIO())
    assert trio.lowlevel.current_statistics().tasks_living == before  # bank1's teller stopped


def run_program(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"gopl_trio.{module}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("name", IDS)
def test_program(name: str) -> None:
    done = run_program(name, "7", "-3", "-5")
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert "deposited 7" in lines
    assert lines[-1] in {"balance 7", "balance 4", "balance 2"}


def test_program_help_and_bad_input() -> None:
    done = run_program("bank1", "--help")
    assert done.returncode == 0 and "AMOUNT" in done.stdout
    done = run_program("bank1", "ten")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[-1] == "bank1: error: argument AMOUNT: invalid int value: 'ten'"
