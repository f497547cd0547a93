"""Tests for gopl_trio.memo1-5 (gopl.io/ch9/memo1-5, §9.7).

Everything timed runs on the autojump MockClock: the memoized function sleeps for one virtual
second and records each call, so the tests can count calls and see when each caller got its
value. Concurrency is arranged with ``wait_all_tasks_blocked``, never with sleeps.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import pytest
import trio
import trio.testing

from gopl_trio import _memotest, memo1, memo2, memo3, memo4, memo5

MODULES = [memo1, memo2, memo3, memo4, memo5]
IDS = [m.__name__.rsplit(".", 1)[1] for m in MODULES]
SUPPRESSING = [memo4, memo5]  # one call per key, concurrently

# Virtual seconds: a caller left waiting for ever fails the test at once instead of hanging.
DEADLINE = 60


class SlowFunction:
    """``await f(key)`` takes one virtual second and returns ``"value of KEY"``; keys that
    start with "bad" raise ``ValueError``. Records when each call started and how it ended."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []
        self.cancelled: list[tuple[float, str]] = []

    def count(self, key: str) -> int:
        return sum(1 for _, k in self.calls if k == key)

    async def __call__(self, key: str) -> str:
        self.calls.append((trio.current_time(), key))
        try:
            await trio.sleep(1)
        except trio.Cancelled:
            self.cancelled.append((trio.current_time(), key))
            raise
        if key.startswith("bad"):
            raise ValueError(f"no value for {key}")
        return f"value of {key}"


@asynccontextmanager
async def open_memo(module: ModuleType, f: SlowFunction) -> AsyncIterator[Any]:
    """A memo of *module* over *f*; for memo5 with its server running until the block ends."""
    memo = module.Memo(f)
    if module is not memo5:
        yield memo
        return
    async with trio.open_nursery() as nursery:
        nursery.start_soon(memo.server)
        yield memo
        memo.close()


class Callers:
    """Callers of ``memo.get`` started one by one, each in a cancel scope of its own."""

    def __init__(self, memo: Any, nursery: trio.Nursery) -> None:
        self.memo, self.nursery = memo, nursery
        self.got: dict[int, tuple[float, object]] = {}  # caller -> (when, value or error)
        self.scopes: list[trio.CancelScope] = []

    async def start(self, key: str) -> int:
        """Start a caller of get(key) and let it run until it blocks; return its number."""
        n = len(self.scopes)
        self.scopes.append(trio.CancelScope())
        self.nursery.start_soon(self._get, n, key)
        await trio.testing.wait_all_tasks_blocked()
        return n

    async def _get(self, n: int, key: str) -> None:
        with self.scopes[n]:
            try:
                value: object = await self.memo.get(key)
            except ValueError as exc:
                value = exc
            self.got[n] = (trio.current_time(), value)


def now() -> float:
    return trio.current_time()


