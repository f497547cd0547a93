"""du1–du4 and du4_literal: totals, output format, bad input and cancellation.

Every walk is checked against ``find ROOT ! -type d -printf '%s\\n'``, the definition the
issue gives, and against the generator's own record. Time-dependent parts (du2's ticker)
run under MockClock; everything that involves worker threads or processes uses real time but
never sleeps to synchronise.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gopl_trio import _du, _pace, _readers, _slowfs, du1, du2, du3, du4, du4_literal
from gopl_trio.treegen import TreeSpec, ensure_tree

MODULES = [du1, du2, du3, du4, du4_literal]
TOTALS_LINE = re.compile(r"^(\d+) files  (\d+\.\d) GB( \(cancelled\))?$")


def find_totals(*roots: Path) -> _du.Totals:
    """The reference: what GNU find says the non-directories under *roots* add up to."""
    out = subprocess.run(
        ["find", *map(str, roots), "!", "-type", "d", "-printf", "%s\\n"],
        capture_output=True,
        check=False,
    ).stdout.split()
    return _du.Totals(files=len(out), nbytes=sum(int(size) for size in out))


def expected_line(totals: _du.Totals) -> str:
    return _du.format_totals(totals)


async def run_main(module: ModuleType, *roots: Path | str, **kwargs: object) -> int:
    """Call a du module's main; du4's stop on input is replaced by waiting forever."""
    if module in (du4, du4_literal):
        kwargs.setdefault("cancel_event", trio.sleep_forever)
    status: int = await module.main([str(root) for root in roots], **kwargs)
    return status


def run_cli(name: str, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", f"gopl_trio.{name}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def memory_scratch(fallback: Path) -> Iterator[Path]:
    """A scratch directory in memory where possible: creating tens of thousands of files on a
    loaded ext4 disk can take a minute, and that is not what these tests are about."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield fallback
        return
    path = Path(tempfile.mkdtemp(prefix="gopl-trio-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from memory_scratch(tmp_path_factory.mktemp("trees"))


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    yield from memory_scratch(tmp_path)


@pytest.fixture(scope="module")
def small_tree(trees: Path) -> Path:
    root = trees / "small"
    ensure_tree(root, TreeSpec(files=3000, depth=3))
    return root


@pytest.fixture(scope="module")
def medium_tree(trees: Path) -> Path:
    """Large enough that a walk takes several batches (and tens of milliseconds)."""
    root = trees / "medium"
    ensure_tree(root, TreeSpec(files=30_000, depth=4))
    return root


@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    """Every kind of non-directory, links that must not be followed, an undecodable name."""
    root = tmp_path / "odd"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "plain").write_bytes(b"x" * 1000)
    (root / "sub" / "deeper" / "empty").touch()
    with open(root / "sub" / "sparse", "wb") as sparse:
        sparse.truncate(5_000_000)
    os.symlink(root / "sub", root / "link-to-dir")  # counted once, never followed
    os.symlink("nowhere", root / "dangling")
    os.symlink("loop", root / "loop")  # a link to itself
    os.mkfifo(root / "fifo")  # opening it would block for ever
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock"))
    bad = os.fsencode(root) + b"/caf\xe9-\xff"  # not UTF-8
    os.mkdir(bad)
    with open(bad + b"/\xfe\xfe", "wb") as f:
        f.write(b"y" * 77)
    return root


# --- totals -------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.split(".")[-1])
async def test_totals_match_find(
    module: ModuleType, small_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_main(module, small_tree) == 0
    assert capsys.readouterr().out == expected_line(find_totals(small_tree)) + "\n"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.split(".")[-1])
async def test_odd_entries_counted_once_never_followed(
    module: ModuleType, odd_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_main(module, odd_tree) == 0
    expected = find_totals(odd_tree)
    # plain, empty, sparse, three links, fifo, socket, the undecodable file
    assert expected.files == 9
    out, err = capsys.readouterr()
    assert out == expected_line(expected) + "\n"
    assert err == ""


def test_generator_record_matches_find(small_tree: Path) -> None:
    stats = ensure_tree(small_tree, TreeSpec(files=3000, depth=3))
    assert (stats.files, stats.nbytes) == attrs_pair(find_totals(small_tree))


def attrs_pair(totals: _du.Totals) -> tuple[int, int]:
    return totals.files, totals.nbytes


async def test_several_roots_add_up(
    small_tree: Path, odd_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_main(du4, small_tree, odd_tree) == 0
    assert capsys.readouterr().out == expected_line(find_totals(small_tree, odd_tree)) + "\n"


def test_default_root_is_current_directory(odd_tree: Path) -> None:
    result = run_cli("du4", cwd=odd_tree)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_line(find_totals(odd_tree)) + "\n"


@pytest.fixture
def deep_tree(tmp_path: Path) -> Iterator[Path]:
    """1,500 nested directories with one 42-byte file at the bottom."""
    path = top = tmp_path / "deep"
    path.mkdir()
    try:
        for _ in range(1500):  # one level at a time: os.makedirs itself recurses
            path = path / "d"
            path.mkdir()
        (path / "bottom").write_bytes(b"z" * 42)
        yield top
    finally:  # shutil.rmtree (and so pytest's clean-up) recurses too; rm does not
        subprocess.run(["rm", "-rf", str(top)], check=True)


async def test_deep_tree_has_no_recursion_limit(
    deep_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_main(du4, deep_tree) == 0
    assert capsys.readouterr().out == expected_line(_du.Totals(files=1, nbytes=42)) + "\n"


@pytest.fixture
def too_deep_tree(tmp_path: Path) -> Path:
    """30 levels of 200-character names (6,000 bytes), each with a one-byte file."""
    name = "n" * 200
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for level in range(30):  # relative to each parent: the full path is too long to use
            os.close(os.open(f"f{level}", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    return tmp_path


async def test_tree_deeper_than_path_max_is_reported_not_fatal(
    too_deep_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await run_main(du4, too_deep_tree)
    out, err = capsys.readouterr()
    match = TOTALS_LINE.match(out.strip())
    assert match, out
    assert 10 <= int(match[1]) < 30  # the files within reach were counted
    assert status == 1
    assert err.startswith("du4: ") and "File name too long" in err
    assert "Traceback" not in err


async def test_huge_directory(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = scratch / "big"
    big.mkdir()
    fd = os.open(big, os.O_RDONLY)
    try:
        for number in range(200_000):
            os.close(os.open(str(number), os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)
    assert await run_main(du4, big) == 0
    assert capsys.readouterr().out == "200000 files  0.0 GB\n"


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.split(".")[-1])
async def test_bad_roots_reported_and_walk_continues(
    module: ModuleType, small_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing"
    a_file = tmp_path / "file"
    a_file.write_bytes(b"data")
    status = await run_main(module, missing, small_tree, a_file)
    out, err = capsys.readouterr()
    name = module.PROG
    assert status == 1
    assert out == expected_line(find_totals(small_tree)) + "\n"
    assert err.splitlines() == [
        f"{name}: {missing}: No such file or directory",
        f"{name}: {a_file}: Not a directory",
    ]


def test_unreadable_directory_reported(
    monkeypatch: pytest.MonkeyPatch, odd_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """read_batch reports a directory it cannot open and counts everything else."""
    real_open = os.open
    locked = str(odd_tree / "sub")

    def open_or_deny(path: str, flags: int, *args: object, **kwargs: object) -> int:
        if path == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_du.os, "open", open_or_deny)
    batch = _du.read_batch([str(odd_tree)], budget=10**9)
    assert batch.errors == [(locked, "Permission denied")]
    everything = find_totals(odd_tree)
    assert batch.files == everything.files - 2  # sub/sparse and sub/deeper/empty not seen
    assert batch.nbytes == everything.nbytes - 5_000_000


def test_vanished_entry_reported(monkeypatch: pytest.MonkeyPatch, odd_tree: Path) -> None:
    """A file removed between the listing and its lstat is reported, not fatal."""
    real_scandir = os.scandir

    def scandir_then_delete(fd: int) -> Iterator[os.DirEntry[str]]:
        with real_scandir(fd) as entries:
            listed = list(entries)
        if any(entry.name == "plain" for entry in listed):
            os.unlink(odd_tree / "plain")
        return _Listing(listed)

    monkeypatch.setattr(_du.os, "scandir", scandir_then_delete)
    batch = _du.read_batch([str(odd_tree)], budget=1)
    assert batch.errors == [(f"{odd_tree}/plain", "No such file or directory")]


class _Listing(list[os.DirEntry[str]]):
    def __enter__(self) -> _Listing:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _as_nobody() -> list[str] | None:
    """A command prefix that drops root privileges, or None where that is impossible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    probe = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", ""],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.parametrize("name", ["du1", "du4"])
def test_permission_denied_end_to_end(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("cannot drop privileges here")
    base = Path(os.path.realpath("/tmp")) / f"gopl-trio-perm-{os.getpid()}-{name}"
    try:
        (base / "open").mkdir(parents=True)
        (base / "locked").mkdir()
        (base / "open" / "a").write_bytes(b"1" * 10)
        (base / "locked" / "b").write_bytes(b"2" * 20)
        os.chmod(base, 0o755)
        os.chmod(base / "open", 0o755)
        os.chmod(base / "locked", 0o000)
        repo = Path(__file__).resolve().parent.parent
        result = subprocess.run(
            [*prefix, sys.executable, "-m", f"gopl_trio.{name}", str(base)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=repo,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(repo)},
        )
    finally:
        os.chmod(base / "locked", 0o755)
        shutil.rmtree(base)
    if "No module named" in result.stderr or "Permission denied: '" in result.stderr:
        pytest.skip("the interpreter or the package is not readable by an unprivileged user")
    assert result.returncode == 1, result.stderr
    assert result.stdout == "1 files  0.0 GB\n"
    assert result.stderr == f"{name}: {base}/locked: Permission denied\n"


# --- du2's ticker, under a mock clock -------------------------------------------------------


async def test_progress_ticks_every_half_second(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    totals = _du.Totals()
    printed: list[tuple[float, str]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(du2.print_progress, totals)
        await trio.sleep(0.25)  # look between ticks, never on one
        for step in range(1, 4):
            totals.add(_du.Batch(files=step, nbytes=step * 10**9))
            await trio.sleep(0.5)
            printed.append((trio.current_time(), capsys.readouterr().out))
        nursery.cancel_scope.cancel()
    assert printed == [
        (0.75, "1 files  1.0 GB\n"),
        (1.25, "3 files  3.0 GB\n"),
        (1.75, "6 files  6.0 GB\n"),
    ]


def test_progress_lines_then_final_line(medium_tree: Path) -> None:
    result = run_cli("du2", "-v", str(medium_tree))
    lines = result.stdout.splitlines()
    assert result.returncode == 0
    assert all(TOTALS_LINE.match(line) for line in lines)
    assert lines[-1] == expected_line(find_totals(medium_tree))


# --- du4 cancellation -----------------------------------------------------------------------


def cancel_after_first_batch(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType = du4
) -> Callable[[], Awaitable[None]]:
    """A cancel_event for du4.main that fires once the first files have been tallied."""
    first_files = trio.Event()
    real_tally = module.tally

    def tally_and_signal(prog: str, totals: _du.Totals, batch: _du.Batch) -> None:
        real_tally(prog, totals, batch)
        if totals.files:
            first_files.set()

    monkeypatch.setattr(module, "tally", tally_and_signal)
    return first_files.wait


@pytest.mark.parametrize("acquire", [True, False], ids=["after", "before"])
@pytest.mark.parametrize("module", [du4, du4_literal], ids=["du4", "du4_literal"])
async def test_cancel_mid_walk_prints_partial_totals_and_leaves_nothing(
    module: ModuleType,
    acquire: bool,
    medium_tree: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    status = await run_main(
        module,
        medium_tree,
        cancellable_acquire=acquire,
        cancel_event=cancel_after_first_batch(monkeypatch, module),
    )
    out = capsys.readouterr().out
    match = TOTALS_LINE.match(out.strip())
    assert status == 130
    assert match and match[3] == " (cancelled)", out
    assert 0 < int(match[1]) < find_totals(medium_tree).files
    assert trio.lowlevel.current_statistics().tasks_living == tasks_before
    assert multiprocessing.active_children() == []  # every reader process is gone


async def test_ctrl_c_cancels_like_enter(
    medium_tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first_files = cancel_after_first_batch(monkeypatch)

    async def interrupt_after_first_batch() -> None:
        await first_files()
        os.kill(os.getpid(), signal.SIGINT)
        await trio.sleep_forever()

    status = await run_main(du4, medium_tree, cancel_event=interrupt_after_first_batch)
    assert status == 130
    assert capsys.readouterr().out.endswith(" (cancelled)\n")


def test_enter_on_stdin_cancels_the_cli(medium_tree: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gopl_trio.du4", str(medium_tree)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate("\n", timeout=60)  # the byte is there before the walk starts
    match = TOTALS_LINE.match(out.strip())
    assert proc.returncode == 130, err
    assert match and match[3] == " (cancelled)", out
    assert int(match[1]) < find_totals(medium_tree).files
    assert err == ""


@pytest.mark.parametrize("stdin", ["devnull", "closed-pipe"])
def test_end_of_file_on_stdin_does_not_cancel(stdin: str, small_tree: Path) -> None:
    if stdin == "devnull":
        result = run_cli("du4", str(small_tree), stdin=subprocess.DEVNULL)
    else:
        result = run_cli("du4", str(small_tree), stdin=None, input="")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_line(find_totals(small_tree)) + "\n"


@pytest.mark.parametrize("name", ["du1", "du2", "du3", "du4"])
def test_cli_output_and_status(name: str, odd_tree: Path, tmp_path: Path) -> None:
    result = run_cli(name, str(odd_tree), str(tmp_path / "nope"))
    assert result.returncode == 1
    assert result.stdout == expected_line(find_totals(odd_tree)) + "\n"
    assert result.stderr == f"{name}: {tmp_path / 'nope'}: No such file or directory\n"


def test_cli_usage_error() -> None:
    result = run_cli("du4", "--no-such-flag")
    assert result.returncode == 2
    assert "usage: du4" in result.stderr


def test_closed_stdout_is_not_a_traceback(small_tree: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gopl_trio.du4", str(small_tree)],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1


# --- generated trees ------------------------------------------------------------------------

NAMES = st.one_of(
    st.text(alphabet="abcxyz é-_.", min_size=1, max_size=6).filter(lambda n: n not in (".", "..")),
    st.binary(min_size=1, max_size=4)
    .filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
    .map(os.fsdecode),
)
LEAVES = st.one_of(
    st.integers(min_value=0, max_value=3_000_000).map(lambda size: ("file", size)),
    st.just(("symlink", 0)),
    st.just(("fifo", 0)),
)
TREES = st.recursive(
    LEAVES, lambda children: st.dictionaries(NAMES, children, max_size=5), max_leaves=40
)


def build(path: Path, node: object) -> None:
    if isinstance(node, dict):
        path.mkdir()
        for name, child in node.items():
            build(path / name, child)
        return
    kind, size = node  # type: ignore[misc]
    if kind == "file":
        with open(path, "wb") as f:
            f.truncate(size)
    elif kind == "symlink":
        os.symlink("..", path)  # would loop if followed
    else:
        os.mkfifo(path)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=st.dictionaries(NAMES, TREES, max_size=6))
@pytest.mark.parametrize("module", [du1, du4], ids=["du1", "du4"])
def test_generated_trees_match_find(
    module: ModuleType, tree: dict[str, object], scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(tempfile.mkdtemp(dir=scratch))
    try:
        build(root / "t", tree)
        status = trio.run(run_main, module, root / "t")
        out, err = capsys.readouterr()
        assert (status, err) == (0, "")
        assert out == expected_line(find_totals(root / "t")) + "\n"
    finally:
        shutil.rmtree(root)


def test_undecodable_name_in_an_error_line(tmp_path: Path) -> None:
    missing = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    result = run_cli("du4", missing)
    assert result.returncode == 1
    assert result.stdout == "0 files  0.0 GB\n"
    assert result.stderr == f"du4: {tmp_path}/caf\\xe9: No such file or directory\n"


# --- slow and hung storage, imitated inside the reader (no FUSE needed) ---------------------


@pytest.fixture(scope="module")
def wide_tree(trees: Path) -> Path:
    """273 directories (16 + 256 below the root), two files each: many reads to overlap."""
    root = trees / "wide"
    ensure_tree(root, TreeSpec(files=546, depth=2, files_per_dir=2))
    return root


def test_a_batch_out_of_time_leaves_the_rest_of_a_directory_for_later(medium_tree: Path) -> None:
    """With no time at all, every batch reads a few entries; the parts add up exactly."""
    totals = _du.Totals()
    pending: list[_du.Pending] = [str(medium_tree)]
    batches = 0
    while pending:
        batch = _du.read_batch(pending, budget=10**9, seconds=0, directory_seconds=0)
        totals.add(batch)
        pending = batch.pending
        batches += 1
    assert (totals.files, totals.nbytes) == attrs_pair(find_totals(medium_tree))
    first = _du.read_batch([str(medium_tree)], 10, seconds=0, directory_seconds=0)
    assert any(isinstance(item, tuple) for item in first.pending)
    assert batches > 30_000 // 8  # directories really were read in parts


@pytest.mark.parametrize("seconds", [10.0, 0.0], ids=["whole", "in parts"])
def test_lanes_find_what_one_lane_finds(medium_tree: Path, seconds: float) -> None:
    """Looked up four at once, a tree adds up exactly, also when every batch runs out of time
    (then each lane leaves its rest of the directory for later)."""
    totals = _du.Totals()
    pending: list[_du.Pending] = [str(medium_tree)]
    while pending:
        batch = _du.read_batch(pending, 10**9, seconds, directory_seconds=seconds, lanes=4)
        totals.add(batch)
        pending = batch.pending
    assert (totals.files, totals.nbytes) == attrs_pair(find_totals(medium_tree))
    assert totals.errors == 0


def test_lanes_report_the_names_that_vanished(tmp_path: Path) -> None:
    for name in "abcdef":
        (tmp_path / name).write_bytes(b"x" * 3)
    (tmp_path / "sub").mkdir()
    item = (str(tmp_path), ["a", "b", "gone1", "c", "gone2", "sub"])
    batch = _du.read_batch([item], budget=6, lanes=4)  # stops before reading sub
    assert (batch.files, batch.nbytes) == (3, 9)
    assert batch.pending == [str(tmp_path / "sub")]
    assert sorted(path for path, _ in batch.errors) == [
        str(tmp_path / "gone1"),
        str(tmp_path / "gone2"),
    ]
    assert batch.looked_up == 6


def test_lanes_look_names_up_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four lookups of one directory wait at a barrier: one lane at a time would break it."""
    for name in "abcdefgh":
        (tmp_path / name).write_bytes(b"")
    barrier = threading.Barrier(4, timeout=10)
    real_stat = os.stat

    def stat_together(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if kwargs.get("dir_fd") is not None:
            barrier.wait()  # BrokenBarrierError after 10 s if fewer than 4 run at once
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat_together)
    batch = _du.read_batch([str(tmp_path)], lanes=4)
    assert (batch.files, batch.errors) == (8, [])


def _lanes_in_a_child(root: str) -> None:
    batch = _du.read_batch([root], lanes=4)
    os._exit(0 if batch.files == 8 else 1)


def test_lanes_work_in_a_reader_forked_after_they_were_used(tmp_path: Path) -> None:
    """A forked process has none of its parent's threads: its lanes need threads of its own."""
    for name in "abcdefgh":
        (tmp_path / name).write_bytes(b"")
    assert _du.read_batch([str(tmp_path)], lanes=4).files == 8  # this process's lane threads
    child = multiprocessing.get_context("fork").Process(
        target=_lanes_in_a_child, args=(str(tmp_path),)
    )
    child.start()
    child.join(timeout=10)
    if child.exitcode is None:
        child.kill()
        child.join()
    assert child.exitcode == 0


def _slow_readers() -> tuple[_pace.Readers, _FakePool]:
    pool = _FakePool()
    readers = _pace.Readers(pool)  # type: ignore[arg-type]
    readers.cores = 2
    return readers, pool


def _look_up(readers: _pace.Readers, per_name: dict[int, float], names: int = 400) -> None:
    """Batches of slow storage (reads wait 99% of the time) whose lookups take *per_name*
    seconds a name, by the number of lanes each batch was read with."""
    for _ in range(names // 5):
        lanes = readers.lanes
        batch = _du.Batch(wall=0.05, running=0.0005, looked_up=5, looking_up=5 * per_name[lanes])
        readers._learn(batch, lanes)


FOUR = _du.LOOKUP_LANES


def test_lanes_stay_where_they_make_lookups_faster() -> None:
    readers, pool = _slow_readers()
    _look_up(readers, {1: 0.010, FOUR: 0.004})  # 10 ms a name, 4 with lanes: a remote wait
    assert pool.limit > readers.cores
    assert readers.lanes == FOUR


def test_lanes_stop_where_they_only_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy server: each lookup takes as long with lanes as without (per name, per
    directory); the lanes are dropped after their trial and tried again LANES_RETRY later."""
    now = [100.0]
    monkeypatch.setattr(_pace.time, "monotonic", lambda: now[0])
    readers, _ = _slow_readers()
    _look_up(readers, {1: 0.010, FOUR: 0.010}, names=_pace.LANES_TRIAL // 2)
    assert readers.lanes == FOUR  # on trial
    _look_up(readers, {1: 0.010, FOUR: 0.010})
    assert readers.lanes == 1
    now[0] += _pace.LANES_RETRY / 2
    _look_up(readers, {1: 0.010, FOUR: 0.010})
    assert readers.lanes == 1  # not retried yet
    now[0] += _pace.LANES_RETRY
    _look_up(readers, {1: 0.010, FOUR: 0.002}, names=10)
    assert readers.lanes == FOUR  # retried: the storage may have changed
    _look_up(readers, {1: 0.010, FOUR: 0.002})
    assert readers.lanes == FOUR  # and now they pay


def test_no_lanes_for_fast_lookups_or_a_warm_cache() -> None:
    readers, _ = _slow_readers()
    _look_up(readers, {1: 0.001, FOUR: 0.0001})  # 1 ms a name: not worth the threads
    assert readers.lanes == 1
    readers, pool = _slow_readers()
    for _ in range(100):  # CPU-bound batches: one reader per core
        readers._learn(_du.Batch(wall=0.02, running=0.02, looked_up=100, looking_up=0.5), 1)
    assert pool.limit == readers.cores
    assert readers.lanes == 1


class _FakePool:
    def __init__(self) -> None:
        self.limit = 2
        self.busy = 0


@pytest.mark.parametrize(
    ("cpu_share", "start", "expected"),
    [
        (0.98, 2, 2),  # a warm cache: reading is CPU-bound, one reader per core
        (0.98, 20, 2),  # ... also after slow storage: back down to one per core
        (0.2, 2, 9),  # reads that wait 80% of the time: enough to keep the cores 90% busy
        (0.01, 2, 64),  # slow storage: as many as allowed (du3/du4's semaphore caps it at 20)
    ],
)
def test_pace_follows_the_storage(cpu_share: float, start: int, expected: int) -> None:
    """A model of the pool: each read uses *cpu_share* of a core while it runs, a process's
    reads share its core, and there is always more to read than the limit allows."""
    pool = _FakePool()
    pool.limit = start
    readers = _pace.Readers(pool)  # type: ignore[arg-type]
    readers.cores = 2
    for _ in range(200):
        pool.busy = pool.limit - 1  # the others in flight when this one returns
        used = min(1.0, pool.limit / readers.cores * cpu_share)  # of each process's core
        readers._learn(_du.Batch(wall=0.01, running=0.01 * used), 1)
    assert abs(pool.limit - expected) <= 1  # the estimate settles within one reader


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[_readers.ReaderPool]:
    """Every reader pool a du program opens, kept for inspection after it has closed."""
    opened: list[_readers.ReaderPool] = []
    real = _pace.open_reader_pool

    @contextlib.asynccontextmanager
    async def recording() -> AsyncIterator[_readers.ReaderPool]:
        async with real() as pool:
            opened.append(pool)
            yield pool

    monkeypatch.setattr(_pace, "open_reader_pool", recording)
    return opened


@pytest.mark.parametrize("module", [du3, du4], ids=["du3", "du4"])
async def test_slow_storage_reads_overlap_up_to_the_semaphore(
    module: ModuleType,
    wide_tree: Path,
    pools: list[_readers.ReaderPool],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(_slowfs, "LATENCY", 0.003)
    assert await run_main(module, wide_tree) == 0
    assert capsys.readouterr().out == expected_line(find_totals(wide_tree)) + "\n"
    (pool,) = pools
    assert 8 <= pool.peak_running <= module.SEMAPHORE_TOKENS  # many at once, never above the bound
    assert pool.processes == (os.cpu_count() or 1)  # in threads of one process per core


async def test_warm_cache_reads_one_batch_per_core(
    medium_tree: Path, pools: list[_readers.ReaderPool], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_main(du4, medium_tree) == 0
    assert capsys.readouterr().out == expected_line(find_totals(medium_tree)) + "\n"
    assert pools[0].peak_running <= (os.cpu_count() or 1) + 1


@pytest.mark.parametrize("module", [du3, du4], ids=["du3", "du4"])
async def test_warm_cache_keeps_only_the_walkers_its_readers_can_feed(
    module: ModuleType,
    medium_tree: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two readers need a few walkers, not MAX_WALKERS: more only split the work finer."""
    alive = peak = 0
    real_walk_dir = module.walk_dir

    async def counted(*args: Any) -> None:
        nonlocal alive, peak
        alive += 1
        peak = max(peak, alive)
        try:
            await real_walk_dir(*args)
        finally:
            alive -= 1

    fed: list[int] = []  # what the readers could feed, each time a walker asked
    real_fed = vars(_pace.Readers)["walkers_fed"].fget

    def recorded_fed(readers: _pace.Readers) -> int:
        fed.append(real_fed(readers))
        return fed[-1]

    monkeypatch.setattr(module, "walk_dir", counted)
    monkeypatch.setattr(_pace.Readers, "walkers_fed", property(recorded_fed))
    assert await run_main(module, medium_tree) == 0
    assert capsys.readouterr().out == expected_line(find_totals(medium_tree)) + "\n"
    assert 2 <= peak <= max(fed) < module.MAX_WALKERS


def test_progress_grows_on_slow_storage(wide_tree: Path) -> None:
    """Every 500 ms a line, and each line counts more than the one before."""
    result = run_cli("du4", "-v", str(wide_tree), env={**os.environ, LATENCY_ENV: "0.03"})
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    counts = [int(TOTALS_LINE.match(line)[1]) for line in lines]  # type: ignore[index]
    assert len(counts) >= 3  # at least two progress lines before the final one
    assert counts[0] > 0 and all(a < b for a, b in itertools.pairwise(counts[:-1]))
    assert lines[-1] == expected_line(find_totals(wide_tree))


LATENCY_ENV = "GOPL_TRIO_DU_LATENCY"


def hanging_tree(tmp_path: Path) -> Path:
    """A root with a few files and a directory named ``hung`` that readers hang on."""
    root = tmp_path / "t"
    (root / "hung").mkdir(parents=True)
    (root / "hung" / "never-seen").write_bytes(b"x")
    for number in range(5):
        (root / f"f{number}").write_bytes(b"y" * 100)
    return root


def read_a_byte(path: Path) -> bytes:
    with open(path, "rb") as fifo:
        return fifo.read(1)


async def test_cancel_with_a_reader_stuck_for_ever_returns_within_the_bound(
    tmp_path: Path,
    pools: list[_readers.ReaderPool],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = hanging_tree(tmp_path)
    fifo = tmp_path / "hung-signal"
    os.mkfifo(fifo)
    monkeypatch.setattr(_slowfs, "HANG", "hung")
    monkeypatch.setattr(_slowfs, "HANG_SIGNAL", str(fifo))
    marks: dict[str, float] = {}

    async def enter_once_stuck() -> None:
        assert await trio.to_thread.run_sync(read_a_byte, fifo) == b"!"
        marks["cancel"] = trio.current_time()

    status = await run_main(du4, root, cancel_event=enter_once_stuck)
    returned = trio.current_time() - marks["cancel"]
    out, err = capsys.readouterr()
    assert status == 130
    # What batches brought back: the root's five files, unless the batch that read the root
    # went on into the hung directory (then they are lost with it).
    assert out in ("0 files  0.0 GB (cancelled)\n", "5 files  0.0 GB (cancelled)\n")
    (pool,) = pools
    (stuck,) = pool.stuck
    assert err == (
        f"du4: {root}/hung: stuck in the kernel; exiting without reader process {stuck.pid}\n"
    )
    assert returned < _readers.REAP_LIMIT / 2  # the grace period, not the long limit


def test_enter_exits_the_cli_from_a_hung_read(tmp_path: Path) -> None:
    root = hanging_tree(tmp_path)
    fifo = tmp_path / "hung-signal"
    os.mkfifo(fifo)
    env = {**os.environ, "GOPL_TRIO_DU_HANG": "hung", "GOPL_TRIO_DU_HANG_SIGNAL": str(fifo)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gopl_trio.du4", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None
    try:
        assert read_a_byte(fifo) == b"!"  # a reader hangs now
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=10)  # also: no stuck reader holds the pipes open
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert out in (b"0 files  0.0 GB (cancelled)\n", b"5 files  0.0 GB (cancelled)\n")
    assert re.fullmatch(
        rb"du4: .*/hung: stuck in the kernel; exiting without reader process \d+\n", err
    ), err
