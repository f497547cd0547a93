"""Tests for gopl_trio.mirrored (mirroredQuery, §8.4.4): simulated mirrors on MockClock."""

from __future__ import annotations

import random
import sys

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


# The literal port without cancel (a wait or a hang instead of Go's leak) and the
# loop-variable trap are claims about trio, not about this module: they run as the porting
# guide's examples docs/examples/leak_becomes_hang.py and loop_variable.py (tests/test_guide.py).


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
