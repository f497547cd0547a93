"""What a channel hop costs: items per second through pipeline3 (§8.4.3), and spinner timing.

Table 1 pushes N integers through ``gopl_trio.pipeline3``'s counter and squarer into a sink
task that sums them, with unbuffered and buffered channels, next to a plain loop, a generator
pipeline, and a batched channel pipeline (lists of B items per message). Every item crosses
two channels, so ``µs/hop`` is (time per item - plain loop's time per item) / 2.

Table 2 (§8.1) times the spinner's 100 ms frames while fib(n) runs on a worker thread (with
CPython's default 5 ms GIL switch interval, and with 1 ms) or in a separate process.

    python -m benchmarks.pipeline [--quick] [--only pipeline|spinner] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import trio

from gopl_trio import pipeline3, spinner

# --- Table 1: the pipeline ------------------------------------------------------------------


def plain_loop(n: int) -> int:
    total = 0
    for x in range(n):
        total += x * x
    return total


def generators(n: int) -> int:
    def counter() -> Iterator[int]:
        yield from range(n)

    def squarer(xs: Iterable[int]) -> Iterator[int]:
        for x in xs:
            yield x * x

    return sum(squarer(counter()))


async def sink(in_: trio.MemoryReceiveChannel[int], result: list[int]) -> None:
    total = 0
    async for v in in_:
        total += v
    result.append(total)


async def channels(n: int, buffer: float) -> int:
    naturals_tx, naturals = trio.open_memory_channel[int](buffer)
    squares_tx, squares = trio.open_memory_channel[int](buffer)
    result: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pipeline3.counter, naturals_tx, n)
        nursery.start_soon(pipeline3.squarer, squares_tx, naturals)
        nursery.start_soon(sink, squares, result)
    return result[0]


async def batched(n: int, batch: int) -> int:
    """The same stages, but each message carries a list of up to *batch* items."""

    async def counter(out: trio.MemorySendChannel[list[int]]) -> None:
        with out:
            for start in range(0, n, batch):
                await out.send(list(range(start, min(start + batch, n))))

    async def squarer(
        out: trio.MemorySendChannel[list[int]], in_: trio.MemoryReceiveChannel[list[int]]
    ) -> None:
        with out:
            async for vs in in_:
                await out.send([v * v for v in vs])

    naturals_tx, naturals = trio.open_memory_channel[list[int]](0)
    squares_tx, squares = trio.open_memory_channel[list[int]](0)
    total = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(counter, naturals_tx)
        nursery.start_soon(squarer, squares_tx, naturals)
        async for vs in squares:
            total += sum(vs)
    return total


def pipeline_variants(batch: int) -> dict[str, Callable[[int], int]]:
    return {
        "plain loop": plain_loop,
        "generators": generators,
        "pipeline3, unbuffered (0)": lambda n: trio.run(channels, n, 0),
        "pipeline3, buffer 1": lambda n: trio.run(channels, n, 1),
        "pipeline3, buffer 100": lambda n: trio.run(channels, n, 100),
        "pipeline3, unbounded": lambda n: trio.run(channels, n, float("inf")),
        f"batched, {batch} items/message": lambda n: trio.run(batched, n, batch),
    }


def bench_pipeline(n: int, repeats: int, batch: int) -> list[dict[str, Any]]:
    variants = pipeline_variants(batch)
    expected = plain_loop(n)
    best = {name: float("inf") for name in variants}
    for _ in range(repeats):  # interleaved, best of `repeats`: the machine is noisy
        for name, run in variants.items():
            start = time.perf_counter()
            assert run(n) == expected, name
            best[name] = min(best[name], time.perf_counter() - start)
    base = best["plain loop"] / n
    rows = []
    for name, seconds in best.items():
        per_item = seconds / n
        hops = 2 / batch if name.startswith("batched") else 2.0
        rows.append(
            {
                "variant": name,
                "items": n,
                "seconds": seconds,
                "items_per_second": n / seconds,
                "us_per_item": per_item * 1e6,
                "x_plain_loop": per_item / base,
                "us_per_hop": (per_item - base) * 1e6 / hops if name.startswith("pipe") else None,
            }
        )
    return rows


def print_pipeline(rows: list[dict[str, Any]]) -> None:
    print(f"Table 1: {rows[0]['items']:,} items through counter -> squarer -> sum (best run)")
    print(f"{'variant':<32} {'items/s':>12} {'µs/item':>9} {'× loop':>8} {'µs/hop':>8}")
    for r in rows:
        hop = f"{r['us_per_hop']:8.2f}" if r["us_per_hop"] is not None else f"{'':>8}"
        print(
            f"{r['variant']:<32} {r['items_per_second']:>12,.0f} {r['us_per_item']:>9.3f}"
            f" {r['x_plain_loop']:>8.1f} {hop}"
        )


# --- Table 2: the spinner -------------------------------------------------------------------


class FrameClock(io.StringIO):
    """A stdout that notes the wall-clock time of every spinner frame."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[float] = []

    def write(self, s: str) -> int:
        if len(s) == 2 and s[0] == "\r":
            self.frames.append(time.perf_counter())
        return len(s)


