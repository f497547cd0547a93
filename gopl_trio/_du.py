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
import os
import sys
from collections.abc import Sequence

import attrs

__all__ = [
    "BATCH_ENTRIES",
    "Batch",
    "Totals",
    "format_totals",
    "parse_args",
    "read_batch",
    "report",
    "start_roots",
    "tally",
]

#: Entries one batch reads before it returns (a directory is always read whole).
#: About 5–20 ms of work: large enough that call overhead vanishes, small enough that the
#: pending directories are shared out quickly.
BATCH_ENTRIES = 4096

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY


@attrs.define
class Batch:
    """What one call of :func:`read_batch` found.

    ``pending`` holds directories found but not read yet; ``errors`` holds ``(path, reason)``
    pairs, reported by the caller so that the reading itself never prints.
    """

    files: int = 0
    nbytes: int = 0
    pending: list[str] = attrs.Factory(list)
    errors: list[tuple[str, str]] = attrs.Factory(list)


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
    unless written with a trailing slash, as with GNU du).
    """
    batch = Batch()
    for root in roots:
        try:
            fd = os.open(root, _OPEN_DIR)
        except OSError as exc:
            batch.errors.append((root, _reason(exc)))
        else:
            os.close(fd)
            batch.pending.append(root)
    return batch


def read_batch(pending: list[str], budget: int = BATCH_ENTRIES) -> Batch:
    """Read directories depth-first from *pending* until *budget* entries have been seen.

    Blocking: call it in a worker thread or process. Every non-directory entry counts once
    with its ``lstat`` size; symbolic links are never followed and nothing but directories is
    ever opened. Sizes are taken relative to the open directory (``fstatat``), which is cheaper
    than resolving each full path and works below the OS path-length limit's reach for names.
    """
    batch = Batch(pending=list(pending))
    seen = 0
    while batch.pending and seen < budget:
        seen += _read_dir(batch.pending.pop(), batch)
    return batch


def _read_dir(path: str, batch: Batch) -> int:
    """Add one directory's files to *batch* and its subdirectories to ``batch.pending``."""
    try:
        fd = os.open(path, _OPEN_DIR)
    except OSError as exc:
        batch.errors.append((path, _reason(exc)))
        return 1
    prefix = path if path.endswith("/") else path + "/"
    seen = 0
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                seen += 1
                try:
                    if entry.is_dir(follow_symlinks=False):
                        batch.pending.append(prefix + entry.name)
                        continue
                    size = entry.stat(follow_symlinks=False).st_size
                except OSError as exc:  # vanished since the listing, or unreadable
                    batch.errors.append((prefix + entry.name, _reason(exc)))
                    continue
                batch.files += 1
                batch.nbytes += size
    except OSError as exc:  # the listing itself failed part-way
        batch.errors.append((path, _reason(exc)))
    finally:
        os.close(fd)
    return seen


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
