"""The cake shop: a simulated three-stage assembly line (gopl.io/ch8/cake, §8.4.4).

A baker, a team of icers and an inscriber pass cakes along memory channels whose buffer
sizes are parameters, so one can ask the book's question: what do buffers and extra cooks do
for throughput? Each step takes a normally distributed time. The Go package sleeps for real,
so its benchmarks take seconds; here the caller chooses the clock, and under
`trio.testing.MockClock(autojump_threshold=0)` a whole day in the shop takes milliseconds
of real time while every step still takes exactly its simulated time.

Differences from the Go program: the random step times are drawn per cake from a seeded
generator, so a run is reproducible whatever order the scheduler picks; the icers close
their clones of the iced channel, so the inscriber loops until the channel ends instead of
counting cakes; `Shop.work` reports what happened (finish times and how long each stage sat
blocked on a channel) instead of only taking time.

    python -m gopl_trio.cake --ice-time 50ms --icers 5 --runs 10
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
from collections.abc import Sequence
from typing import Any

import attrs
import trio
import trio.testing

from gopl_trio._run import run

__all__ = ["Day", "Shop", "main", "parse_duration", "simulate"]


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{attribute.name} must be >= 0, not {value!r}")


def _positive(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 1:  # no icers: the baker would wait forever for someone to take a cake
        raise ValueError(f"{attribute.name} must be >= 1, not {value!r}")


@attrs.define
class Shop:
    """The parameters of the shop (Go's `cake.Shop`). Times are in seconds."""

    verbose: bool = False
    cakes: int = attrs.field(default=20, validator=_non_negative)  # cakes per run
    bake_time: float = attrs.field(default=0.010, validator=_non_negative)  # mean time to bake
    bake_stddev: float = attrs.field(default=0.0, validator=_non_negative)
    bake_buf: int = attrs.field(default=0, validator=_non_negative)  # slots baker -> icers
    num_icers: int = attrs.field(default=1, validator=_positive)
    ice_time: float = attrs.field(default=0.010, validator=_non_negative)
    ice_stddev: float = attrs.field(default=0.0, validator=_non_negative)
    ice_buf: int = attrs.field(default=0, validator=_non_negative)  # slots icers -> inscriber
    inscribe_time: float = attrs.field(default=0.010, validator=_non_negative)
    inscribe_stddev: float = attrs.field(default=0.0, validator=_non_negative)
    seed: int = 0  # not in Go: makes the random step times reproducible

    async def work(self, runs: int = 1) -> list[Day]:
        """Run the assembly line `runs` times, one day after another (Go's `Shop.Work`)."""
        days = []
        for number in range(runs):
            days.append(await self._day(random.Random(f"cake:{self.seed}:{number}")))
        return days

    async def _day(self, rng: random.Random) -> Day:
        # Draw every step time up front, per cake: which icer gets which cake depends on
        # the scheduler, but how long cake 7 takes to ice does not.
        steps = [
            (
                _step(rng, self.bake_time, self.bake_stddev),
                _step(rng, self.ice_time, self.ice_stddev),
                _step(rng, self.inscribe_time, self.inscribe_stddev),
            )
            for _ in range(self.cakes)
        ]
        day = Day(start=trio.current_time())
        baked_send, baked_receive = trio.open_memory_channel[int](self.bake_buf)
        iced_send, iced_receive = trio.open_memory_channel[int](self.ice_buf)
        # The receiving ends are closed only after every task is done. Had the inscriber
        # closed its end on the way out of a crash (a closed stdout, say), each icer waiting
        # in `send` would fail with BrokenResourceError on top of it, instead of just being
        # cancelled by the nursery.
        with baked_receive, iced_receive:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._baker, day, steps, baked_send)
                for _ in range(self.num_icers):
                    nursery.start_soon(self._icer, day, steps, iced_send.clone(), baked_receive)
                iced_send.close()  # only the icers' clones remain: iced ends when they are done
                await self._inscriber(day, steps, iced_receive)
        return day

    async def _baker(
        self, day: Day, steps: list[tuple[float, float, float]], baked: trio.MemorySendChannel[int]
    ) -> None:
        with baked:  # closing it is how the icers learn that the day's baking is over
            for cake in range(self.cakes):
                self._say("baking", cake)
                await trio.sleep(steps[cake][0])
                t = trio.current_time()
                await baked.send(cake)  # blocks while no icer is free and the buffer is full
                day.baker_blocked += trio.current_time() - t
            day.baker_done = trio.current_time() - day.start

    async def _icer(
        self,
        day: Day,
        steps: list[tuple[float, float, float]],
        iced: trio.MemorySendChannel[int],
        baked: trio.MemoryReceiveChannel[int],
    ) -> None:
        with iced:  # closing our clone says "this icer is done"
            while True:
                t = trio.current_time()
                try:
                    cake = await baked.receive()
                except trio.EndOfChannel:
                    return
                day.icers_starved += trio.current_time() - t
                self._say("icing", cake)
                await trio.sleep(steps[cake][1])
                t = trio.current_time()
                await iced.send(cake)
                day.icers_blocked += trio.current_time() - t

    async def _inscriber(
        self,
        day: Day,
        steps: list[tuple[float, float, float]],
        iced: trio.MemoryReceiveChannel[int],
    ) -> None:
        while True:
            t = trio.current_time()
            try:
                cake = await iced.receive()
            except trio.EndOfChannel:  # every icer has finished
                return
            day.inscriber_starved += trio.current_time() - t
            self._say("inscribing", cake)
            await trio.sleep(steps[cake][2])
            self._say("finished", cake)
            day.finished.append(trio.current_time() - day.start)

    def _say(self, what: str, cake: int) -> None:
        if self.verbose:
            print(what, cake)


