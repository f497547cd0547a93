"""du on slow and hung storage, side by side: ``python -m benchmarks.slow_storage``

The trees are mounted through ``benchmarks/_latencyfs.py``, a passthrough FUSE filesystem
that waits a fixed time before it serves each operation (0.2, 1 and 5 ms by default: a fast
NFS server, a slow one, a cold spinning disk or a cloud mount), with the kernel's caches off so
that every ``lstat`` pays. Every program runs as its own process over the same mount: du1–du4,
``du4_literal``, the plain single-threaded walk (``benchmarks/plain_walk.py``, the baseline of
the ratios), ``find`` and GNU ``du -sb``, plus any ``--cmd`` (e.g. a Go build of
gopl.io/ch8/du4). The filesystem counts the reads in flight at once: the peak, and the mean
over the walk, which is what a walker really overlaps. It also reports the filesystem
server's own CPU (in cores): the server is a Python process on the same machine, and where it
nears one core (its GIL) it, not the latency, sets the pace, and every bit of CPU a walker
spends is taken from it. A network mount's server costs the machine nothing.

A program that reads one directory at a time (the plain walk, du1, du2, ``find``, GNU ``du``)
takes minutes over the larger trees at 5 ms per operation, and its time is linear in the size
of the tree. So where its predicted time is over ``--cap`` seconds it walks the largest
subtree predicted under the cap (``d00``, ``d00/d00``, ...: the trees are uniform), and its
time is scaled by the tree's entries ÷ the subtree's entries, after taking off its start-up
time (measured on an empty directory of the same mount). The "walked" column says so. The
concurrent programs always walk the whole tree.

Hung mode: one directory of a small tree never answers (a hung NFS server). Each program is
started, and once it is blocked on that directory and nothing else is being read, it gets
the key its user would press: Enter for du4 and ``du4_literal`` (and ``--cmd`` programs, as
the book's du4 also stops on a byte), Ctrl-C (SIGINT to its process group) for the rest. The
table says how long it took to exit, if it did within ``HUNG_BOUND``, with what.

Cold cache: where ``/proc/sys/vm/drop_caches`` is writable, du4, GNU ``du -sb`` and the plain
walk on the real disk, caches dropped before every run.

``--quick`` (CI): a 111-directory tree at 0.2 ms, a short hung-mode check and the 20k tree
cold: a smoke test of seconds, not a measurement. Where FUSE is not available, the benchmark
says why in one line and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import _latencyfs
from benchmarks._common import (
    REPO,
    TREES_DIR,
    print_table,
    process_cpu_seconds,
    sigint_reaches_children,
    summary,
    tree,
    write_json,
)
from benchmarks.plain_walk import walk as plain_walk
from gopl_trio._du import Totals, format_totals
from gopl_trio.treegen import TreeSpec, ensure_tree

PYTHON = sys.executable
PLAIN = "plain walk"

#: The trees: about 1k directories of 9 files, about 10k directories of 3 files, and a small
#: one for --quick and for hung mode.
SLOW_TREES = {
    "1k": TreeSpec(files=10_000, depth=3),
    "10k": TreeSpec(files=30_000, depth=4, files_per_dir=3),
    "quick": TreeSpec(files=600, depth=2, files_per_dir=6),
}
#: Programs that read one directory at a time by design: their time is linear in the tree.
SEQUENTIAL = frozenset({PLAIN, "du1", "du2", "find", "GNU du -sb"})
#: Programs that stop when a byte arrives on stdin; the others are stopped with Ctrl-C.
KEY_STOPS = frozenset({"du4", "du4_literal"})
#: Operations per entry a sequential walker needs (lookup + getattr per entry, plus open,
#: read and release per directory), and the filesystem's own cost per operation here: used
#: only to choose how much of the tree a sequential walker walks, never in a result.
OPS_PER_ENTRY = 2.5
FS_COST = 60e-6
HUNG_DIR = "d03"
HUNG_BOUND = 2.0  # seconds a program gets to exit after the key in hung mode


# --- programs ------------------------------------------------------------------------------


def programs(extra: Sequence[str], only: set[str] | None) -> dict[str, list[str]]:
    """Name -> command; the walked directory is appended (or replaces ``{tree}``)."""
    found: dict[str, list[str]] = {PLAIN: [PYTHON, "-m", "benchmarks.plain_walk"]}
    for name in ("du1", "du2", "du3", "du4", "du4_literal"):
        found[name] = [PYTHON, "-m", f"gopl_trio.{name}"]
    if shutil.which("find"):
        found["find"] = ["find", "{tree}", "!", "-type", "d", "-printf", "%s\\n"]
    if shutil.which("du"):
        found["GNU du -sb"] = ["du", "-sb"]
    for text in extra:
        found[text] = shlex.split(text)
    return {name: cmd for name, cmd in found.items() if not only or name in only or name == PLAIN}


def command_for(command: list[str], root: Path) -> list[str]:
    if any("{tree}" in word for word in command):
        return [word.replace("{tree}", str(root)) for word in command]
    return [*command, str(root)]


def start(command: list[str]) -> subprocess.Popen[bytes]:
    """Start *command* in a process group of its own, stdin an open pipe (EOF is no key)."""
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run(command: list[str], timeout: float) -> dict[str, Any]:
    """Run to the end (or *timeout*): wall time, status, stdout and stderr."""
    started = time.perf_counter()
    proc = start(command)
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        timed_out = True
    return {
        "wall": time.perf_counter() - started,
        "status": proc.returncode,
        "timed_out": timed_out,
        "stdout": out.decode(errors="replace"),
        "stderr": err.decode(errors="replace").strip(),
    }


class Expected:
    """What a correct walk of a directory prints, worked out on the real disk (cached)."""

    def __init__(self) -> None:
        self._totals: dict[Path, tuple[int, int]] = {}
        self._du: dict[Path, str] = {}

    def totals(self, source: Path) -> tuple[int, int]:
        if source not in self._totals:
            self._totals[source] = plain_walk(str(source))
        return self._totals[source]

    def entries(self, source: Path) -> int:
        files, _ = self.totals(source)
        return files + sum(len(dirs) for _, dirs, _ in os.walk(source)) + 1

    def check(self, name: str, output: str, source: Path) -> bool | None:
        """True/False when the output can be checked, None when its format is unknown."""
        files, nbytes = self.totals(source)
        lines = output.strip().splitlines()
        if name == "find":
            sizes = [int(line) for line in lines]
            return len(sizes) == files and sum(sizes) == nbytes
        if name == "GNU du -sb":
            if source not in self._du:
                direct = subprocess.run(["du", "-sb", str(source)], capture_output=True, text=True)
                self._du[source] = direct.stdout.split()[0]
            return bool(lines) and lines[-1].split()[0] == self._du[source]
        wanted = format_totals(Totals(files=files, nbytes=nbytes))
        if lines and lines[-1] == wanted:
            return True
        return False if name in KEY_STOPS or name.startswith("du") or name == PLAIN else None


# --- latency runs --------------------------------------------------------------------------


def subtree_for(
    source: Path, spec: TreeSpec, latency: float, cap: float, expected: Expected
) -> str:
    """The relative path a sequential walker walks: '' (all) or d00, d00/d00, ..."""
    relative = ""
    while True:
        predicted = expected.entries(source / relative) * OPS_PER_ENTRY * (latency + FS_COST)
        if predicted <= cap or relative.count("/") + 1 >= spec.depth:
            return relative
        relative = f"{relative}/d00".lstrip("/")


def bench_latency(
    mount: _latencyfs.LatencyMount,
    source: Path,
    spec: TreeSpec,
    latency: float,
    commands: dict[str, list[str]],
    expected: Expected,
    cap: float,
    timeout: float,
    startup: dict[str, float],
) -> dict[str, Any]:
    mount.set_latency(latency)
    results: dict[str, dict[str, Any]] = {}
    for name, command in commands.items():
        relative = subtree_for(source, spec, latency, cap, expected) if name in SEQUENTIAL else ""
        root = mount.path / relative if relative else mount.path
        print(f"  {latency * 1000:g} ms: {name} on {relative or 'the whole tree'}", file=sys.stderr)
        mount.reset()
        server_cpu = process_cpu_seconds(mount.server.pid)
        result = run(command_for(command, root), timeout)
        server_cpu = process_cpu_seconds(mount.server.pid) - server_cpu
        stats = mount.stats()
        scale = expected.entries(source) / expected.entries(source / relative) if relative else 1
        wall = result["wall"]
        if relative:
            base = startup.get(name, 0.0)
            wall = base + (result["wall"] - base) * scale
        results[name] = {
            "command": command_for(command, root),
            "walked": relative or ".",
            "scale": scale,
            "measured_wall": result["wall"],
            "wall": wall,
            "status": result["status"],
            "timed_out": result["timed_out"],
            "correct": None
            if result["timed_out"]
            else expected.check(name, result["stdout"], source / relative),
            "peak_in_flight": stats["peak_in_flight"],
            "mean_in_flight": stats["mean_in_flight"],
            "ops": stats["total"],
            "fuse_server_cores": server_cpu / result["wall"],
            "stderr": result["stderr"][-500:],
        }
    baseline = results[PLAIN]["wall"]
    rows = []
    for name, r in results.items():
        r["ratio_to_plain"] = r["wall"] / baseline
        walked = "all" if r["walked"] == "." else f"{r['walked']} ×{r['scale']:.1f}"
        wall = f">{timeout:.0f} (timed out)" if r["timed_out"] else r["wall"]
        faster = baseline / r["wall"]
        rows.append(
            [
                name,
                walked,
                wall,
                f"{r['ratio_to_plain']:.3f}×",
                f"{faster:.1f}×",
                f"{r['peak_in_flight']} / {r['mean_in_flight']:.1f}",
                r["ops"],
                f"{r['fuse_server_cores']:.2f}",
                {True: "yes", False: "NO", None: "?"}[r["correct"]],
            ]
        )
    print(f"\n{latency * 1000:g} ms per operation:")
    print_table(
        [
            "program",
            "walked",
            "wall s",
            "× plain walk",
            "speed-up",
            "reads in flight peak / mean",
            "FUSE ops",
            "FUSE server CPU (cores)",
            "totals ok",
        ],
        rows,
    )
    return {"latency_ms": latency * 1000, "results": results}


def measure_startup(commands: dict[str, list[str]]) -> dict[str, float]:
    """Each sequential program's time over an empty directory: its start-up, not scaled."""
    empty = TREES_DIR / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, command in commands.items():
        if name in SEQUENTIAL:
            found[name] = min(run(command_for(command, empty), 30)["wall"] for _ in range(3))
    return found


