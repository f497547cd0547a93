"""Tests for gopl_trio.countdown1/2/3 (gopl.io/ch8/countdown1-3, §8.7).

Timing runs on MockClock; the real "press Enter" path is driven through a pipe in subprocess
tests that use the hidden ``--tick`` flag to keep each run well under a second.
"""

from __future__ import annotations

import functools
import io
import os
import subprocess
import sys

import pytest
import trio
import trio.testing

from gopl_trio import countdown1, countdown2, countdown3
from gopl_trio._cancel import wait_for_keypress


class TimedLines(io.StringIO):
    """Records each printed line with the trio time it was printed at."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[float, str]] = []
        self.start = trio.current_time()

    def write(self, s: str) -> int:
        if s != "\n":  # print() writes the text and the newline separately
            self.lines.append((round(trio.current_time() - self.start, 6), s))
        return super().write(s)


# Virtual seconds (autojump clock): a ticker that is never cancelled keeps the countdown's
# nursery open for ever; the deadline turns that hang into an immediate failure.
DEADLINE = 60


def tasks_living() -> int:
    return trio.lowlevel.current_statistics().tasks_living


async def abort_at(seconds: float) -> None:
    await trio.sleep(seconds)


# --- countdown1 -----------------------------------------------------------------------------


async def test_countdown1_ticks_once_a_second(autojump_clock: trio.abc.Clock) -> None:
    out = TimedLines()
    before = tasks_living()
    with trio.fail_after(DEADLINE):
        await countdown1.countdown(3, 1.0, out)
    assert out.lines == [
        (0.0, "Commencing countdown."),
        (0.0, "3"),
        (1.0, "2"),
        (2.0, "1"),
        (3.0, "Lift off!"),
    ]
    assert tasks_living() == before  # the ticker stopped with the countdown


async def test_countdown1_from_zero_launches_at_once(autojump_clock: trio.abc.Clock) -> None:
    out = TimedLines()
    with trio.fail_after(DEADLINE):
        await countdown1.countdown(0, 1.0, out)
    assert out.lines == [(0.0, "Commencing countdown."), (0.0, "Lift off!")]


async def test_ticker_keeps_schedule_and_drops_ticks_for_a_slow_receiver(
    autojump_clock: trio.abc.Clock,
) -> None:
    ticks_tx, ticks = trio.open_memory_channel[None](1)
    received: list[float] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(countdown3.ticker, 1.0, ticks_tx)
        await trio.sleep(3.5)  # busy: the ticks at 1, 2 and 3 find one slot
        for _ in range(3):
            await ticks.receive()
            received.append(trio.current_time() - start)
            await trio.sleep(0.2)  # a little work between ticks does not shift the schedule
        nursery.cancel_scope.cancel()
    # One stored tick (at once), then the ticks at 4 and 5: ticks at 2 and 3 were dropped.
    assert received == pytest.approx([3.5, 4.0, 5.0])


# --- countdown2 -----------------------------------------------------------------------------


async def test_countdown2_launches_after_the_whole_count(autojump_clock: trio.abc.Clock) -> None:
    out = TimedLines()
    with trio.fail_after(DEADLINE):
        assert await countdown2.countdown(10, 1.0, trio.sleep_forever, out) is True
    assert out.lines == [
        (0.0, "Commencing countdown.  Press return to abort."),
        (10.0, "Lift off!"),
    ]


async def test_countdown2_abort(autojump_clock: trio.abc.Clock) -> None:
    out = TimedLines()
    before = tasks_living()
    with trio.fail_after(DEADLINE):
        launched = await countdown2.countdown(10, 1.0, functools.partial(abort_at, 4.5), out)
    assert launched is False
    assert out.lines[1:] == [(4.5, "Launch aborted!")]
    await trio.sleep(10)
    assert "Lift off!" not in out.getvalue()
    assert tasks_living() == before


# --- countdown3 -----------------------------------------------------------------------------


async def test_countdown3_launches(autojump_clock: trio.abc.Clock) -> None:
    out = TimedLines()
    before = tasks_living()
    with trio.fail_after(DEADLINE):
        assert await countdown3.countdown(3, 1.0, trio.sleep_forever, out) is True
    assert out.lines == [
        (0.0, "Commencing countdown.  Press return to abort."),
        (0.0, "3"),
        (1.0, "2"),
        (2.0, "1"),
        (3.0, "Lift off!"),
    ]
    assert tasks_living() == before  # both the ticker and the abort wait are gone


# (An abort at the very instant of a tick may go either way, as with Go's select.)
@pytest.mark.parametrize("when", [0.0, 0.5, 1.5, 2.25, 2.999])
async def test_countdown3_aborts_at_any_moment_and_leaks_no_ticker(
    autojump_clock: trio.abc.Clock, when: float
) -> None:
    out = TimedLines()
    before = tasks_living()
    with trio.fail_after(DEADLINE):
        launched = await countdown3.countdown(3, 1.0, functools.partial(abort_at, when), out)
    assert launched is False
    assert out.lines[-1] == (when, "Launch aborted!")
    printed = [line for _, line in out.lines[1:-1]]
    assert printed == ["3", "2", "1"][: int(when) + 1]
    assert tasks_living() == before  # Go's time.Tick goroutine would still be ticking here
    await trio.sleep(5)
    assert "Lift off!" not in out.getvalue()


async def test_countdown3_cancelled_from_outside_leaves_nothing(
    autojump_clock: trio.abc.Clock,
) -> None:
    out = TimedLines()
    before = tasks_living()
    with trio.move_on_after(1.5):  # like Ctrl-C
        await countdown3.countdown(10, 1.0, trio.sleep_forever, out)
    assert tasks_living() == before
    assert "Launch aborted!" not in out.getvalue()


# --- the abort source: gopl_trio.stdin over a real pipe -------------------------------------


async def test_keypress_on_a_pipe_aborts_but_end_of_file_does_not(
    autojump_clock: trio.abc.Clock,
) -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"\n")
        assert await wait_for_keypress(read_end) == b"\n"
        os.close(write_end)
        write_end = -1
        with trio.move_on_after(30) as scope:  # EOF: it must keep waiting
            await wait_for_keypress(read_end)
        assert scope.cancelled_caught
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)


# --- the programs ---------------------------------------------------------------------------


def command(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"gopl_trio.{name}", *args]


async def test_countdown1_cli() -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            command("countdown1", "--from", "3", "--tick", "0.01"),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == b"Commencing countdown.\n3\n2\n1\nLift off!\n"


@pytest.mark.parametrize("name", ["countdown2", "countdown3"])
@pytest.mark.parametrize("stdin", ["closed pipe", "/dev/null"])
async def test_end_of_file_on_stdin_does_not_abort(name: str, stdin: str) -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            command(name, "--from", "2", "--tick", "0.05"),
            stdin=b"" if stdin == "closed pipe" else subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout.endswith(b"Lift off!\n")


@pytest.mark.parametrize("name", ["countdown2", "countdown3"])
async def test_enter_on_stdin_aborts(name: str) -> None:
    # A tick of 10 s: only the key press can end this run within the test's time limit.
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            run = functools.partial(
                trio.run_process,
                command(name, "--from", "3", "--tick", "10"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                check=False,
            )
            proc: trio.Process = await nursery.start(run)
            assert proc.stdin is not None and proc.stdout is not None
            assert proc.stderr is not None
            output = b""
            while b"abort.\n" not in output:  # the countdown has started: press Enter
                chunk = await proc.stdout.receive_some()
                assert chunk, output
                output += chunk
            await proc.stdin.send_all(b"\n")
            output += b"".join([chunk async for chunk in proc.stdout])
            errors = b"".join([chunk async for chunk in proc.stderr])
    assert (proc.returncode, errors) == (0, b"")
    assert output.endswith(b"Launch aborted!\n")
    assert b"Lift off!" not in output


async def test_cli_rejects_a_negative_count() -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            command("countdown3", "--from", "-1"),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 2
    assert b"countdown3: error: argument --from" in done.stderr
