"""Tests for gopl_trio.mirrored (mirroredQuery, §8.4.4): simulated mirrors on MockClock."""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping

import pytest
import trio
import trio.testing

from gopl_trio import mirrored

DELAYS = {"asia.gopl.io": 0.3, "europe.gopl.io": 0.1, "americas.gopl.io": 0.2}


# Virtual seconds (autojump clock): a request left blocked on its send would make the query
# hang, and the deadline turns that into an immediate failure.
DEADLINE = 60


def tasks_living() -> int:
    return trio.lowlevel.current_statistics().tasks_living


def task_tree_size(task: trio.lowlevel.Task) -> int:
    return 1 + sum(
        task_tree_size(child) for nursery in task.child_nurseries for child in nursery.child_tasks
    )


async def test_quickest_mirror_wins_and_the_others_are_cancelled(
    autojump_clock: trio.abc.Clock,
) -> None:
    before = tasks_living()
    tree_before = task_tree_size(trio.lowlevel.current_root_task())
    start = trio.current_time()
    with trio.fail_after(DEADLINE):
        assert await mirrored.mirrored_query(DELAYS) == "response from europe.gopl.io"
    # Returned when the quickest answered, not when the slowest would have ...
    assert trio.current_time() - start == pytest.approx(0.1)
    # ... and the slower requests are gone, not parked on a channel nobody reads.
    assert tasks_living() == before
    assert task_tree_size(trio.lowlevel.current_root_task()) == tree_before


async def test_random_mirrors(autojump_clock: trio.abc.Clock) -> None:
    rng = random.Random(8)
    for _ in range(50):
        delays = {f"m{i}.example": rng.uniform(0, 5) for i in range(rng.randint(1, 20))}
        fastest = min(delays, key=delays.__getitem__)
        before, start = tasks_living(), trio.current_time()
        with trio.fail_after(DEADLINE):
            assert await mirrored.mirrored_query(delays) == f"response from {fastest}"
        assert trio.current_time() - start == pytest.approx(delays[fastest])
        assert tasks_living() == before


async def test_a_tie_still_gives_exactly_one_answer(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(DEADLINE):
        answer = await mirrored.mirrored_query({"a": 0.5, "b": 0.5, "c": 0.5})
    assert answer in {"response from a", "response from b", "response from c"}


async def test_cancelling_the_query_cancels_every_request(autojump_clock: trio.abc.Clock) -> None:
    before = tasks_living()
    with trio.move_on_after(0.05) as scope:
        await mirrored.mirrored_query(DELAYS)
    assert scope.cancelled_caught
    assert tasks_living() == before


# --- the lessons, as counter-examples -------------------------------------------------------


async def query_without_cancel(delays: Mapping[str, float], buffer: int) -> tuple[str, float]:
    """mirroredQuery as a literal port: no cancel. Returns the answer and when it was received."""
    responses_tx, responses = trio.open_memory_channel[str](buffer)

    async def ask(hostname: str, delay: float) -> None:
        await responses_tx.send(await mirrored.request(hostname, delay))

    async with trio.open_nursery() as nursery:
        for hostname, delay in delays.items():
            nursery.start_soon(ask, hostname, delay)
        response = await responses.receive()
        received = trio.current_time()
    return response, received


async def test_without_cancel_a_buffer_turns_the_leak_into_a_wait(
    autojump_clock: trio.abc.Clock,
) -> None:
    # The book's buffered channel, without our cancel: the answer is there after 0.1 s, but the
    # nursery will not let the function return before every request has finished.
    start = trio.current_time()
    response, received = await query_without_cancel(DELAYS, buffer=len(DELAYS))
    assert response == "response from europe.gopl.io"
    assert received - start == pytest.approx(0.1)
    assert trio.current_time() - start == pytest.approx(0.3)


async def test_without_cancel_or_buffer_the_leak_becomes_a_visible_hang(
    autojump_clock: trio.abc.Clock,
) -> None:
    # Go: two goroutines blocked forever on send, and the caller never knows. trio: the
    # nursery waits for them, so the caller does not return at all -- a bug you cannot miss.
    with trio.move_on_after(60) as scope:
        await query_without_cancel(DELAYS, buffer=0)
    assert scope.cancelled_caught


async def test_loop_variable_capture(autojump_clock: trio.abc.Clock) -> None:
    # Go before 1.22 and Python alike: a closure sees the loop variable's *latest* value.
    # The task bodies run only after the loop has finished, so all of them see the last host.
    seen: list[str] = []
    async with trio.open_nursery() as nursery:
        for hostname in DELAYS:

            async def late() -> None:
                seen.append(hostname)  # noqa: B023 -- the trap under test

            nursery.start_soon(late)
    assert seen == ["americas.gopl.io"] * 3
    # start_soon(fn, *args) evaluates the arguments at once, as mirrored_query does.
    seen.clear()
    async with trio.open_nursery() as nursery:
        for hostname in DELAYS:

            async def bound(name: str) -> None:
                seen.append(name)

            nursery.start_soon(bound, hostname)
    assert sorted(seen) == sorted(DELAYS)


# --- the program ----------------------------------------------------------------------------


async def test_cli() -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "-m", "gopl_trio.mirrored", "--seed", "3", "--max-delay", "0.05"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert (done.returncode, done.stderr) == (0, b"")
    *plans, result = done.stdout.decode().splitlines()
    delays = {}
    for line in plans:
        hostname, _, rest = line.partition(" would answer in ")
        delays[hostname] = float(rest.removesuffix(" s"))
    assert set(delays) == set(mirrored.MIRRORS)
    fastest = min(delays, key=delays.__getitem__)
    assert result.startswith(f"response from {fastest} after ")
    assert result.endswith("; tasks left behind: 0")


async def test_cli_rejects_a_negative_delay() -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "-m", "gopl_trio.mirrored", "--max-delay", "-1"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 2
    assert b"mirrored: error: argument --max-delay" in done.stderr
