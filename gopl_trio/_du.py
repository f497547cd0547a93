"""The stable pieces shared by du1–du4: arguments, totals, reporting and directory reading.

The book's du programs (gopl.io/ch8/du1..du4, §8.8–8.9) differ in *how they use goroutines*;
what they read and print is the same. That common part lives here so that each ``duN.py``
shows only its section's idea.

Reading directories is the one place where the trio versions differ in shape from Go's.
A goroutine per directory and a channel message per file are cheap in Go; in trio each
thread hop costs 100–400 µs and each channel message 15–20 µs, so a literal port spends most
of its time on bookkeeping (see ``du4_literal.py`` and ``docs/porting-guide.md``). Here the
blocking work is done in **batches**: :func:`read_batch` reads directories depth-first until a
budget of entries is used up and returns the sizes it found plus the directories it has not
read yet. One batch is one thread or process call and one channel message.
"""

from __future__ import annotations

import argparse
import functools
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeAlias

import attrs

from gopl_trio import _slowfs
from gopl_trio._readers import note_writer

__all__ = [
    "BATCH_ENTRIES",
    "BATCH_SECONDS",
    "DIRECTORY_SECONDS",
    "Batch",
    "Pending",
    "Totals",
    "format_totals",
    "parse_args",
    "read_batch",
    "report",
    "start_roots",
    "tally",
]

#: Entries one batch reads before it returns: about 5–20 ms of work on a warm cache, large
#: enough that call overhead vanishes, small enough that the work is shared out quickly.
BATCH_ENTRIES = 4096
#: ... and the time after which it returns whatever it has read, however slow the storage:
#: progress lines move and a cancelled walk loses at most this much reading per reader.
BATCH_SECONDS = 0.05
#: A directory is read in parts only when reading it takes longer than this.
DIRECTORY_SECONDS = 0.25
#: On slow storage, how many of one directory's names are looked up at once (see read_batch).
LOOKUP_LANES = 4

#: Something to read: a directory, or a directory and the names in it still to look at
#: (what was left of its listing when a batch ran out of time).
Pending: TypeAlias = str | tuple[str, list[str]]

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY


@attrs.define
class Batch:
    """What one call of :func:`read_batch` found.

    ``pending`` holds directories found but not read yet; ``errors`` holds ``(path, reason)``
    pairs, reported by the caller so that the reading itself never prints.
    """

    files: int = 0
    nbytes: int = 0
    pending: list[Pending] = attrs.Factory(list)
    errors: list[tuple[str, str]] = attrs.Factory(list)
    wall: float = 0.0  # seconds the batch took
    running: float = 0.0  # ... of which on a CPU or waiting for one
    looked_up: int = 0  # names looked up (``lstat``-ed) ...
    looking_up: float = 0.0  # ... and the seconds that took, listing them included


@attrs.define
class Totals:
    """Running totals: the book's ``nfiles, nbytes`` pair, plus how many errors were reported."""

    files: int = 0
    nbytes: int = 0
    errors: int = 0

    def add(self, batch: Batch) -> None:
        self.files += batch.files
        self.nbytes += batch.nbytes
        self.errors += len(batch.errors)

    @property
    def exit_status(self) -> int:
        return 1 if self.errors else 0


def tally(prog: str, totals: Totals, batch: Batch) -> None:
    """Report a batch's errors on stderr and add its sizes to *totals*."""
    for path, reason in batch.errors:
        report(prog, path, reason)
    totals.add(batch)


def format_totals(totals: Totals) -> str:
    """The book's output line: file count, two spaces, gigabytes with one decimal."""
    return f"{totals.files} files  {totals.nbytes / 1e9:.1f} GB"


def report(prog: str, path: str, reason: str) -> None:
    """One line on stderr: ``du4: PATH: reason``.

    Bytes of a name that are not UTF-8 print as escapes (``caf\\xe9``), never raw: a raw byte
    could upset the terminal, and the escape says exactly what is on disk.
    """
    shown = os.fsencode(path).decode("utf-8", "backslashreplace")
    print(f"{prog}: {shown}: {reason}", file=sys.stderr, flush=True)


