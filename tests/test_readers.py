"""The reader-process pool behind du3/du4: results, errors, prompt cancellation, no leftovers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest
import trio

from gopl_trio._readers import ReaderPool, WorkerDied


def divide(a: int, b: int) -> float:
    return a / b


def pid_of_worker() -> int:
    return os.getpid()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def test_runs_functions_in_other_processes() -> None:
    async with ReaderPool(2) as pool:
        assert await pool.run_sync(divide, 1, 4) == 0.25
        assert await pool.run_sync(pid_of_worker) != os.getpid()
    assert multiprocessing.active_children() == []


async def test_exceptions_come_back_to_the_caller() -> None:
    async with ReaderPool(1) as pool:
        with pytest.raises(ZeroDivisionError):
            await pool.run_sync(divide, 1, 0)
        assert await pool.run_sync(divide, 6, 3) == 2  # the worker survived


async def test_workers_are_reused_and_bounded() -> None:
    async with ReaderPool(2) as pool:
        pids: set[int] = set()

        async def record() -> None:
            pids.add(await pool.run_sync(pid_of_worker))

        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(record)
    assert 1 <= len(pids) <= 2


async def test_cancel_kills_the_worker_without_waiting_for_it() -> None:
    async with ReaderPool(1) as pool:
        await pool.run_sync(pid_of_worker)  # the worker exists
        (worker,) = pool._every
        started = time.monotonic()
        with trio.move_on_after(0.05) as scope:
            await pool.run_sync(time.sleep, 60)
        assert scope.cancelled_caught
        assert time.monotonic() - started < 10  # not the 60 s of the job
        # Not reaped yet (that is the pool's exit), but already told to die:
        assert await pool.run_sync(divide, 1, 1) == 1  # a fresh worker takes over
    assert worker.exitcode == -signal.SIGKILL
    assert multiprocessing.active_children() == []


async def test_an_idle_worker_killed_from_outside_is_replaced() -> None:
    async with ReaderPool(1) as pool:
        first = await pool.run_sync(pid_of_worker)
        os.kill(first, signal.SIGKILL)
        pool._every[0].process.join(10)  # the kill has landed
        assert await pool.run_sync(pid_of_worker) not in (first, os.getpid())
    assert multiprocessing.active_children() == []


async def test_a_worker_that_dies_during_a_job_is_reported() -> None:
    async with ReaderPool(1) as pool:
        with pytest.raises(WorkerDied):
            await pool.run_sync(die)
    assert multiprocessing.active_children() == []
