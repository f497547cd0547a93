"""du4 on slow and hung storage, for real: a FUSE mount that delays or never answers (issue 9).

The filesystem is ``benchmarks/_latencyfs.py`` (fusepy over libfuse2). These tests skip, with
the reason, where ``/dev/fuse``, fusermount, fusepy or libfuse2 is missing; CI installs them
(``.ci/run``). Speed claims live in ``benchmarks/slow_storage.py``; the bounds here are
generous and only separate "works" from "does not".

Tests marked "needs issue 9 (adaptive du4)" describe the contract of issue 9 parts 1–3: they
fail until du4 keeps many reads in flight on slow storage, bounds its batches in time, and
leaves a reader stuck in the kernel behind instead of waiting for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import _latencyfs
from benchmarks.plain_walk import walk
from gopl_trio import _du, du4
from gopl_trio._du import Totals, format_totals
from gopl_trio.treegen import TreeSpec, TreeStats, ensure_tree

REASON = _latencyfs.unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"needs FUSE: {REASON}")

REPO = Path(__file__).resolve().parent.parent
HUNG = "d03"  # a top-level directory: 11 of the tree's 111 directories are below it
LINE = re.compile(r"^(\d+) files  (\d+\.\d) GB")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TreeStats]:
    root = tmp_path_factory.mktemp("slow") / "tree"
    return root, ensure_tree(root, TreeSpec(files=600, depth=2, files_per_dir=6))


@pytest.fixture
def mount(tree: tuple[Path, TreeStats]) -> Iterator[_latencyfs.LatencyMount]:
    with _latencyfs.mounted(tree[0]) as mounted:
        yield mounted


def expected_line(stats: TreeStats) -> str:
    return format_totals(Totals(files=stats.files, nbytes=stats.nbytes))


def start_du4(mount: _latencyfs.LatencyMount, *flags: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gopl_trio.du4", *flags, str(mount.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        start_new_session=True,
    )


@contextlib.contextmanager
def released(mount: _latencyfs.LatencyMount, proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """Whatever happens in the test: let the hung calls fail, then end the program's group."""
    try:
        yield
    finally:
        mount.release()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- the filesystem itself -----------------------------------------------------------------


def test_mount_shows_the_tree_and_delays_every_lookup(
    mount: _latencyfs.LatencyMount, tree: tuple[Path, TreeStats]
) -> None:
    root, stats = tree
    assert walk(str(mount.path)) == walk(str(root)) == (stats.files, stats.nbytes)
    mount.set_latency(0.02)
    mount.reset()
    started = time.perf_counter()
    os.lstat(mount.path / "d01" / "f000")  # a lookup of d01 and of f000, at least
    elapsed = time.perf_counter() - started
    counted = mount.stats()
    assert elapsed >= 0.04, "the kernel cached a lookup: timeouts are not 0"
    assert counted["total"] >= 2
    assert counted["peak_in_flight"] == 1


def test_no_mount_or_server_left_even_when_the_body_fails(
    tree: tuple[Path, TreeStats],
) -> None:
    with pytest.raises(ZeroDivisionError), _latencyfs.mounted(tree[0]) as mounted:
        point, server = mounted.path, mounted.server
        assert any(p == str(point) for p, _ in _latencyfs._mounts())
        _ = 1 / 0
    assert server.poll() is not None
    assert all(p != str(point) for p, _ in _latencyfs._mounts())
    assert not point.exists()


def test_hung_path_blocks_until_released(mount: _latencyfs.LatencyMount) -> None:
    mount.hang(HUNG)
    lister = subprocess.Popen(
        [sys.executable, "-c", f"import os; os.listdir({str(mount.path / HUNG)!r})"],
        stderr=subprocess.PIPE,
    )
    with released(mount, lister):
        assert mount.wait_blocked(10)
        time.sleep(0.2)  # not synchronisation: checking that it stays blocked
        assert lister.poll() is None
        assert os.listdir(mount.path / "d01"), "only the hung path may block"
        mount.release()
        assert lister.wait(5) != 0
    _, err = lister.communicate()
    assert b"Input/output error" in err


# --- du4 over the mount --------------------------------------------------------------------


def test_du4_totals_on_a_slow_mount(
    mount: _latencyfs.LatencyMount, tree: tuple[Path, TreeStats]
) -> None:
    mount.set_latency(0.001)
    done = subprocess.run(
        [sys.executable, "-m", "gopl_trio.du4", str(mount.path)],
        stdin=subprocess.PIPE,  # an open pipe: no key, no EOF
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, expected_line(tree[1]) + "\n", "")