def bench_tree(
    name: str,
    latencies: Sequence[float],
    commands: dict[str, list[str]],
    cap: float,
    timeout: float,
) -> dict[str, Any]:
    spec = SLOW_TREES[name]
    source = TREES_DIR / f"slow{name}"
    TREES_DIR.mkdir(parents=True, exist_ok=True)
    stats = ensure_tree(source, spec)
    expected = Expected()
    print(f"\ntree slow{name}: {stats.files} files in {stats.dirs} directories", flush=True)
    print(f"command: python -m benchmarks.slow_storage {shlex.join(sys.argv[1:])}")
    report: dict[str, Any] = {"tree": name, "files": stats.files, "dirs": stats.dirs, "runs": []}
    startup = measure_startup(commands)
    report["startup_s"] = startup
    with _latencyfs.mounted(source, 0.0) as mount:
        for latency in latencies:
            report["runs"].append(
                bench_latency(
                    mount, source, spec, latency, commands, expected, cap, timeout, startup
                )
            )
    return report


# --- hung mode -----------------------------------------------------------------------------


def _become_subreaper() -> None:
    """Orphans of our programs (a reader left stuck) become our children, to be reaped here."""
    pr_set_child_subreaper = 36
    ctypes.CDLL(None).prctl(pr_set_child_subreaper, 1, 0, 0, 0)