def parse_args(
    prog: str,
    description: str,
    argv: Sequence[str] | None = None,
    *,
    cancellable: bool = False,
) -> argparse.Namespace:
    """The book's command line: ``duN [-v] [ROOT ...]``, roots defaulting to ``.``.

    With *cancellable*, also the hidden ``--uncancellable-acquire`` of du4, which restores the
    book's program as it was before its last change (for the latency benchmark).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", action="store_true", help="show progress every 500 ms")
    parser.add_argument("roots", nargs="*", default=["."], metavar="ROOT")
    if cancellable:
        parser.add_argument("--uncancellable-acquire", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def start_roots(roots: Sequence[str]) -> Batch:
    """Check the command-line roots: directories go to ``pending``, anything else is an error.

    Like the book's du, a root must be a directory (a symbolic link to one is not followed
    unless written with a trailing slash, as with GNU du). Timed as :func:`read_batch` is:
    the first sign of how slow the storage is.
    """
    started = time.perf_counter()
    ran = _running()
    batch = Batch()
    note = note_writer()
    for root in roots:
        fd = _open_dir(root, batch, note)
        if fd is not None:
            os.close(fd)
            batch.pending.append(root)
    batch.wall = time.perf_counter() - started
    batch.running = _running() - ran
    return batch


def read_batch(
    pending: Sequence[Pending],
    budget: int = BATCH_ENTRIES,
    seconds: float = BATCH_SECONDS,
    directory_seconds: float = DIRECTORY_SECONDS,
    lanes: int = 1,
) -> Batch:
    """Read depth-first from *pending* until *budget* entries are seen or *seconds* have passed.

    Blocking: call it in a worker thread or process. Every non-directory entry counts once
    with its ``lstat`` size; symbolic links are never followed and nothing but directories is
    ever opened. Sizes are taken relative to the open directory (``fstatat``), which is cheaper
    than resolving each full path and works below the OS path-length limit's reach for names.

    A batch still in the middle of a directory after *directory_seconds* (or *seconds*, if
    longer) returns the rest of that directory's names in ``pending``, so that a huge
    directory on slow storage is read in parts too. (Not sooner: reopening a directory costs
    a lookup of every component of its path on a network mount.) The batch also says how
    long it took (``wall``) and how much of that its process spent running or this thread
    waiting for a CPU (``running``): the rest was spent waiting for the storage.

    With *lanes* > 1 (for slow storage), a directory is listed first and its names are then
    looked up in that many lanes at once, threads of this process: the book's semaphore
    bounds the directories open at once, and looking up names in an open directory opens
    nothing. On a warm cache that would only add thread hand-offs, so there it is 1.
    """
    started = time.perf_counter()
    ran = _running()
    batch = Batch(pending=list(pending))
    deadline = started + seconds
    in_parts = started + max(seconds, directory_seconds)
    note = note_writer()  # what a reader left stuck on a hung mount was doing
    if lanes == 1:
        _read_in_one_lane(batch, budget, deadline, in_parts, note)
    else:
        seen = 0
        while batch.pending and seen < budget:
            seen += _read_dir(batch.pending.pop(), batch, in_parts, note, lanes)
            if time.perf_counter() > deadline:
                break
    batch.wall = time.perf_counter() - started
    batch.running = _running() - ran
    return batch


def _read_in_one_lane(
    batch: Batch, budget: int, deadline: float, in_parts: float, note: Callable[[str], None]
) -> None:
    """The hot loop of a warm cache: list each directory, ``lstat`` its entries one by one.

    Python spends about a microsecond on an entry, and a directory holds ten or so, so what
    is done once per directory counts too: the counters stay in local variables for the
    whole batch, and there is no function call per directory but the opening; the clock is
    read every 8 entries, and around each listing (the lookup time that decides on lanes).
    """
    pending, errors = batch.pending, batch.errors
    seen = files = nbytes = failed = 0
    looking_up = 0.0
    clock = time.perf_counter
    check_at = 8  # (comparing costs less here than testing `seen & 7` would)
    while pending:
        path = pending.pop()
        if not isinstance(path, str):  # the rest of a directory that a batch read in part
            seen += _read_dir(path, batch, in_parts, note)
        elif (fd := _open_dir(path, batch, note)) is None:
            seen += 1
        else:
            prefix = path if path.endswith("/") else path + "/"
            opened = clock()
            try:
                with os.scandir(fd) as listing:
                    entries = _slowfs.slowly(listing) if _slowfs.LATENCY else listing
                    for entry in entries:
                        seen += 1
                        try:
                            if entry.is_dir(follow_symlinks=False):
                                pending.append(prefix + entry.name)
                            else:
                                nbytes += entry.stat(follow_symlinks=False).st_size
                                files += 1
                        except OSError as exc:  # vanished since the listing, or unreadable
                            errors.append((prefix + entry.name, _reason(exc)))
                            failed += 1
                        if seen >= check_at:
                            check_at = seen + 8
                            if clock() <= in_parts:
                                continue
                            rest = [entry.name for entry in listing]
                            if rest:
                                pending.append((path, rest))
                            break
            except OSError as exc:  # the listing itself failed part-way
                errors.append((path, _reason(exc)))
            finally:
                os.close(fd)
                looking_up += clock() - opened
        if seen >= budget or clock() > deadline:
            break
    batch.files += files
    batch.nbytes += nbytes
    batch.looked_up += files + failed
    batch.looking_up += looking_up


def _open_dir(path: str, batch: Batch, note: Callable[[str], None]) -> int | None:
    """Open a directory to read (``None``, with the error in *batch*, if it cannot be)."""
    note(path)
    if _slowfs.HANG is not None and os.path.basename(path.rstrip("/")) == _slowfs.HANG:
        _slowfs.hang()
    if _slowfs.LATENCY:
        time.sleep(_slowfs.LATENCY)
    try:
        return os.open(path, _OPEN_DIR)
    except OSError as exc:
        batch.errors.append((path, _reason(exc)))
        return None


def _read_dir(
    item: Pending, batch: Batch, deadline: float, note: Callable[[str], None], lanes: int = 1
) -> int:
    """Read one directory in lanes, or the rest of one: its names, listed already.

    Like :func:`_read_in_one_lane`, adds its files to *batch* and its subdirectories to
    ``batch.pending``, and returns the number of entries seen.
    """
    path, names = (item, None) if isinstance(item, str) else item
    fd = _open_dir(path, batch, note)
    if fd is None:
        return 1
    prefix = path if path.endswith("/") else path + "/"
    try:
        if names is not None:
            return _look_up(fd, path, prefix, names, batch, deadline, lanes)
        if _slowfs.LATENCY:
            time.sleep(_slowfs.LATENCY)
        with os.scandir(fd) as listing:
            subdirs, started = len(batch.pending), time.perf_counter()
            names = _list_dir(listing, prefix, batch)  # its subdirectories are pending now
            subdirs = len(batch.pending) - subdirs
            batch.looking_up += time.perf_counter() - started
        return subdirs + _look_up(fd, path, prefix, names, batch, deadline, lanes)
    except OSError as exc:  # the listing itself failed part-way
        batch.errors.append((path, _reason(exc)))
        return 1
    finally:
        os.close(fd)


def _list_dir(listing: Iterator[os.DirEntry[str]], prefix: str, batch: Batch) -> list[str]:
    """Add a listing's subdirectories to ``batch.pending``; return the other names."""
    names = []
    for entry in listing:
        try:
            if entry.is_dir(follow_symlinks=False):  # the listing says so: no lookup
                batch.pending.append(prefix + entry.name)
                continue
        except OSError:
            pass  # looked up below, where its error is reported
        names.append(entry.name)
    return names


