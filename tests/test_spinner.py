"""Tests for gopl_trio.spinner (gopl.io/ch8/spinner, §8.1)."""

from __future__ import annotations

import functools
import io
import os
import signal
import subprocess
import sys
import time

import pytest
import trio
import trio.testing

from gopl_trio import spinner


class TimedWriter(io.StringIO):
    """Records the trio time of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str]] = []

    def write(self, s: str) -> int:
        self.writes.append((trio.current_time(), s))
        return super().write(s)


def test_fib() -> None:
    assert [spinner.fib(i) for i in range(11)] == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]


async def test_frames_every_100ms_then_result(autojump_clock: trio.abc.Clock) -> None:
    async def slow_fib(n: int) -> int:
        await trio.sleep(1.05)
        return spinner.fib(n)

    out = TimedWriter()
    before = trio.lowlevel.current_statistics().tasks_living
    start = trio.current_time()
    with trio.fail_after(60):  # virtual seconds: a spinner left running fails here, at once
        assert await spinner.spin_while(10, slow_fib, out) == 55
    frames = out.writes[:-1]
    assert [s for _, s in frames] == [f"\r{c}" for c in r"-\|/-\|/-\|"]
    assert [t - start for t, _ in frames] == pytest.approx([0.1 * i for i in range(11)])
    assert out.writes[-1] == (pytest.approx(start + 1.05), "\rFibonacci(10) = 55\n")
    # The spinner was cancelled, not left running.
    assert trio.lowlevel.current_statistics().tasks_living == before


async def test_no_frame_after_the_result(autojump_clock: trio.abc.Clock) -> None:
    async def instant(n: int) -> int:
        return n

    out = TimedWriter()
    with trio.fail_after(60):
        await spinner.spin_while(7, instant, out)
    await trio.sleep(1)  # virtual time: would give a live spinner ten more frames
    assert out.getvalue() == "\r-\rFibonacci(7) = 7\n"


@pytest.mark.parametrize("worker", ["thread", "process"])
async def test_workers_compute_fib(worker: str) -> None:
    with trio.fail_after(30):
        assert await spinner.WORKERS[worker](20) == 6765


async def test_cancelling_the_process_worker_stops_it_promptly() -> None:
    started = time.monotonic()
    with trio.move_on_after(0.5) as scope:
        await spinner.fib_in_process(200)  # would never finish
    assert scope.cancelled_caught
    # run_process returns only once the child is gone (SIGTERM, not its 5 s SIGKILL grace).
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("worker", ["thread", "process"])
async def test_cli(worker: str) -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "-m", "gopl_trio.spinner", "-n", "22", "--worker", worker],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"\r-")
    assert done.stdout.endswith(b"\rFibonacci(22) = 17711\n")
    assert done.stderr == b""


def children(pid: int) -> list[int]:
    """Child processes of *pid*, whichever of its threads started them (trio uses a worker)."""
    found = []
    for thread in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{thread}/children") as f:
                found += [int(child) for child in f.read().split()]
        except FileNotFoundError:  # the thread has just ended
            pass
    return found


def is_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"  # a zombie has ended
    except FileNotFoundError:
        return True


@pytest.mark.skipif(
    not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
    reason="needs Linux /proc/PID/task/PID/children",
)
async def test_ctrl_c_exits_130_and_stops_the_fib_process() -> None:
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:  # children would inherit it (e.g. under `cmd &`)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                run = functools.partial(
                    trio.run_process,
                    [sys.executable, "-m", "gopl_trio.spinner", "-n", "90"],  # runs "forever"
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    check=False,
                )
                proc: trio.Process = await nursery.start(run)
                assert proc.stdout is not None and proc.stderr is not None
                while not children(proc.pid):  # wait frame by frame for the fib process
                    assert await proc.stdout.receive_some()
                [worker] = children(proc.pid)
                proc.send_signal(signal.SIGINT)
                async for _ in proc.stdout:
                    pass
                errors = b"".join([chunk async for chunk in proc.stderr])
    finally:
        if previous == signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous)
    assert proc.returncode == 130
    assert errors == b"\n"  # just the end of the spinner's line: no traceback
    assert is_gone(worker)


@pytest.mark.skipif(
    not hasattr(os, "pidfd_open")
    or not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
    reason="needs Linux pidfd_open and /proc/PID/task/PID/children",
)
async def test_fib_process_does_not_outlive_a_killed_spinner() -> None:
    # SIGKILL leaves no chance to clean up: the child must notice its parent is gone.
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            run = functools.partial(
                trio.run_process,
                [sys.executable, "-m", "gopl_trio.spinner", "-n", "90"],  # runs "forever"
                stdout=subprocess.PIPE,
                check=False,
            )
            proc: trio.Process = await nursery.start(run)
            assert proc.stdout is not None
            while not children(proc.pid):  # wait frame by frame for the fib process
                assert await proc.stdout.receive_some()
            [worker] = children(proc.pid)
            pidfd = os.pidfd_open(worker)
            try:
                proc.kill()
                await trio.lowlevel.wait_readable(pidfd)  # readable once the worker has ended
            finally:
                os.close(pidfd)
    assert proc.returncode == -signal.SIGKILL


async def test_cli_rejects_negative_n() -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "-m", "gopl_trio.spinner", "-n", "-1"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 2
    assert b"spinner: error: argument -n" in done.stderr
    assert b"Traceback" not in done.stderr