def _reap_orphans(known: set[int]) -> None:
    """Wait for children that no Popen tracks: readers left stuck and then released."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children: set[int] = set()
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/children") as f:
                children.update(int(pid) for pid in f.read().split())
        orphans = children - known
        if not orphans:
            return
        for pid in orphans:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.01)


def exited_within(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for *proc* to exit, up to *timeout*, and wake at the moment it does.

    ``Popen.wait(timeout)`` polls with growing sleeps (up to 50 ms), which would round every
    exit time up; a pidfd becomes readable when the process exits.
    """
    pidfd = os.pidfd_open(proc.pid)
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return bool(readable)


def hung_one(
    mount: _latencyfs.LatencyMount, name: str, command: list[str], extra: bool
) -> dict[str, Any]:
    mount.reset()
    mount.hang(HUNG_DIR)
    proc = start(command_for(command, mount.path))
    assert proc.stdin is not None
    output: dict[str, bytes] = {}

    def drain(stream_name: str) -> None:
        stream = getattr(proc, stream_name)
        output[stream_name] = stream.read()

    readers = [threading.Thread(target=drain, args=(s,)) for s in ("stdout", "stderr")]
    for reader in readers:
        reader.start()
    stuck = mount.wait_blocked(30, quiet=0.05)
    by_key = name in KEY_STOPS or extra
    pressed = time.perf_counter()
    if by_key:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(b"\n")
            proc.stdin.flush()
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGINT)
    exit_ms = (
        None if not exited_within(proc, HUNG_BOUND) else (time.perf_counter() - pressed) * 1000
    )
    mount.release()  # the stuck calls fail now: whatever is still blocked can end
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.wait()
    for reader in readers:
        reader.join()
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    stdout = output.get("stdout", b"").decode(errors="replace").strip().splitlines()
    stderr = output.get("stderr", b"").decode(errors="replace").strip().splitlines()
    return {
        "command": command_for(command, mount.path),
        "stopped_by": "Enter" if by_key else "Ctrl-C",
        "reached_hung_dir": stuck,
        "exit_ms": exit_ms,
        "status": proc.returncode if exit_ms is not None else None,
        "last_line": stdout[-1] if stdout else "",
        "stderr": stderr,
    }


