"""The reader-process pool behind du3/du4: results, errors, jobs at once, prompt cancellation,
no leftovers -- and a worker stuck for ever is left behind within the stated bound.

Jobs meet on a ``multiprocessing.Barrier`` or an ``Event`` that the forked workers inherit,
so that "running at the same time" and "running now" are facts, never guesses from sleeps.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from gopl_trio import _readers, _slowfs
from gopl_trio._readers import REAP_LIMIT, Stuck, WorkerDied, open_reader_pool

_fork = multiprocessing.get_context("fork")
# Set by a test before the pool forks its workers, which inherit them.
BARRIER: Any = None
STARTED: Any = None
RUNNING: Any = None
PEAK: Any = None


def divide(a: int, b: int) -> float:
    return a / b


def pid_of_worker() -> int:
    return os.getpid()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def meet() -> bool:
    """Return once BARRIER.parties jobs are running at once (BrokenBarrierError after 30 s);
    PEAK records the most jobs ever running at once."""
    with RUNNING.get_lock():
        RUNNING.value += 1
        PEAK.value = max(PEAK.value, RUNNING.value)
    try:
        BARRIER.wait(30)
        return True
    finally:
        with RUNNING.get_lock():
            RUNNING.value -= 1


def meet_then_wait_for_started() -> int:
    """:func:`meet`, then wait until STARTED is set; return this worker's pid."""
    meet()
    assert STARTED.wait(30)
    return os.getpid()


def start_then_block() -> None:
    STARTED.set()
    time.sleep(600)


def hang_reading(path: str) -> None:
    _readers.note_writer()(path)
    _slowfs.hang()


def wait_for_a_byte(fifo: Path) -> bytes:
    with open(fifo, "rb") as reader:
        return reader.read(1)


@pytest.fixture
def shared() -> Any:
    global RUNNING, PEAK, STARTED
    RUNNING, PEAK = _fork.Value("i", 0), _fork.Value("i", 0)
    STARTED = _fork.Event()
    yield
    RUNNING = PEAK = STARTED = None


async def test_runs_functions_in_other_processes() -> None:
    async with open_reader_pool(2) as pool:
        assert await pool.run_sync(divide, 1, 4) == 0.25
        assert await pool.run_sync(pid_of_worker) != os.getpid()
    assert pool.stuck == []
    assert multiprocessing.active_children() == []


async def test_exceptions_come_back_to_the_caller() -> None:
    async with open_reader_pool(1) as pool:
        with pytest.raises(ZeroDivisionError):
            await pool.run_sync(divide, 1, 0)
        assert await pool.run_sync(divide, 6, 3) == 2  # the worker survived


async def test_jobs_run_at_once_up_to_the_limit_in_few_processes(shared: None) -> None:
    """Eight jobs that can only finish together, in two processes: threads inside them."""
    global BARRIER
    BARRIER = _fork.Barrier(8)
    async with open_reader_pool(limit=8, processes=2) as pool:
        pids: set[int] = set()
        results: list[bool] = []

        async def one() -> None:
            results.append(await pool.run_sync(meet))

        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(one)
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(_add_pid, pool, pids)
    assert results == [True] * 8  # all eight were running when they met
    assert 1 <= len(pids) <= 2
    assert multiprocessing.active_children() == []


async def _add_pid(pool: _readers.ReaderPool, pids: set[int]) -> None:
    pids.add(await pool.run_sync(pid_of_worker))


async def test_never_more_jobs_than_the_limit(shared: None) -> None:
    """Twelve jobs, limit 3: they meet three at a time, and never four are running."""
    global BARRIER
    BARRIER = _fork.Barrier(3)
    async with open_reader_pool(limit=3, processes=2) as pool, trio.open_nursery() as nursery:
        for _ in range(12):
            nursery.start_soon(pool.run_sync, meet)
    assert PEAK.value == 3
    assert pool.peak_running == 3


async def test_the_limit_can_be_raised_during_a_run(shared: None) -> None:
    global BARRIER
    BARRIER = _fork.Barrier(6)
    async with open_reader_pool(limit=2, processes=1) as pool, trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(pool.run_sync, meet)
        await trio.testing.wait_all_tasks_blocked()
        assert pool.busy == 2
        pool.limit = 6
    assert PEAK.value == 6


async def test_with_a_job_per_process_each_worker_is_sent_its_next_job_early(
    shared: None,
) -> None:
    """Limit 2 in two processes: four jobs are sent at once -- two running, and one waiting
    in each worker's pipe for the one before it -- and never more than two run at once."""
    global BARRIER
    BARRIER = _fork.Barrier(2)  # jobs meet two by two: each pair runs at once
    async with open_reader_pool(limit=2, processes=2) as pool, trio.open_nursery() as nursery:
        pids: list[int] = []

        async def one() -> None:
            pids.append(await pool.run_sync(meet_then_wait_for_started))

        for _ in range(6):
            nursery.start_soon(one)
        await trio.testing.wait_all_tasks_blocked()
        assert (pool.busy, pool.running) == (4, 2)  # the other two wait for a place here
        assert sorted(len(worker.waiting) for worker in pool._every) == [2, 2]
        STARTED.set()
    assert len(pids) == 6 and len(set(pids)) == 2
    assert PEAK.value == 2 and pool.peak_running == 2


async def test_cancel_returns_at_once_and_the_pool_ends_the_job(shared: None) -> None:
    async with open_reader_pool(1) as pool:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pool.run_sync, start_then_block)
                await trio.to_thread.run_sync(STARTED.wait, 30)  # the job is running
                scope.cancel()
        assert scope.cancelled_caught
        (worker,) = pool._every
        assert worker.process.is_alive()  # the call did not wait for the job
        assert await pool.run_sync(divide, 1, 1) == 1  # the pool still works
    assert worker.gone and pool.stuck == []
    assert multiprocessing.active_children() == []


async def test_an_idle_worker_killed_from_outside_is_replaced() -> None:
    async with open_reader_pool(1) as pool:
        first = await pool.run_sync(pid_of_worker)
        os.kill(first, signal.SIGKILL)
        pool._every[0].process.join(10)  # the kill has landed
        await trio.testing.wait_all_tasks_blocked()  # the pool has seen the pipe close
        assert await pool.run_sync(pid_of_worker) not in (first, os.getpid())
    assert multiprocessing.active_children() == []


async def test_a_worker_that_dies_during_a_job_is_reported() -> None:
    async with open_reader_pool(1) as pool:
        with pytest.raises(WorkerDied):
            await pool.run_sync(die)
    assert multiprocessing.active_children() == []


async def test_a_worker_stuck_for_ever_is_left_behind_within_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that hangs as a ``stat`` on a hung mount does: the pool does not wait for it."""
    fifo = tmp_path / "hung"
    os.mkfifo(fifo)
    monkeypatch.setattr(_slowfs, "HANG_SIGNAL", str(fifo))
    async with open_reader_pool(1) as pool:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pool.run_sync, hang_reading, "/mnt/hung/dir")
                assert await trio.to_thread.run_sync(wait_for_a_byte, fifo) == b"!"
                scope.cancel()
        (worker,) = pool._every
        pid = worker.process.pid
        closing = time.monotonic()
    waited = time.monotonic() - closing
    assert pool.stuck == [Stuck(pid or 0, ["/mnt/hung/dir"])]
    assert waited < REAP_LIMIT / 2  # it gave up after the grace period, not the limit
    worker.process.join(30)  # its helper saw the pool close and let it go
    assert multiprocessing.active_children() == []