# --- every version: a cache --------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_one_after_another_each_key_is_computed_once(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    f = SlowFunction()
    start = now()
    with trio.fail_after(DEADLINE):
        async with open_memo(module, f) as memo:
            assert await memo.get("a") == "value of a"
            assert now() - start == 1
            assert await memo.get("b") == "value of b"
            assert await memo.get("a") == "value of a"  # a hit takes no time
            assert await memo.get("b") == "value of b"
            assert now() - start == 2
    assert [k for _, k in f.calls] == ["a", "b"]


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_errors_are_cached_like_values(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    f = SlowFunction()
    with trio.fail_after(DEADLINE):
        async with open_memo(module, f) as memo:
            for _ in range(3):
                with pytest.raises(ValueError, match="no value for bad"):
                    await memo.get("bad")
    assert f.count("bad") == 1


# --- memo1 and memo3: check-then-act across an await is a race ----------------------------


@pytest.mark.parametrize("module", [memo1, memo3], ids=["memo1", "memo3"])
async def test_callers_that_overlap_each_call_f(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    """No two trio tasks run at once, yet the cache lets the same key be computed 10 times:
    each caller checks the cache, misses, and awaits f -- and while it awaits, the next
    caller checks and misses too."""
    f = SlowFunction()
    with trio.fail_after(DEADLINE):
        async with open_memo(module, f) as memo, trio.open_nursery() as nursery:
            callers = Callers(memo, nursery)
            for _ in range(10):
                await callers.start("k")
                await trio.sleep(0.05)  # virtual time: each arrives while the others compute
    assert f.count("k") == 10  # duplicate calls: the race
    assert {value for _, value in callers.got.values()} == {"value of k"}
    assert await memo.get("k") == "value of k"  # once stored, a hit
    assert f.count("k") == 10


# --- memo2: correct, and serial --------------------------------------------------------------


async def test_memo2_calls_once_per_key_but_one_at_a_time(autojump_clock: trio.abc.Clock) -> None:
    f = SlowFunction()
    start = now()
    with trio.fail_after(DEADLINE):
        async with open_memo(memo2, f) as memo, trio.open_nursery() as nursery:
            callers = Callers(memo, nursery)
            for key in ["a", "b", "c"] * 4:
                await callers.start(key)
    assert sorted(k for _, k in f.calls) == ["a", "b", "c"]
    # The lock is held across each call: the three keys took three calls' time.
    assert sorted(t - start for t, _ in f.calls) == [0, 1, 2]
    assert now() - start == 3


async def test_memo2_a_hit_waits_behind_another_keys_miss(autojump_clock: trio.abc.Clock) -> None:
    f = SlowFunction()
    with trio.fail_after(DEADLINE):
        async with open_memo(memo2, f) as memo, trio.open_nursery() as nursery:
            await memo.get("b")
            callers = Callers(memo, nursery)
            await callers.start("a")  # a miss: holds the lock for a second
            start = now()
            assert await memo.get("b") == "value of b"  # cached, yet...
            assert now() - start == 1  # ...it waited for the lock


async def test_memo2_a_cancelled_caller_hands_the_lock_to_the_next(
    autojump_clock: trio.abc.Clock,
) -> None:
    f = SlowFunction()
    start = now()
    with trio.fail_after(DEADLINE):
        async with open_memo(memo2, f) as memo, trio.open_nursery() as nursery:
            callers = Callers(memo, nursery)
            first = await callers.start("k")
            waiter = await callers.start("k")
            await trio.sleep(0.5)
            callers.scopes[first].cancel()
    assert first not in callers.got
    assert callers.got[waiter] == (start + 1.5, "value of k")  # the waiter computed it
    assert f.calls == [(start, "k"), (start + 0.5, "k")]
    assert f.cancelled == [(start + 0.5, "k")]


# --- memo4 and memo5: duplicate suppression ------------------------------------------------


@pytest.mark.parametrize("module", SUPPRESSING, ids=["memo4", "memo5"])
async def test_many_callers_at_once_one_call_per_key(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    f = SlowFunction()
    keys = [f"k{i % 7}" for i in range(200)]
    got: list[tuple[float, str, str]] = []

    async def get(memo: Any, key: str) -> None:
        value = await memo.get(key)
        got.append((now(), key, value))

    start = now()
    with trio.fail_after(DEADLINE):
        async with open_memo(module, f) as memo, trio.open_nursery() as nursery:
            for key in keys:
                nursery.start_soon(get, memo, key)
    assert sorted(k for _, k in f.calls) == sorted(set(keys))  # exactly one call per key
    assert {t - start for t, _ in f.calls} == {0}  # all at once: no key waited for another
    assert sorted((t - start, k, v) for t, k, v in got) == sorted(
        (1, k, f"value of {k}") for k in keys
    )


@pytest.mark.parametrize("module", SUPPRESSING, ids=["memo4", "memo5"])
async def test_cancelled_waiters_change_nothing(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    f = SlowFunction()
    start = now()
    with trio.fail_after(DEADLINE):
        async with open_memo(module, f) as memo, trio.open_nursery() as nursery:
            callers = Callers(memo, nursery)
            first = await callers.start("k")
            waiters = [await callers.start("k") for _ in range(6)]
            await trio.sleep(0.5)
            for n in waiters[::2]:
                callers.scopes[n].cancel()
    assert f.calls == [(start, "k")] and f.cancelled == []
    assert callers.got == {n: (start + 1, "value of k") for n in [first, *waiters[1::2]]}


async def test_memo4_a_cancelled_first_caller_hands_the_call_to_a_waiter(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The first caller computes the value in its own task, so its cancellation stops the
    call; the waiters are woken, and one of them calls f again. Nobody waits for ever, and
    f runs to completion once."""
    f = SlowFunction()
    start = now()
    with trio.fail_after(DEADLINE):
        async with open_memo(memo4, f) as memo, trio.open_nursery() as nursery:
            callers = Callers(memo, nursery)
            first = await callers.start("k")
            waiters = [await callers.start("k") for _ in range(5)]
            await trio.sleep(0.5)
            callers.scopes[first].cancel()
    assert f.calls == [(start, "k"), (start + 0.5, "k")]
    assert f.cancelled == [(start + 0.5, "k")]
    assert callers.got == {n: (start + 1.5, "value of k") for n in waiters}
    assert await memo.get("k") == "value of k"
    assert len(f.calls) == 2


async def test_memo4_a_call_nobody_waits_for_is_stopped(autojump_clock: trio.abc.Clock) -> None:
    f = SlowFunction()
    start = now()
    with trio.fail_after(DEADLINE):
        async with open_memo(memo4, f) as memo:
            with trio.move_on_after(0.5):
                await memo.get("k")
            assert f.cancelled == [(start + 0.5, "k")]
            assert await memo.get("k") == "value of k"  # asked again: computed again
    assert f.calls == [(start, "k"), (start + 0.5, "k")]


async def test_memo5_the_call_belongs_to_the_server_not_to_the_caller(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A cancelled first caller does not cancel the call: the waiters get the value when the
    one call ends, and so does the next caller, without a second call."""
    f = SlowFunction()
    start = now()
    with trio.fail_after(DEADLINE):
        async with open_memo(memo5, f) as memo, trio.open_nursery() as nursery:
            callers = Callers(memo, nursery)
            first = await callers.start("k")
            waiters = [await callers.start("k") for _ in range(5)]
            await trio.sleep(0.5)
            callers.scopes[first].cancel()
            await trio.testing.wait_all_tasks_blocked()
            for n in waiters:  # every caller gone: the call goes on regardless
                callers.scopes[n].cancel()
            await trio.sleep(1)
            assert await memo.get("k") == "value of k"
            assert now() - start == 1.5  # a hit
    assert f.calls == [(start, "k")] and f.cancelled == []
    assert callers.got == {}


async def test_memo5_close_ends_the_server_after_the_calls_in_flight(
    autojump_clock: trio.abc.Clock,
) -> None:
    f = SlowFunction()
    memo = memo5.Memo(f)
    start = now()
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(memo.server)
            with trio.move_on_after(0.5):
                await memo.get("k")  # gives up; the call goes on in the server's nursery
            memo.close()
        assert now() - start == 1  # the server returned when the call was done
        with pytest.raises(trio.ClosedResourceError):
            await memo.get("k")
    assert f.calls == [(start, "k")] and f.cancelled == []


async def test_memo5_a_stopped_server_does_not_leave_callers_waiting(
    autojump_clock: trio.abc.Clock,
) -> None:
    f = SlowFunction()
    memo = memo5.Memo(f)
    errors: list[BaseException] = []

    async def get() -> None:
        try:
            await memo.get("k")
        except trio.BrokenResourceError as exc:
            errors.append(exc)

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            server_scope = trio.CancelScope()
            nursery.start_soon(run_in, server_scope, memo.server)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(get)  # waiting for its reply ...
            await trio.testing.wait_all_tasks_blocked()
            server_scope.cancel()  # ... when the server is stopped
        await get()  # and a request after the server stopped
    assert len(errors) == 2  # neither caller waits for ever
    assert str(errors[0]) == "the memo's server stopped"


async def run_in(scope: trio.CancelScope, fn: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await fn()


# --- the driver and the programs -----------------------------------------------------------

SUMMARIES = {
    # concurrent: requests, keys, calls, duplicates, virtual seconds with a 0.5 s function
    memo1: "8 requests, 4 keys, 8 calls of fake_fetch (4 duplicate), 0.50 s",
    memo2: "8 requests, 4 keys, 4 calls of fake_fetch (0 duplicate), 2.00 s",
    memo3: "8 requests, 4 keys, 8 calls of fake_fetch (4 duplicate), 0.50 s",
    memo4: "8 requests, 4 keys, 4 calls of fake_fetch (0 duplicate), 0.50 s",
    memo5: "8 requests, 4 keys, 4 calls of fake_fetch (0 duplicate), 0.50 s",
}


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_the_book_driver_all_at_once(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    out = io.StringIO()
    with trio.fail_after(DEADLINE):
        await _memotest.report(module.memotest, _memotest.FakeFetch(0.5), _memotest.KEYS, True, out)
    lines = out.getvalue().splitlines()
    assert lines[-1] == SUMMARIES[module]
    assert sorted(line.split(",")[0] for line in lines[:-1]) == sorted(_memotest.KEYS)


@pytest.mark.parametrize("module", MODULES, ids=IDS)
async def test_the_book_driver_one_after_another(
    module: ModuleType, autojump_clock: trio.abc.Clock
) -> None:
    out = io.StringIO()
    with trio.fail_after(DEADLINE):
        await _memotest.report(
            module.memotest, _memotest.FakeFetch(0.5), ["x", "y", "x"], False, out
        )
    assert out.getvalue().splitlines() == [
        "x, 500 ms, 2500 bytes",
        "y, 500 ms, 2500 bytes",
        "x, 0 ms, 2500 bytes",
        "3 requests, 2 keys, 2 calls of fake_fetch (0 duplicate), 1.00 s",
    ]


def run_program(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"gopl_trio.{module}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_program_prints_the_lesson(module: ModuleType) -> None:
    name = module.__name__.rsplit(".", 1)[1]
    done = run_program(name, "--delay", "0.01")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    summary = done.stdout.splitlines()[-1]
    assert summary.rsplit(",", 1)[0] == SUMMARIES[module].rsplit(",", 1)[0]


def test_program_help_and_bad_input() -> None:
    done = run_program("memo4", "--help")
    assert done.returncode == 0 and "--sequential" in done.stdout
    done = run_program("memo4", "--delay", "soon")
    assert done.returncode == 2
    assert (
        done.stderr.splitlines()[-1]
        == "memo4: error: argument --delay: invalid seconds value: 'soon'"
    )
    assert done.stdout == ""
