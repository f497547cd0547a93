"""Tests for gopl_trio.cake (gopl.io/ch8/cake, §8.4.4): all timing on trio's MockClock."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

import attrs
import pytest
import trio
import trio.testing

from gopl_trio import cake
from gopl_trio.cake import Shop, parse_duration, simulate

# The book's benchmark settings: 20 cakes, every step exactly 10 ms, one icer, no buffers.
DEFAULT = Shop()
VARIABLE = attrs.evolve(DEFAULT, bake_stddev=0.0025, ice_stddev=0.0025, inscribe_stddev=0.0025)


async def work(shop: Shop, runs: int = 1) -> list[cake.Day]:
    """`shop.work(runs)` under a virtual deadline: a stage that never sees its input channel
    end would keep the day going for ever; on the autojump clock this fails at once."""
    with trio.fail_after(3600):
        return await shop.work(runs)


def mean_elapsed(shop: Shop, runs: int) -> float:
    return statistics.fmean(day.elapsed for day in simulate(shop, runs))


async def test_default_shop_takes_the_pipeline_time(autojump_clock: trio.abc.Clock) -> None:
    # First cake leaves after 3 steps (30 ms), then one cake every 10 ms: 30 + 19 * 10.
    [day] = await work(DEFAULT)
    assert day.elapsed == pytest.approx(0.220)
    assert day.finished == pytest.approx([0.030 + 0.010 * i for i in range(20)])


async def test_work_runs_are_sequential_days(autojump_clock: trio.abc.Clock) -> None:
    start = trio.current_time()
    days = await work(DEFAULT, 3)
    assert [d.elapsed for d in days] == pytest.approx([0.220] * 3)
    assert trio.current_time() - start == pytest.approx(0.660)


async def test_buffers_do_not_help_without_variance(autojump_clock: trio.abc.Clock) -> None:
    [day] = await work(attrs.evolve(DEFAULT, bake_buf=10, ice_buf=10))
    assert day.elapsed == pytest.approx(0.220)


async def test_slow_icing_is_the_critical_path(autojump_clock: trio.abc.Clock) -> None:
    # 10 ms bake + 20 cakes * 50 ms icing + 10 ms inscribe
    [day] = await work(attrs.evolve(DEFAULT, ice_time=0.050))
    assert day.elapsed == pytest.approx(1.020)
    # The baker spends most of the day waiting for the lone icer.
    assert day.baker_blocked == pytest.approx(19 * 0.040)


async def test_more_icers_share_the_slow_step(autojump_clock: trio.abc.Clock) -> None:
    # Five icers at 50 ms each take a cake every 10 ms: the line runs at the baker's pace.
    # Cake i is baked at 10(i+1) ms, iced 50 ms later and inscribed by 10i + 70 ms.
    [day] = await work(attrs.evolve(DEFAULT, ice_time=0.050, num_icers=5))
    assert day.elapsed == pytest.approx(0.260)
    assert day.baker_blocked == pytest.approx(0.0)


async def test_a_buffer_frees_the_baker_but_not_the_line(autojump_clock: trio.abc.Clock) -> None:
    slow = attrs.evolve(DEFAULT, ice_time=0.050)
    [unbuffered] = await work(slow)
    [buffered] = await work(attrs.evolve(slow, bake_buf=20))
    # With room for every cake the baker never waits and goes home after 20 * 10 ms...
    assert buffered.baker_done == pytest.approx(0.200)
    assert buffered.baker_blocked == pytest.approx(0.0)
    assert unbuffered.baker_done > 0.9
    # ...but the last cake is finished no sooner: the buffer does not ice anything.
    assert buffered.elapsed == pytest.approx(unbuffered.elapsed)


def test_variance_costs_time_and_buffers_win_some_back() -> None:
    # The book's BenchmarkVariable / BenchmarkVariableBuffers, averaged over fixed seeds.
    plain = mean_elapsed(DEFAULT, 1)
    variable = mean_elapsed(VARIABLE, 100)
    buffered = mean_elapsed(attrs.evolve(VARIABLE, bake_buf=10, ice_buf=10), 100)
    assert variable > plain * 1.05
    assert plain < buffered < variable


def test_runs_are_reproducible_per_seed() -> None:
    a = [d.finished for d in simulate(VARIABLE, 3)]
    b = [d.finished for d in simulate(VARIABLE, 3)]
    c = [d.finished for d in simulate(attrs.evolve(VARIABLE, seed=1), 3)]
    assert a == b
    assert a != c
    assert a[0] != a[1]  # each run of a day draws new times


async def test_every_cake_is_finished_exactly_once(autojump_clock: trio.abc.Clock) -> None:
    shop = attrs.evolve(VARIABLE, cakes=50, num_icers=3, ice_time=0.030, bake_buf=2, ice_buf=1)
    before = trio.lowlevel.current_statistics().tasks_living
    [day] = await work(shop)
    assert len(day.finished) == 50
    assert day.finished == sorted(day.finished)
    # No baker or icer outlives the day.
    assert trio.lowlevel.current_statistics().tasks_living == before


async def test_huge_spread_clamps_at_zero(autojump_clock: trio.abc.Clock) -> None:
    # Go sleeps 0 for a negative draw; trio.sleep would raise ValueError.
    [day] = await work(attrs.evolve(DEFAULT, bake_stddev=1.0, ice_stddev=1.0))
    assert len(day.finished) == 20


async def test_verbose_prints_each_step(
    autojump_clock: trio.abc.Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    await work(attrs.evolve(DEFAULT, verbose=True, cakes=3))
    lines = capsys.readouterr().out.splitlines()
    for word in ("baking", "icing", "inscribing", "finished"):
        assert [ln for ln in lines if ln.startswith(word + " ")] == [
            f"{word} {i}" for i in range(3)
        ]
    assert lines[0] == "baking 0"
    assert lines[-1] == "finished 2"
    assert lines.index("icing 0") < lines.index("inscribing 0") < lines.index("finished 0")


async def test_zero_cakes(autojump_clock: trio.abc.Clock) -> None:
    [day] = await work(attrs.evolve(DEFAULT, cakes=0))
    assert day.finished == []
    assert day.elapsed == 0.0


@pytest.mark.parametrize(
    "changes",
    [
        {"num_icers": 0},
        {"bake_buf": -1},
        {"ice_time": -0.01},
        {"cakes": -1},
        {"bake_time": 1e400 - 1e400},
    ],
)
def test_bad_parameters_are_rejected(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be >="):
        attrs.evolve(DEFAULT, **changes)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10ms", 0.010), ("1.5s", 1.5), ("1m30s", 90.0), ("250us", 0.00025), ("0", 0.0), (".5s", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "ms", "10 ms", "-1s", "1x", "5ms3"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_main_prints_simulated_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    assert cake.main(["--ice-time", "50ms", "--icers", "5", "--runs", "2"]) == 0
    assert (
        capsys.readouterr().out == "20 cakes x 2 runs: 260.0 ms per run (simulated), 76.9 cakes/s\n"
    )


@pytest.mark.parametrize(
    "argv", [["--icers", "0"], ["--bake-time", "fast"], ["--ice-buf", "-2"], ["--runs", "0"]]
)
def test_main_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cake.main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("cake: error:")


def test_cli_subprocess() -> None:
    # A simulated 20 s day (20 cakes * 1 s icing) must finish in real seconds at most.
    proc = subprocess.run(
        [sys.executable, "-m", "gopl_trio.cake", "--ice-time", "1s", "--verbose"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines.count("finished 19") == 1
    assert lines[-1] == "20 cakes x 1 runs: 20020.0 ms per run (simulated), 1.0 cakes/s"


def test_cli_closed_stdout_no_traceback() -> None:
    # `| head -1`: the pipe closes while the shop is still printing.
    with subprocess.Popen(
        [sys.executable, "-m", "gopl_trio.cake", "--verbose", "--cakes", "20000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == b"baking 0\n"
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 1
    assert err == b""
