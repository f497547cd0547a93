"""How fast is each du, side by side in one run? ``python -m benchmarks.du_throughput``

Every program runs as its own process on the same warm tree, in interleaved rounds (the
order rotates each round), so that the noise of a shared machine falls on all of them alike.
For each: the median wall time; its ratio to the plain ``os.scandir`` walk
(``benchmarks/plain_walk.py``), taken round by round (the two ran within seconds of each
other) and the median of those ratios reported; CPU time (user + system, worker processes
included); and peak memory summed over the program's processes. Every output is checked
against the tree's known totals. "other load" is how many cores other processes kept busy
meanwhile (median over the rounds): a program that uses both cores of a 2-core machine is
only measured fairly when it is near 0.

A first, untimed round warms the tree's caches and Python's bytecode cache (kept in a
temporary directory: the programs run as installed, not compiled at every start) and samples
memory. The timed rounds do not sample: reading ``/proc`` every 5 ms took about 30% of a
core, which on a 2-core machine slowed the programs that use both cores and not the
single-threaded ones.

``--quick`` walks a 20k-file tree twice per program: a smoke test, not a measurement.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import (
    REPO,
    machine_busy_seconds,
    print_table,
    process_tree,
    summary,
    tree,
    write_json,
)
from gopl_trio._du import Totals, format_totals

PYTHON = sys.executable
PLAIN = "plain scandir walk"


def program_env(cache: str) -> dict[str, str]:
    """The environment of the programs: Python's bytecode cached in *cache*, as installed."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=cache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def variants(root: Path) -> dict[str, list[str]]:
    commands = {
        PLAIN: [PYTHON, "-m", "benchmarks.plain_walk", str(root)],
        **{
            name: [PYTHON, "-m", f"gopl_trio.{name}", str(root)]
            for name in ("du1", "du2", "du3", "du4", "du4_literal")
        },
    }
    if shutil.which("du"):
        commands["GNU du -sb"] = ["du", "-sb", str(root)]
    return commands


def process_tree_rss(pid: int) -> int:
    """Memory of *pid* and all its descendants, in bytes (0 once it has gone).

    Proportional set size: pages a forked reader shares with its parent count once, not twice.
    """
    total = 0
    for current in process_tree(pid):
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            continue
    return total


def run_once(command: list[str], env: dict[str, str], sample_memory: bool) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = machine_busy_seconds()
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    )
    peak = 0
    while sample_memory and proc.poll() is None:
        peak = max(peak, process_tree_rss(proc.pid))
        time.sleep(0.005)
    out, err = proc.communicate()  # the outputs are one line each: no pipe fills up
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall": wall,
        "cpu": cpu,
        # cores that other processes kept busy meanwhile (this benchmark included)
        "other_load": max(0.0, machine_busy_seconds() - busy - cpu) / wall,
        "peak_rss": peak,
        "status": proc.returncode,
        "output": out.decode(errors="replace").strip(),
        "stderr": err.decode(errors="replace").strip(),
    }


def bench_tree(
    name: str, rounds: int, only: set[str] | None, env: dict[str, str]
) -> dict[str, Any]:
    root, stats = tree(name)
    expected = format_totals(Totals(files=stats.files, nbytes=stats.nbytes))
    commands = {k: v for k, v in variants(root).items() if not only or k in only}
    names = list(commands)
    warm_up = {n: run_once(commands[n], env, sample_memory=True) for n in names}
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for variant in names[shift:] + names[:shift]:
            runs[variant].append(run_once(commands[variant], env, sample_memory=False))
    results = {}
    for variant in names:
        walls = [r["wall"] for r in runs[variant]]
        correct = variant.startswith("GNU du") or all(
            r["output"] == expected and r["status"] == 0 for r in [warm_up[variant], *runs[variant]]
        )
        results[variant] = {
            "command": commands[variant],
            "wall": summary(walls),
            "cpu": summary([r["cpu"] for r in runs[variant]]),
            "other_load": summary([r["other_load"] for r in runs[variant]]),
            "peak_rss_mb": warm_up[variant]["peak_rss"] / 2**20,
            "correct": correct,
            "outputs": sorted({r["output"] for r in runs[variant]}),
        }
    plain = runs.get(PLAIN)
    rows = []
    for variant, result in results.items():
        ratios = (
            [r["wall"] / p["wall"] for r, p in zip(runs[variant], plain, strict=True)]
            if plain
            else []
        )
        ratio = summary(ratios)["p50"] if ratios else float("nan")
        result["ratios_to_plain"] = ratios
        result["ratio_to_plain"] = ratio
        rows.append(
            [
                variant,
                result["wall"]["p50"],
                result["wall"]["min"],
                f"{ratio:.2f}×",
                result["cpu"]["p50"],
                f"{result['peak_rss_mb']:.0f}",
                f"{result['other_load']['p50']:.2f}",
                "yes" if result["correct"] else "NO",
            ]
        )
    print(f"\ntree{name}: {stats.files} files in {stats.dirs} directories, {rounds} rounds")
    print(f"command: python -m benchmarks.du_throughput {shlex.join(sys.argv[1:])}")
    print_table(
        [
            "program",
            "wall p50 s",
            "wall min s",
            "× plain walk (median of rounds)",
            "CPU s",
            "peak MB",
            "other load",
            "totals ok",
        ],
        rows,
    )
    return {"tree": name, "files": stats.files, "dirs": stats.dirs, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trees", default="200k,1m", help="comma-separated: 20k, 200k, 1m")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated program names to run")
    parser.add_argument("--quick", action="store_true", help="20k tree, 2 rounds: a smoke test")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    if args.quick:
        args.trees, args.rounds = "20k", 2
    only = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory(prefix="du-throughput-pycache-") as cache:
        env = program_env(cache)
        reports = [bench_tree(name, args.rounds, only, env) for name in args.trees.split(",")]
    write_json(args.json, {"benchmark": "du_throughput", "trees": reports})
    if not all(r["correct"] for report in reports for r in report["results"].values()):
        sys.exit("du_throughput: a program printed wrong totals")


if __name__ == "__main__":
    main()