def bench_hung(commands: dict[str, list[str]], extra: set[str], latency: float) -> dict[str, Any]:
    spec = SLOW_TREES["quick"]
    source = TREES_DIR / "slowquick"
    ensure_tree(source, spec)
    _become_subreaper()
    results = {}
    with _latencyfs.mounted(source, latency) as mount:
        for name, command in commands.items():
            print(f"  hung: {name}", file=sys.stderr)
            results[name] = hung_one(mount, name, command, name in extra)
            _reap_orphans({mount.server.pid})
    hung_path = f"{mount.path}/{HUNG_DIR}"
    rows = []
    for name, r in results.items():
        exit_after = "still running" if r["exit_ms"] is None else f"{r['exit_ms']:.0f}"
        stuck_line = [line for line in r["stderr"] if hung_path in line]
        rows.append(
            [
                name,
                r["stopped_by"],
                exit_after if r["reached_hung_dir"] else f"{exit_after} (never blocked)",
                "—" if r["status"] is None else r["status"],
                r["last_line"][:40] or "—",
                f"{len(r['stderr'])} line(s)" + (", names the directory" if stuck_line else ""),
            ]
        )
    print(
        f"\nHung mode: {HUNG_DIR}/ never answers ({latency * 1000:g} ms per other operation); "
        f"key pressed once the program is blocked there; {HUNG_BOUND:.0f} s allowed"
    )
    print_table(
        ["program", "stopped by", "exit after key ms", "status", "last output line", "stderr"],
        rows,
    )
    return {"hung_dir": HUNG_DIR, "latency_ms": latency * 1000, "results": results}


# --- cold cache on the real disk -------------------------------------------------------------


def drop_caches() -> bool:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("3\n")
    except OSError:
        return False
    return True


