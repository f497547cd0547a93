"""Tests for gopl_trio.callboth (Learning Go's context.WithCancel example)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import trio
import trio.testing
from procs import read_all, running

from gopl_trio import callboth
from gopl_trio._http_server import Request


async def run(error: str, slow_delay: float = 2.0) -> tuple[list[str], list[float]]:
    lines: list[str] = []
    stamps: list[float] = []

    def say(line: str) -> None:
        lines.append(line)
        stamps.append(trio.current_time())

    await callboth.run(error, slow_delay, say)
    return lines, stamps


async def test_error_cancels_the_slow_call_at_once(
    io_clock: trio.testing.MockClock,
) -> None:
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    start = trio.current_time()
    lines, stamps = await run("true")
    assert lines == [
        "fast result: error",
        "cancelling from fast",
        "slow request err: cancelled",
        "done with both",
    ]
    # Virtual time: nothing waited for the slow server's 2 s (nor for any server to close).
    assert stamps[-1] - start < 0.1
    # Both servers and every request task are gone when run() returns.
    assert trio.lowlevel.current_statistics().tasks_living == tasks_before


async def test_without_error_both_results_arrive(
    io_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    lines, stamps = await run("false")
    assert lines == ["fast result: ok", "slow result: Slow response", "done with both"]
    assert stamps[0] - start < 0.1
    assert stamps[1] - start == pytest.approx(2.0, abs=0.1)


async def test_fast_server_answers() -> None:
    def request(target: str) -> Request:
        return Request("GET", target, [])

    assert (await callboth.fast_server(request("/?error=true"))).body == b"error"
    assert (await callboth.fast_server(request("/?error=false"))).body == b"ok"
    assert (await callboth.fast_server(request("/?x=1&error=true"))).body == b"error"


def run_cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "gopl_trio.callboth", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return result, time.perf_counter() - start


def test_cli_true_does_not_wait_for_the_slow_server() -> None:
    # If the program waited for the slow server (60 s) the subprocess timeout would fire.
    result, elapsed = run_cli("true", "--slow-delay", "60")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "fast result: error",
        "cancelling from fast",
        "slow request err: cancelled",
        "done with both",
    ]
    assert result.stderr == ""
    assert elapsed < 20


def test_cli_false_prints_both_results() -> None:
    result, _ = run_cli("false", "--slow-delay", "0.3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "fast result: ok",
        "slow result: Slow response",
        "done with both",
    ]


async def test_cli_ctrl_c_while_waiting_exits_130() -> None:
    # Each line is flushed as it happens (the first one arrives while the slow call waits),
    # and Ctrl-C, which trio raises inside the nursery's ExceptionGroup, ends the program
    # with status 130 and no traceback.
    async with running(
        [sys.executable, "-m", "gopl_trio.callboth", "false", "--slow-delay", "60"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
    ) as proc:
        assert proc.stdout is not None
        with trio.fail_after(30):
            out = b""
            while b"\n" not in out:
                chunk = await proc.stdout.receive_some()
                assert chunk, "callboth ended early"
                out += chunk
            assert out == b"fast result: ok\n"
            proc.send_signal(signal.SIGINT)
            out += await read_all(proc.stdout)
            err = await read_all(proc.stderr)
            assert await proc.wait() == 130
    assert b"Slow response" not in out
    assert err == b""


def test_cli_usage() -> None:
    result, _ = run_cli("maybe")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr and "Traceback" not in result.stderr
