"""Shared pieces of the benchmarks: test trees, percentiles, tables and JSON output."""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gopl_trio.treegen import TreeSpec, TreeStats, ensure_tree

REPO = Path(__file__).resolve().parent.parent
TREES_DIR = Path(os.environ.get("GOPL_TRIO_TREES", REPO / "bench-trees"))

#: Named trees: the planning notes' 200k and 1M trees, and a small one for --quick.
TREE_SPECS = {
    "20k": TreeSpec(files=20_000, depth=4),
    "200k": TreeSpec(files=200_000, depth=5),
    "1m": TreeSpec(files=1_000_000, depth=5),
}


def tree(name: str) -> tuple[Path, TreeStats]:
    """Build (once) and return the named tree and its expected totals."""
    root = TREES_DIR / f"tree{name}"
    TREES_DIR.mkdir(parents=True, exist_ok=True)
    if not (root.with_name(root.name + ".json")).exists():
        print(f"building {root} ({TREE_SPECS[name].files} files)...", file=sys.stderr)
    return root, ensure_tree(root, TREE_SPECS[name])


def process_tree(pid: int) -> Iterator[int]:
    """*pid* and all its descendants (Linux /proc); processes that vanish meanwhile are skipped."""
    pending = [pid]
    while pending:
        current = pending.pop()
        yield current
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except OSError:
            continue


def sigint_reaches_children() -> None:
    """Let the programs a benchmark starts be stopped with SIGINT (Ctrl-C), as it means to.

    A command started in the background by a shell without job control (``cmd &`` in a
    script, ``nohup``) runs with SIGINT ignored, and its children inherit that: Python then
    installs no Ctrl-C handler, and every "stopped by Ctrl-C" measurement fails. (Seen:
    every Ctrl-C stop of ``slow_storage``'s hung mode, run from a script in the background.)
    A handled signal, unlike an ignored one, is reset to its default in a program that
    starts.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def machine_busy_seconds() -> float:
    """CPU-seconds all processes have used so far, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process *pid* (all its threads) has used so far (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "min": min(values) if values else float("nan"),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table, so that it can be pasted into the README as it is."""
    cells = [[str(h) for h in headers]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("| " + " | ".join(value.ljust(widths[i]) for i, value in enumerate(row)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps({"machine": machine(), **payload}, indent=2))
        print(f"wrote {path}", file=sys.stderr)