def bench_cold(name: str, rounds: int) -> dict[str, Any] | None:
    if not drop_caches():
        print("\ncold cache: /proc/sys/vm/drop_caches is not writable here; skipped")
        return None
    root, stats = tree(name)
    commands = {
        PLAIN: [PYTHON, "-m", "benchmarks.plain_walk", str(root)],
        "du4": [PYTHON, "-m", "gopl_trio.du4", str(root)],
    }
    if shutil.which("du"):
        commands["GNU du -sb"] = ["du", "-sb", str(root)]
    wanted = format_totals(Totals(files=stats.files, nbytes=stats.nbytes))
    walls: dict[str, list[float]] = {n: [] for n in commands}
    correct = dict.fromkeys(commands, True)
    names = list(commands)
    for index in range(rounds):
        for variant in names[index % len(names) :] + names[: index % len(names)]:
            print(f"  cold: {variant}", file=sys.stderr)
            drop_caches()
            result = run(commands[variant], 600)
            walls[variant].append(result["wall"])
            if variant != "GNU du -sb":
                correct[variant] &= result["stdout"].strip().splitlines()[-1:] == [wanted]
    baseline = summary(walls[PLAIN])["p50"]
    results: dict[str, dict[str, Any]] = {
        n: {
            "command": commands[n],
            "wall": summary(w),
            "ratio_to_plain": summary(w)["p50"] / baseline,
            "correct": correct[n],
        }
        for n, w in walls.items()
    }
    print(f"\nCold cache on the real disk, tree{name} ({stats.files} files), {rounds} rounds:")
    print_table(
        ["program", "wall p50 s", "wall min s", "× plain walk", "totals ok"],
        [
            [
                n,
                r["wall"]["p50"],
                r["wall"]["min"],
                f"{r['ratio_to_plain']:.2f}×",
                "yes" if r["correct"] else "NO",
            ]
            for n, r in results.items()
        ],
    )
    return {"tree": name, "files": stats.files, "rounds": rounds, "results": results}


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trees", default="1k,10k", help="comma-separated: 1k, 10k, quick")
    parser.add_argument("--latency", default="0.2,1,5", help="ms per operation, comma-separated")
    parser.add_argument("--only", help="comma-separated program names (the plain walk always)")
    parser.add_argument("--cmd", action="append", default=[], help="another du-like program")
    parser.add_argument("--cap", type=float, default=20.0, help="seconds, see above")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--no-hung", action="store_true", help="skip hung mode")
    parser.add_argument("--cold", default="200k", help="tree for the cold-cache runs, or 'no'")
    parser.add_argument("--cold-rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="seconds: a smoke test for CI")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    sigint_reaches_children()  # hung mode stops most programs with Ctrl-C
    if args.quick:
        args.trees, args.latency, args.cap, args.cold, args.cold_rounds = (
            "quick",
            "0.2",
            5.0,
            "20k",
            1,
        )
    reason = _latencyfs.unavailable()
    if reason:
        print(f"slow_storage: skipped, FUSE is not available: {reason}")
        return
    only = set(args.only.split(",")) if args.only else None
    commands = programs(args.cmd, only)
    latencies = [float(ms) / 1000 for ms in args.latency.split(",")]
    trees = [
        bench_tree(n, latencies, commands, args.cap, args.timeout)
        for n in args.trees.split(",")
        if n
    ]
    hung = None
    if not args.no_hung:
        if args.quick:
            commands = {n: c for n, c in commands.items() if n in ("du4", "find")}
        hung = bench_hung(commands, set(args.cmd), 0.001)
    cold = None if args.cold == "no" else bench_cold(args.cold, args.cold_rounds)
    write_json(
        args.json,
        {"benchmark": "slow_storage", "trees": trees, "hung": hung, "cold_cache": cold},
    )
    wrong = [
        n
        for t in trees
        for r in t["runs"]
        for n, v in r["results"].items()
        if v["correct"] is False
    ]
    if wrong:
        sys.exit(f"slow_storage: wrong totals from {', '.join(sorted(set(wrong)))}")


if __name__ == "__main__":
    main()
