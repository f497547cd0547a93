"""The book's "hundreds of milliseconds to tens", measured: ``python -m benchmarks.cancel_latency``

§8.9 says that making du4's semaphore acquire cancellable cut the time from "cancel" to
exit from hundreds of milliseconds to tens. This harness measures that change in our du4 and
in ``du4_literal`` (the book's task-per-directory shape), each **before** (the hidden
``--uncancellable-acquire``: dirents ignores cancellation, as in the book before its last
change) and **after** (as shipped).

Out of process -- what a user feels: start the program on a large tree, wait until it is
walking, wait a random delay, write one byte to its stdin, and time until the process has
exited. A trivial Python program that exits when a byte arrives is timed the same way, so that
interpreter exit is visible and not hidden in our figures. ``--cmd 'PROGRAM ARGS'`` times any
other du-like program beside ours (``{tree}`` in ARGS is replaced by the tree's path, else the
path is appended), e.g. a Go build of gopl.io/ch8/du4.

Nothing here depends on what a program prints or how it exits, so that any du-like program
can be timed. "Walking" is: one of its processes (or threads) has a directory of the tree open,
or its working directory inside the tree. Any program must open a directory to list it (the
I/O counters of ``/proc/PID/io`` do not count directory reads, and CPU time also counts
start-up). A trial counts when the byte arrived while the program was still running and the
program did not then print the walk's complete totals (it finished on its own). The book's
du4 exits with status 0 and prints nothing more when cancelled; counting only non-zero
exits, as this harness once did, classed every one of its trials as "finished first".

In process: run ``main`` directly, cancel after the same random delay, and time from the
cancel request to the moment the totals are printed (that is, the walk's nursery has
exited), with the number of live tasks and of tasks waiting on the semaphore at that moment.

``--quick`` uses the 20k tree, short delays and a few trials: a smoke test for CI.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType
from typing import Any

import trio

from benchmarks._common import REPO, print_table, process_tree, summary, tree, write_json
from gopl_trio import du4, du4_literal
from gopl_trio._du import Totals, format_totals

PYTHON = sys.executable
BASELINE = "python: exit on a byte"
MODULES: dict[str, tuple[ModuleType, bool]] = {
    "du4 before": (du4, False),
    "du4 after": (du4, True),
    "du4_literal before": (du4_literal, False),
    "du4_literal after": (du4_literal, True),
}


# --- out of process ------------------------------------------------------------------------


def commands(root: Path, extra: Sequence[str]) -> dict[str, list[str]]:
    found = {BASELINE: [PYTHON, "-c", "import os; os.read(0, 1)"]}
    for name, (module, cancellable) in MODULES.items():
        flag = [] if cancellable else ["--uncancellable-acquire"]
        found[name] = [PYTHON, "-m", module.__name__, *flag, str(root)]
    for text in extra:
        words = shlex.split(text)
        if any("{tree}" in word for word in words):
            found[text] = [word.replace("{tree}", str(root)) for word in words]
        else:
            found[text] = [*words, str(root)]
    return found


def walking(pid: int, root: str) -> bool:
    """True while *pid* or a descendant has a directory of *root* open or its cwd inside it."""

    def inside(target: str) -> bool:
        return target == root or target.startswith(root + "/")

    for current in process_tree(pid):
        try:
            if inside(os.readlink(f"/proc/{current}/cwd")):
                return True
            descriptors = os.listdir(f"/proc/{current}/fd")
        except OSError:
            continue
        for fd in descriptors:
            try:
                if inside(os.readlink(f"/proc/{current}/fd/{fd}")):
                    return True
            except OSError:
                continue
    return False


def reading_stdin(pid: int) -> bool:
    """True once *pid* sleeps in a pipe read (the baseline program has started up)."""
    try:
        with open(f"/proc/{pid}/wchan") as wchan:
            return "pipe_read" in wchan.read()
    except OSError:
        return False


def time_one(
    command: list[str], root: str | None, delay: float, complete: str | None = None
) -> dict[str, Any]:
    """Start *command*, wait until it is at work, wait *delay*, send a byte, time the exit.

    "At work" is: it is walking *root* (see :func:`walking`), or, without a root, it is
    blocked reading its stdin. Go starts in a millisecond, Python in tens to hundreds:
    counting start-up as cancellation latency would hide what we measure. The trial is
    ``valid`` when the byte reached a running program that then did not print *complete*
    (the totals of the whole walk) as its last line.
    """
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    assert proc.stdin is not None
    root = os.path.realpath(root) if root is not None else None
    started = time.perf_counter()
    ready = False
    while not ready and proc.poll() is None and time.perf_counter() - started < 10:
        ready = reading_stdin(proc.pid) if root is None else walking(proc.pid, root)
        if not ready:
            time.sleep(0.001)
    time.sleep(delay)
    running = proc.poll() is None
    sent = time.perf_counter()
    try:
        proc.stdin.write(b"\n")
        proc.stdin.flush()
    except BrokenPipeError:
        pass
    proc.wait()
    exited = time.perf_counter()
    out, _ = proc.communicate()
    lines = out.decode(errors="replace").strip().splitlines()
    finished_walk = complete is not None and lines[-1:] == [complete]
    return {
        "latency_ms": (exited - sent) * 1000,
        "status": proc.returncode,
        "ready": ready,
        "valid": ready and running and not finished_walk,
        "output": lines[-1] if lines else "",
    }


def natural_last_line(command: list[str]) -> str:
    """The last line *command* prints when left to finish (stdin open, never written).

    How a ``--cmd`` program's trial is known to have finished on its own rather than on the
    byte, whatever its output format (GNU du, for one, does not read stdin at all).
    """
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO
    )
    assert proc.stdout is not None and proc.stdin is not None
    out = proc.stdout.read()  # stdin stays open: the book's du4 stops on end of file
    proc.wait()
    proc.stdin.close()
    proc.stdout.close()
    lines = out.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


# --- in process ----------------------------------------------------------------------------


class _StampedStdout(io.StringIO):
    """Records when the first output arrives: the moment the walk's nursery has exited."""

    first_write: float | None = None

    def write(self, text: str) -> int:
        if self.first_write is None:
            self.first_write = time.perf_counter()
        return super().write(text)