def test_du4_overlaps_reads_on_a_slow_mount(
    mount: _latencyfs.LatencyMount, tree: tuple[Path, TreeStats]
) -> None:
    """Many reads in flight where reads wait on I/O: up to the semaphore's 20 directories,
    each with up to LOOKUP_LANES lookups at once (when the CPUs are idle enough for lanes)."""
    mount.set_latency(0.005)
    mount.reset()
    done = subprocess.run(
        [sys.executable, "-m", "gopl_trio.du4", str(mount.path)],
        stdin=subprocess.PIPE,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.stdout == expected_line(tree[1]) + "\n"
    peak = mount.stats()["peak_in_flight"]
    bound = du4.SEMAPHORE_TOKENS * _du.LOOKUP_LANES
    assert 8 <= peak <= bound, f"du4 kept {peak} reads in flight at 5 ms per operation"


def test_du4_quits_from_a_hung_directory(
    mount: _latencyfs.LatencyMount, tree: tuple[Path, TreeStats]
) -> None:
    """Needs issue 9 (adaptive du4): Enter ends du4 although a reader can never return.

    The contract: partial totals and `` (cancelled)`` on stdout, status 130, one stderr line
    naming the stuck directory, soon after the key (the benchmark measures how soon; the
    bound here only separates exiting from hanging).
    """
    mount.set_latency(0.001)
    mount.hang(HUNG)
    du4 = start_du4(mount)
    assert du4.stdin is not None
    with released(mount, du4):
        assert mount.wait_blocked(30, quiet=0.05), "du4 never reached the hung directory"
        pressed = time.perf_counter()
        du4.stdin.write(b"\n")
        du4.stdin.flush()
        try:
            du4.wait(1.0)
        except subprocess.TimeoutExpired:
            pytest.fail("issue 9: du4 did not exit within 1 s of Enter with a hung directory")
        exit_after = time.perf_counter() - pressed
    out, err = du4.communicate()
    lines = out.decode().splitlines()
    errors = err.decode().splitlines()
    assert du4.returncode == 130
    assert lines[-1].endswith(" (cancelled)")
    counted = LINE.match(lines[-1])
    assert counted and 0 < int(counted[1]) < tree[1].files
    assert len(errors) == 1 and str(mount.path / HUNG) in errors[0], errors
    assert exit_after < 1.0


def test_du4_progress_moves_while_a_directory_hangs(
    mount: _latencyfs.LatencyMount, tree: tuple[Path, TreeStats]
) -> None:
    """Needs issue 9 (adaptive du4): ``-v`` counts what was read, not only finished batches."""
    mount.set_latency(0.001)
    mount.hang(HUNG)
    du4 = start_du4(mount, "-v")
    assert du4.stdin is not None and du4.stdout is not None
    progress: list[str] = []
    two_lines = threading.Event()

    def read_lines() -> None:
        assert du4.stdout is not None
        for raw in du4.stdout:
            progress.append(raw.decode().rstrip("\n"))
            if len(progress) >= 2:
                two_lines.set()

    reader = threading.Thread(target=read_lines)
    reader.start()
    with released(mount, du4):
        assert two_lines.wait(10), "du4 -v printed fewer than 2 lines in 10 s"
        assert mount.wait_blocked(30, quiet=0.05)
        du4.stdin.write(b"\n")
        du4.stdin.flush()
        with contextlib.suppress(subprocess.TimeoutExpired):
            du4.wait(1.0)
    reader.join()
    du4.communicate()  # closes the pipes
    files = [int(m[1]) for m in map(LINE.match, progress) if m]
    assert files[0] > 0, f"issue 9: the first progress line was {progress[0]!r}"
    assert files == sorted(files)
    assert files[-1] < tree[1].files


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_benchmark_started_in_the_background_can_still_stop_programs_with_ctrl_c() -> None:
    """Under `cmd &` without job control SIGINT is ignored, and children inherit that, so hung
    mode's Ctrl-C stops did nothing; the benchmarks undo it before they start programs."""
    child = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    harness = (
        "import subprocess, sys\n"
        "from benchmarks._common import sigint_reaches_children\n"
        "sigint_reaches_children()\n"
        f"print(subprocess.run([sys.executable, '-c', {child!r}], capture_output=True,"
        " text=True).stdout.strip())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", harness],
        cwd=REPO,
        capture_output=True,
        text=True,
        preexec_fn=_ignore_sigint,
        check=True,
    )
    assert result.stdout.strip() == "True"