def _look_up(
    fd: int,
    path: str,
    prefix: str,
    names: list[str],
    batch: Batch,
    deadline: float,
    lanes: int = 1,
) -> int:
    """Like :func:`_read_listing` for names listed already: those left over from an earlier
    batch's listing, or (with *lanes* > 1) all of a directory's names but its subdirectories.

    The lanes take every *lanes*-th name each; a lane that passes *deadline* stops, and what
    the lanes did not look up stays pending."""
    started = time.perf_counter()
    if lanes == 1 or len(names) == 1:
        found, rest = _lane(fd, names, deadline)
    else:
        parts = [names[lane::lanes] for lane in range(lanes)]
        lane = functools.partial(_lane, fd, deadline=deadline)
        others = [_lookup_threads().submit(lane, part) for part in parts[1:] if part]
        found, rest = lane(parts[0])
        for other in others:
            more, left = other.result()
            found += more
            rest += left
    batch.looked_up += len(found)
    batch.looking_up += time.perf_counter() - started
    for name, info in found:
        if isinstance(info, str):  # why it could not be looked up
            batch.errors.append((prefix + name, info))
        elif stat.S_ISDIR(info.st_mode):
            batch.pending.append(prefix + name)
        else:
            batch.files += 1
            batch.nbytes += info.st_size
    if rest:
        batch.pending.append((path, rest))
    return len(found)


def _lane(
    fd: int, names: list[str], deadline: float
) -> tuple[list[tuple[str, os.stat_result | str]], list[str]]:
    """Look up *names* in the open directory *fd* one after another until *deadline*;
    return what was found (or why not) and the names not looked up."""
    slow = _slowfs.LATENCY
    found: list[tuple[str, os.stat_result | str]] = []
    for name in names:
        if slow:
            time.sleep(slow)
        try:
            found.append((name, os.stat(name, dir_fd=fd, follow_symlinks=False)))
        except OSError as exc:
            found.append((name, _reason(exc)))
        if len(found) < len(names) and time.perf_counter() > deadline:
            break
    return found, names[len(found) :]


@functools.cache
def _lookup_threads() -> ThreadPoolExecutor:
    """The threads of the lanes (made on first use: warm-cache readers never need them)."""
    return ThreadPoolExecutor(64, thread_name_prefix="lookup")


# A forked reader has none of its parent's threads: it makes its own pool when it needs one.
os.register_at_fork(after_in_child=_lookup_threads.cache_clear)


def _running() -> float:
    """Seconds of CPU this process has used, plus those this thread spent waiting for a CPU.

    A batch that took longer than that waited for the storage (or, in a process reading
    with several threads, its reads overlapped). CPU time of the whole process, not of the
    thread: threads of one process that wait for each other's GIL are not waiting for the
    storage, and more of them would not help. The wait for a CPU comes from Linux's
    ``/proc/thread-self/schedstat`` (nothing elsewhere), so that a loaded machine does not
    look like slow storage.
    """
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        try:
            queued = int(os.read(fd, 100).split()[1]) / 1e9
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        queued = 0.0
    return time.process_time() + queued


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