async def with_switch_interval(n: int, interval: float) -> int:
    old = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        return await spinner.fib_in_thread(n)
    finally:
        sys.setswitchinterval(old)


def spinner_variants() -> dict[str, Callable[[int], Awaitable[int]]]:
    return {
        "thread (GIL switch 5 ms)": spinner.fib_in_thread,
        "thread (GIL switch 1 ms)": lambda n: with_switch_interval(n, 0.001),
        "process": spinner.fib_in_process,
    }


def p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def bench_spinner(n: int, repeats: int) -> list[dict[str, Any]]:
    variants = spinner_variants()
    late: dict[str, list[float]] = {name: [] for name in variants}
    elapsed: dict[str, list[float]] = {name: [] for name in variants}
    alone: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        spinner.fib(n)
        alone.append(time.perf_counter() - start)
        for name, compute in variants.items():
            out = FrameClock()
            start = time.perf_counter()
            trio.run(spinner.spin_while, n, compute, out)
            elapsed[name].append(time.perf_counter() - start)
            gaps = [b - a for a, b in zip(out.frames, out.frames[1:], strict=False)]
            late[name].extend((gap - 0.1) * 1e3 for gap in gaps)
    rows = []
    for name in variants:
        ms = sorted(late[name])
        rows.append(
            {
                "variant": name,
                "n": n,
                "frames": len(ms),
                "late_ms_median": statistics.median(ms) if ms else None,
                "late_ms_p90": p90(ms) if ms else None,
                "late_ms_max": max(ms) if ms else None,
                "seconds": statistics.median(elapsed[name]),
                "x_fib_alone": statistics.median(elapsed[name]) / statistics.median(alone),
            }
        )
    return rows


def print_spinner(rows: list[dict[str, Any]]) -> None:
    print(f"Table 2: spinner frames (due every 100 ms) while fib({rows[0]['n']}) runs")
    print(
        f"{'fib runs on':<26} {'gaps':>6} {'late: median':>13} {'p90':>8} {'max':>8}"
        f" {'total s':>8} {'× fib alone':>12}"
    )
    for r in rows:
        if r["frames"] == 0:
            print(f"{r['variant']:<26} {0:>6}  (no frame gaps: raise -n)")
            continue
        print(
            f"{r['variant']:<26} {r['frames']:>6} {r['late_ms_median']:>10.2f} ms"
            f" {r['late_ms_p90']:>5.2f} ms {r['late_ms_max']:>5.2f} ms {r['seconds']:>8.2f}"
            f" {r['x_fib_alone']:>12.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.pipeline", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, finishes in seconds")
    parser.add_argument("--only", choices=["pipeline", "spinner"], help="run one table only")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "trio": trio.__version__,
        "machine": platform.machine(),
        "quick": args.quick,
    }
    if args.only in (None, "pipeline"):
        n, repeats = (20_000, 2) if args.quick else (50_000, 5)
        results["pipeline"] = bench_pipeline(n, repeats, batch=100)
        print_pipeline(results["pipeline"])
    if args.only in (None, "spinner"):
        if args.only is None:
            print()
        n, repeats = (32, 1) if args.quick else (35, 3)
        results["spinner"] = bench_spinner(n, repeats)
        print_spinner(results["spinner"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