def _waiting_on_semaphore(task: trio.lowlevel.Task) -> bool:
    return any(
        frame.f_code is trio.Semaphore.acquire.__code__ for frame, _ in task.iter_await_frames()
    )


def _all_tasks() -> list[trio.lowlevel.Task]:
    found = []
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        if task is None:
            continue
        found.append(task)
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return found


def time_in_process(
    module: ModuleType, cancellable: bool, root: Path, delay: float
) -> dict[str, Any]:
    marks: dict[str, Any] = {}

    async def cancel_event() -> None:
        await trio.sleep(delay)
        tasks = _all_tasks()
        marks["tasks"] = len(tasks)
        marks["semaphore_waiters"] = sum(_waiting_on_semaphore(task) for task in tasks)
        marks["cancelled_at"] = time.perf_counter()

    stdout = _StampedStdout()

    async def run() -> int:
        status: int = await module.main(
            [str(root)], cancel_event=cancel_event, cancellable_acquire=cancellable
        )
        return status

    with redirect_stdout(stdout):
        status = trio.run(run)
    if "cancelled_at" not in marks or stdout.first_write is None:
        return {"status": status, "latency_ms": None}
    return {
        "status": status,
        "latency_ms": (stdout.first_write - marks["cancelled_at"]) * 1000,
        "tasks": marks["tasks"],
        "semaphore_waiters": marks["semaphore_waiters"],
    }


# --- the report ----------------------------------------------------------------------------


def stats_rows(
    results: dict[str, dict[str, Any]], extra: Callable[[dict[str, Any]], list[object]]
) -> list[list[object]]:
    rows = []
    for name, result in results.items():
        s = result["latency_ms"]
        rows.append(
            [name, s["n"], s["min"], s["p50"], s["p90"], s["p99"], s["max"], *extra(result)]
        )
    return rows


def ratio(results: dict[str, dict[str, Any]], shape: str, key: str) -> float:
    before = results.get(f"{shape} before", {}).get("latency_ms", {}).get(key)
    after = results.get(f"{shape} after", {}).get("latency_ms", {}).get(key)
    return before / after if before and after else float("nan")