def _step(rng: random.Random, mean: float, stddev: float) -> float:
    """A normally distributed step time; Go sleeps 0 for a negative draw, so do we."""
    return max(0.0, mean + rng.gauss(0.0, 1.0) * stddev)


@attrs.define
class Day:
    """What happened in one run. Times are seconds since the start of the run."""

    start: float
    finished: list[float] = attrs.Factory(list)  # when each cake left the inscriber
    baker_done: float = 0.0  # when the last cake went into the baked channel
    baker_blocked: float = 0.0  # baker waiting for an icer or a free buffer slot
    icers_starved: float = 0.0  # icers (summed) waiting for a baked cake
    icers_blocked: float = 0.0  # icers (summed) waiting for the inscriber
    inscriber_starved: float = 0.0  # inscriber waiting for an iced cake

    @property
    def elapsed(self) -> float:
        return self.finished[-1] if self.finished else 0.0


def simulate(shop: Shop, runs: int = 1) -> list[Day]:
    """Run `shop.work(runs)` on a virtual clock: simulated time, (almost) no real time."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(shop.work, runs, clock=clock)


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Parse a Go-style duration ("10ms", "1.5s", "1m30s") into seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        if text == "0":
            return 0.0
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (want e.g. 10ms, 1.5s)")
    return math.fsum(float(n) * _UNITS[u] for n, u in parts)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


async def open_shop(shop: Shop, runs: int, real_time: bool) -> None:
    """Run the shop *runs* times and print the mean time per run and the rate."""
    days = await shop.work(runs)
    if days:
        per_run = statistics.fmean(d.elapsed for d in days)
        rate = shop.cakes / per_run if per_run > 0 else math.inf
        clock = "real" if real_time else "simulated"
        print(
            f"{shop.cakes} cakes x {len(days)} runs: {per_run * 1e3:.1f} ms per run "
            f"({clock}), {rate:.1f} cakes/s"
        )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="cake", description="Simulate the cake shop of gopl.io/ch8/cake (§8.4.4)."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="print each step")
    p.add_argument("--cakes", type=_count, default=20, help="cakes per run (20)")
    p.add_argument("--bake-time", type=parse_duration, default=0.010, metavar="D")
    p.add_argument("--bake-stddev", type=parse_duration, default=0.0, metavar="D")
    p.add_argument("--bake-buf", type=_count, default=0, metavar="N")
    p.add_argument("--icers", type=_count, default=1, metavar="N", help="number of icers (1)")
    p.add_argument("--ice-time", type=parse_duration, default=0.010, metavar="D")
    p.add_argument("--ice-stddev", type=parse_duration, default=0.0, metavar="D")
    p.add_argument("--ice-buf", type=_count, default=0, metavar="N")
    p.add_argument("--inscribe-time", type=parse_duration, default=0.010, metavar="D")
    p.add_argument("--inscribe-stddev", type=parse_duration, default=0.0, metavar="D")
    p.add_argument("--runs", type=_count, default=1, help="runs to average over (1)")
    p.add_argument("--seed", type=int, default=0, help="seed for the step times (0)")
    p.add_argument(
        "--real-time", action="store_true", help="use the real clock instead of simulating"
    )
    args = p.parse_args(argv)
    if args.icers < 1:
        p.error("--icers must be at least 1")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    shop = Shop(
        verbose=args.verbose,
        cakes=args.cakes,
        bake_time=args.bake_time,
        bake_stddev=args.bake_stddev,
        bake_buf=args.bake_buf,
        num_icers=args.icers,
        ice_time=args.ice_time,
        ice_stddev=args.ice_stddev,
        ice_buf=args.ice_buf,
        inscribe_time=args.inscribe_time,
        inscribe_stddev=args.inscribe_stddev,
        seed=args.seed,
    )
    # Simulated time unless --real-time: a virtual clock that jumps whenever all tasks wait.
    clock = None if args.real_time else trio.testing.MockClock(autojump_threshold=0)
    run("cake", open_shop, shop, args.runs, clock is None, clock=clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
