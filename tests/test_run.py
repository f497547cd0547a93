"""The one runner: how every program ends (exit statuses, one-line errors, no tracebacks)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import trio

from gopl_trio import _run


async def answer(value: int) -> int:
    await trio.lowlevel.checkpoint()
    return value


async def fail_inside_a_nursery(exc: BaseException) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep_forever)
        raise exc


def test_returns_what_main_returns() -> None:
    assert _run.run("prog", answer, 42) == 42


def test_a_fatal_error_is_one_line_and_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        _run.run("prog", fail_inside_a_nursery, OSError("disk on fire"), fatal=(OSError,))
    assert exit.value.code == 1
    assert capsys.readouterr().err == "prog: disk on fire\n"


def test_describe_shapes_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _run.run(
            "prog",
            fail_inside_a_nursery,
            ValueError("x"),
            fatal=(ValueError,),
            describe=lambda exc: f"bad value {exc}",
        )
    assert capsys.readouterr().err == "prog: bad value x\n"


def test_other_errors_are_not_swallowed() -> None:
    with pytest.RaisesGroup(ZeroDivisionError):  # as trio raised it, untouched
        _run.run("prog", fail_inside_a_nursery, ZeroDivisionError(), fatal=(OSError,))


def test_ctrl_c_is_status_130_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        _run.run("prog", fail_inside_a_nursery, KeyboardInterrupt())
    assert exit.value.code == 130
    assert capsys.readouterr().err == ""


def test_the_clock_is_passed_to_trio() -> None:
    async def sleep_a_day() -> float:
        await trio.sleep(86400)
        return trio.current_time()

    clock = trio.testing.MockClock(autojump_threshold=0)
    assert _run.run("prog", sleep_a_day, clock=clock) >= 86400


def run_script(body: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    script = "import trio\nfrom gopl_trio import _run\n" + textwrap.dedent(body)
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", script], text=True, stderr=subprocess.PIPE, timeout=60, **kwargs
    )


def test_run_then_exit_ends_the_process_with_mains_status() -> None:
    done = run_script(
        """
        async def main() -> int:
            print("output is flushed first")
            return 7
        _run.run_then_exit("prog", main)
        print("never printed")
        """,
        stdout=subprocess.PIPE,
    )
    assert (done.returncode, done.stdout, done.stderr) == (7, "output is flushed first\n", "")


def test_a_closed_stdout_is_status_1_and_silent() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = run_script(
            """
            async def main() -> None:
                print("x" * 100_000)
            _run.run("prog", main)
            """,
            stdout=write_end,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")