def plot(path: str, out_of_process: dict[str, Any], in_process: dict[str, Any]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        sys.exit("cancel_latency: --plot needs matplotlib (pip install -e '.[bench]')")
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(dict.fromkeys([*out_of_process, *in_process]))
    colours = {name: f"C{index}" for index, name in enumerate(names)}
    for axis, (title, results) in zip(
        axes,
        [
            ("out of process: byte → exit", out_of_process),
            ("in process: cancel → totals", in_process),
        ],
        strict=True,
    ):
        for name, result in results.items():
            values = sorted(result["samples_ms"])
            if values:
                fractions = [(i + 1) / len(values) for i in range(len(values))]
                axis.step(values, fractions, where="post", label=name, color=colours[name])
        axis.set_xscale("log")
        # Plain milliseconds at 1-2-5 steps; matplotlib's default labels minor ticks of a
        # short log axis in scientific notation, which overlap ("3×10⁰4×10⁰").
        low, high = axis.get_xlim()
        steps = (1.0, 2.0, 5.0) if high / low < 10**2.5 else (1.0,)  # fewer over many decades
        axis.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=steps))
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(ticker.NullFormatter())
        axis.set_xlabel("latency (ms, log scale)")
        axis.set_ylabel("fraction of trials")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"wrote {path}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tree", default="1m", help="20k, 200k or 1m (default)")
    parser.add_argument("--trials", type=int, default=30, help="per variant (default 30)")
    parser.add_argument("--delay", default="100,400", help="MIN,MAX ms after the walk starts")
    parser.add_argument("--cmd", action="append", default=[], help="another program to time")
    parser.add_argument("--no-in-process", action="store_true")
    parser.add_argument(
        "--only", help="comma-separated variants, e.g. 'du4 after,du4 before' (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="20k tree, 5 trials: a smoke test")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--plot", metavar="PNG")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.quick:
        args.tree, args.trials, args.delay = "20k", 5, "5,30"
    low, high = (float(x) / 1000 for x in args.delay.split(","))
    rng = random.Random(args.seed)
    root, stats = tree(args.tree)

    # Out of process, interleaved so that every variant sees the same machine.
    only = {name.strip() for name in args.only.split(",")} if args.only else None
    programs = {k: v for k, v in commands(root, args.cmd).items() if not only or k in only}
    modules = {k: v for k, v in MODULES.items() if not only or k in only}
    trials: dict[str, list[dict[str, Any]]] = {name: [] for name in programs}
    ours = format_totals(Totals(files=stats.files, nbytes=stats.nbytes))
    complete = {
        name: natural_last_line(command) if name in args.cmd else ours
        for name, command in programs.items()
    }
    for _ in range(args.trials):
        for name, command in programs.items():
            watch = None if name == BASELINE else str(root)
            delay = rng.uniform(low, high)
            trials[name].append(time_one(command, watch, delay, complete[name]))
    out_of_process = {}
    for name, runs in trials.items():
        valid = [r for r in runs if r["valid"]]
        samples = [r["latency_ms"] for r in valid]
        out_of_process[name] = {
            "command": programs[name],
            "samples_ms": samples,
            "latency_ms": summary(samples),
            "finished_before_cancel": sum(r["ready"] and not r["valid"] for r in runs),
            "never_ready": sum(not r["ready"] for r in runs),
            "exit_statuses": sorted({r["status"] for r in valid}),
        }
    print(f"\nOut of process, tree{args.tree} ({stats.files} files): byte → process exited (ms)")
    print(f"command: python -m benchmarks.cancel_latency {shlex.join(sys.argv[1:])}")
    print_table(
        ["program", "n", "min", "p50", "p90", "p99", "max", "finished first", "never walking"],
        stats_rows(out_of_process, lambda r: [r["finished_before_cancel"], r["never_ready"]]),
    )

    in_process: dict[str, Any] = {}
    if not args.no_in_process:
        samples_by: dict[str, list[dict[str, Any]]] = {name: [] for name in modules}
        for _ in range(args.trials):
            for name, (module, cancellable) in modules.items():
                samples_by[name].append(
                    time_in_process(module, cancellable, root, rng.uniform(low, high))
                )
        for name, runs in samples_by.items():
            done = [r for r in runs if r["latency_ms"] is not None]
            in_process[name] = {
                "samples_ms": [r["latency_ms"] for r in done],
                "latency_ms": summary([r["latency_ms"] for r in done]),
                "tasks": summary([r["tasks"] for r in done]),
                "semaphore_waiters": summary([r["semaphore_waiters"] for r in done]),
                "finished_before_cancel": len(runs) - len(done),
            }
        print(f"\nIn process, tree{args.tree}: cancel → walk's nursery exited (ms)")
        print_table(
            [
                "variant",
                "n",
                "min",
                "p50",
                "p90",
                "p99",
                "max",
                "live tasks p50/max",
                "on semaphore p50/max",
            ],
            stats_rows(
                in_process,
                lambda r: [
                    f"{r['tasks']['p50']:.0f} / {r['tasks']['max']:.0f}",
                    f"{r['semaphore_waiters']['p50']:.0f} / {r['semaphore_waiters']['max']:.0f}",
                ],
            ),
        )

    ratios = {
        f"{where} {shape} {key}": ratio(results, shape, key)
        for where, results in (("out of process", out_of_process), ("in process", in_process))
        for shape in ("du4", "du4_literal")
        for key in ("p50", "p99")
    }
    print("\nBefore/after ratios (the book's change):")
    print_table(
        ["measure", "before ÷ after"],
        [[k, f"{v:.1f}×"] for k, v in ratios.items() if v == v],  # skip NaN: not measured
    )
    write_json(
        args.json,
        {
            "benchmark": "cancel_latency",
            "tree": args.tree,
            "files": stats.files,
            "trials": args.trials,
            "delay_ms": [low * 1000, high * 1000],
            "out_of_process": out_of_process,
            "in_process": in_process,
            "ratios": ratios,
        },
    )
    if args.plot:
        plot(args.plot, out_of_process, in_process)


if __name__ == "__main__":
    main()
