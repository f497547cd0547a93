"""The cake shop's benchmark question (gopl.io/ch8/cake, §8.4.4): what buys throughput?

Table 1 runs `gopl_trio.cake.Shop` under trio's MockClock for each configuration of the
book's cake_test.go (plus a few more) and reports the simulated time per run of 20 cakes,
averaged over R seeded runs, next to the Go figure the book's listing quotes. Simulated time
is exact and noise-free: the columns are properties of the shop, not of this machine. The
blocked/starved columns say where the waiting happens (per run, summed over workers).

Table 2 checks the simulation against the real clock: the same shops and seeds, run with
real sleeps. The difference is trio's (and the OS timer's) overhead per run.

    python -m benchmarks.cake [--quick] [--runs R] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from typing import Any

import attrs
import trio

from gopl_trio.cake import Day, Shop, simulate

BASE = Shop()  # the book's defaults: 20 cakes, 10 ms per step, one icer, no buffers


def variable(shop: Shop, fraction: float) -> Shop:
    """Every step's standard deviation set to `fraction` of its mean time."""
    return attrs.evolve(
        shop,
        bake_stddev=shop.bake_time * fraction,
        ice_stddev=shop.ice_time * fraction,
        inscribe_stddev=shop.inscribe_time * fraction,
    )


def buffers(shop: Shop, n: int) -> Shop:
    return attrs.evolve(shop, bake_buf=n, ice_buf=n)


SLOW = attrs.evolve(BASE, ice_time=0.050)
SLOW5 = attrs.evolve(SLOW, num_icers=5)

# (name, shop, the book's Go time in ms for one run, or None where the book has no figure)
CONFIGS: list[tuple[str, Shop, float | None]] = [
    ("default", BASE, 224),
    ("buffers 10", buffers(BASE, 10), 224),
    ("variable (sd t/4)", variable(BASE, 0.25), 259),
    ("variable + buffers 1", buffers(variable(BASE, 0.25), 1), None),
    ("variable + buffers 10", buffers(variable(BASE, 0.25), 10), 244),
    ("more variable (sd t/2)", variable(BASE, 0.5), None),
    ("more variable + buffers 10", buffers(variable(BASE, 0.5), 10), None),
    ("more variable + buffers 100", buffers(variable(BASE, 0.5), 100), None),
    ("slow icing (50 ms)", SLOW, 1032),
    ("slow icing + buffers 10", buffers(SLOW, 10), None),
    ("slow icing, 5 icers", SLOW5, 288),
    ("slow icing, 5 icers, variable", variable(SLOW5, 0.25), None),
    ("slow icing, 5 icers, var + buf 10", buffers(variable(SLOW5, 0.25), 10), None),
    ("slow icing, 6 icers", attrs.evolve(SLOW, num_icers=6), None),
]

REAL_CHECK = ["default", "variable (sd t/4)", "slow icing, 5 icers"]


def summarize(
    name: str, shop: Shop, book_ms: float | None, days: list[Day], wall: float
) -> dict[str, Any]:
    elapsed = [d.elapsed for d in days]
    mean = statistics.fmean(elapsed)
    return {
        "config": name,
        "shop": attrs.asdict(shop),
        "runs": len(days),
        "ms_per_run": mean * 1e3,
        "ms_sd": (statistics.stdev(elapsed) if len(elapsed) > 1 else 0.0) * 1e3,
        "cakes_per_s": shop.cakes / mean,
        "book_go_ms": book_ms,
        "baker_blocked_ms": statistics.fmean(d.baker_blocked for d in days) * 1e3,
        "baker_done_ms": statistics.fmean(d.baker_done for d in days) * 1e3,
        "inscriber_starved_ms": statistics.fmean(d.inscriber_starved for d in days) * 1e3,
        "wall_ms_per_run": wall / len(days) * 1e3,
    }


def table1(runs: int) -> list[dict[str, Any]]:
    rows = []
    for name, shop, book_ms in CONFIGS:
        t0 = time.perf_counter()
        days = simulate(shop, runs)
        rows.append(summarize(name, shop, book_ms, days, time.perf_counter() - t0))
    base = rows[0]["ms_per_run"]
    for r in rows:
        r["vs_default"] = r["ms_per_run"] / base
    return rows


def table2(runs: int, names: list[str]) -> list[dict[str, Any]]:
    rows = []
    shops = {name: shop for name, shop, _ in CONFIGS}
    for name in names:
        shop = shops[name]
        sim = statistics.fmean(d.elapsed for d in simulate(shop, runs))
        real = statistics.fmean(d.elapsed for d in trio.run(shop.work, runs))
        rows.append(
            {
                "config": name,
                "runs": runs,
                "simulated_ms": sim * 1e3,
                "real_ms": real * 1e3,
                "overhead_ms": (real - sim) * 1e3,
                "overhead_pct": (real / sim - 1) * 100,
            }
        )
    return rows


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        print("| " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks.cake", description=__doc__)
    p.add_argument("--quick", action="store_true", help="few runs, finishes in seconds")
    p.add_argument("--runs", type=int, help="simulated runs per configuration (300; quick 20)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)
    runs = args.runs or (20 if args.quick else 300)
    real_runs = 1 if args.quick else 5
    real_names = REAL_CHECK[:1] if args.quick else REAL_CHECK

    print(f"Table 1: 20 cakes per run, simulated on MockClock, mean of {runs} seeded runs\n")
    t1 = table1(runs)
    print_table(
        [
            "config",
            "ms/run",
            "sd",
            "cakes/s",
            "vs default",
            "Go (book)",
            "baker blocked",
            "baker done",
            "inscriber starved",
            "real ms to simulate",
        ],
        [
            [
                r["config"],
                f"{r['ms_per_run']:.1f}",
                f"{r['ms_sd']:.1f}",
                f"{r['cakes_per_s']:.1f}",
                f"{r['vs_default']:.2f}",
                "-" if r["book_go_ms"] is None else f"{r['book_go_ms']:.0f}",
                f"{r['baker_blocked_ms']:.1f}",
                f"{r['baker_done_ms']:.1f}",
                f"{r['inscriber_starved_ms']:.1f}",
                f"{r['wall_ms_per_run']:.2f}",
            ]
            for r in t1
        ],
    )
    print(f"\nTable 2: simulated vs real clock, mean of {real_runs} runs with the same seeds\n")
    t2 = table2(real_runs, real_names)
    print_table(
        ["config", "simulated ms", "real ms", "overhead ms", "overhead %"],
        [
            [
                r["config"],
                f"{r['simulated_ms']:.1f}",
                f"{r['real_ms']:.1f}",
                f"{r['overhead_ms']:.1f}",
                f"{r['overhead_pct']:.1f}",
            ]
            for r in t2
        ],
    )
    if args.json:
        result = {
            "benchmark": "cake",
            "python": sys.version.split()[0],
            "trio": trio.__version__,
            "machine": platform.platform(),
            "quick": args.quick,
            "runs": runs,
            "simulated": t1,
            "real_clock_check": t2,
        }
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, default=lambda x: None if math.isnan(x) else x)
    return 0


if __name__ == "__main__":
    sys.exit(main())
