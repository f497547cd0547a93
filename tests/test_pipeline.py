"""Tests for gopl_trio.pipeline1/2/3 (gopl.io/ch8/pipeline1-3, §8.4.2-8.4.3)."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio
import trio.testing

from gopl_trio import pipeline1, pipeline2, pipeline3

SQUARES_100 = "".join(f"{x * x}\n" for x in range(100))


class ClosingWriter(io.StringIO):
    """A stdout whose reader goes away after *lines* lines, like `| head -n lines`."""

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.lines = lines

    def write(self, s: str) -> int:
        if self.getvalue().count("\n") >= self.lines:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(s)


def tasks_living() -> int:
    return trio.lowlevel.current_statistics().tasks_living


# A stage that forgets to close its channel deadlocks the pipeline. The tests that would hang
# then run on the autojump clock under a virtual deadline, so they fail at once rather than
# at pytest's two-minute timeout.
DEADLINE = 60


@pytest.mark.parametrize("module", [pipeline2, pipeline3], ids=["pipeline2", "pipeline3"])
async def test_prints_the_first_100_squares(module: object, autojump_clock: trio.abc.Clock) -> None:
    out = io.StringIO()
    before = tasks_living()
    with trio.fail_after(DEADLINE):
        await module.pipeline(out)  # type: ignore[attr-defined]
    assert out.getvalue() == SQUARES_100
    assert tasks_living() == before


async def test_pipeline1_runs_until_stdout_closes_and_leaves_nothing(
    autojump_clock: trio.abc.Clock,
) -> None:
    out = ClosingWriter(lines=1000)
    before = tasks_living()
    with trio.fail_after(DEADLINE), pytest.RaisesGroup(BrokenPipeError):
        await pipeline1.pipeline(out)
    assert out.getvalue() == "".join(f"{x * x}\n" for x in range(1000))
    assert tasks_living() == before  # counter and squarer were cancelled with the printer


async def test_pipeline1_stops_when_cancelled() -> None:
    before = tasks_living()
    with trio.CancelScope() as scope:

        class CancellingWriter(io.StringIO):
            def write(self, s: str) -> int:
                if s == "2500":  # 50 squared (print writes the newline separately)
                    scope.cancel()
                return super().write(s)

        out = CancellingWriter()
        await pipeline1.pipeline(out)
    assert scope.cancelled_caught
    assert out.getvalue() == "".join(f"{x * x}\n" for x in range(51))
    assert tasks_living() == before


@pytest.mark.parametrize("module", [pipeline2, pipeline3], ids=["pipeline2", "pipeline3"])
async def test_closed_stdout_stops_every_stage(
    module: object, autojump_clock: trio.abc.Clock
) -> None:
    out = ClosingWriter(lines=10)
    before = tasks_living()
    with trio.fail_after(DEADLINE), pytest.RaisesGroup(BrokenPipeError):
        await module.pipeline(out)  # type: ignore[attr-defined]
    assert out.getvalue().count("\n") == 10
    assert tasks_living() == before


async def test_stages_close_their_output_when_done(autojump_clock: trio.abc.Clock) -> None:
    naturals_tx, naturals = trio.open_memory_channel[int](0)
    squares_tx, squares = trio.open_memory_channel[int](0)
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pipeline3.counter, naturals_tx, 5)
            nursery.start_soon(pipeline3.squarer, squares_tx, naturals)
            assert [v async for v in squares] == [0, 1, 4, 9, 16]  # ends: squares was closed
    with pytest.raises(trio.ClosedResourceError):
        naturals_tx.send_nowait(0)  # the counter closed its end on the way out


async def test_a_stage_that_fails_still_closes_its_output() -> None:
    # Go's close(out) after the loop is skipped on a panic; `with out:` is not.
    class Poison(int):
        def __mul__(self, other: object) -> int:
            raise ValueError("poison")

    naturals_tx, naturals = trio.open_memory_channel[int](1)
    squares_tx, squares = trio.open_memory_channel[int](0)
    naturals_tx.send_nowait(Poison(3))
    with pytest.raises(ValueError, match="poison"):
        await pipeline3.squarer(squares_tx, naturals)
    with pytest.raises(trio.EndOfChannel):  # the next stage's loop ends instead of waiting
        squares.receive_nowait()


async def test_sending_to_a_stage_that_is_gone_is_an_error_not_a_hang() -> None:
    # In Go a sender whose receiver has returned blocks forever (a leaked goroutine).
    naturals_tx, naturals = trio.open_memory_channel[int](0)
    naturals.close()
    with pytest.raises(trio.BrokenResourceError):
        await pipeline3.counter(naturals_tx)


# --- the programs ---------------------------------------------------------------------------


@contextmanager
def sigint_not_ignored() -> Iterator[None]:
    """Children inherit an ignored SIGINT (e.g. under `cmd &`); make sure ours is not."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous == signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous)


async def start_program(name: str, *, task_status: trio.TaskStatus[trio.Process]) -> None:
    """Run `python -m gopl_trio.NAME` in the caller's nursery, with its output piped to us."""
    command = [sys.executable, "-m", f"gopl_trio.{name}"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    await trio.run_process(command, check=False, task_status=task_status, **pipes)


async def read_until(stream: trio.abc.ReceiveStream, count: int) -> bytes:
    data = b""
    while data.count(b"\n") < count:
        chunk = await stream.receive_some()
        assert chunk, f"stdout ended early: {data!r}"
        data += chunk
    return data


async def test_pipeline1_cli_stops_on_ctrl_c_without_traceback() -> None:
    with sigint_not_ignored(), trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            proc = await nursery.start(start_program, "pipeline1")
            head = await read_until(proc.stdout, 1000)
            proc.send_signal(signal.SIGINT)
            async for _ in proc.stdout:
                pass
            errors = b"".join([chunk async for chunk in proc.stderr])
    assert head.startswith(b"0\n1\n4\n9\n16\n")
    assert proc.returncode == 130
    assert errors == b""


async def test_pipeline1_cli_stops_quietly_when_stdout_closes() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            proc = await nursery.start(start_program, "pipeline1")
            await read_until(proc.stdout, 10)
            await proc.stdout.aclose()  # `| head` exits
            errors = b"".join([chunk async for chunk in proc.stderr])
    assert proc.returncode == 1
    assert errors == b""  # no BrokenPipeError traceback, no "Exception ignored"


@pytest.mark.parametrize("name", ["pipeline2", "pipeline3"])
async def test_finite_pipeline_cli(name: str) -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "-m", f"gopl_trio.{name}"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout.decode() == SQUARES_100
