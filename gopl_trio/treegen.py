"""Deterministic directory trees for du's tests and benchmarks.

``python -m gopl_trio.treegen DIR --files 200000`` builds a tree of sparse files (created with
``ftruncate``, so a million files of up to 1 MiB take no disk space) in a complete directory
tree of the given depth. The same arguments always produce the same names and sizes, and the
expected totals are returned (and written to ``DIR.json``) so that callers can check a walk
without walking.

Not a book program: a shared helper, like the test trees one would build by hand for §8.8.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

import attrs

__all__ = ["TreeSpec", "TreeStats", "ensure_tree", "make_tree"]


@attrs.frozen
class TreeSpec:
    """What to build: *files* files spread evenly over a tree *depth* levels deep."""

    files: int
    depth: int = 5
    files_per_dir: int = 10
    max_size: int = 1 << 20
    seed: int = 0

    @property
    def fanout(self) -> int:
        """Children per directory so that there are about files/files_per_dir directories."""
        wanted_dirs = max(1, self.files // max(1, self.files_per_dir))
        fanout: int = round(wanted_dirs ** (1 / self.depth))
        return max(1, fanout)


@attrs.frozen
class TreeStats:
    """Expected totals: what ``find ROOT ! -type d -printf '%s\\n'`` would sum to."""

    files: int
    nbytes: int
    dirs: int


def _directories(root: Path, spec: TreeSpec) -> list[Path]:
    """All directories of the tree, breadth first, root included."""
    level = [root]
    every = [root]
    for _ in range(spec.depth):
        level = [parent / f"d{i:02d}" for parent in level for i in range(spec.fanout)]
        every.extend(level)
    return every


def make_tree(root: Path, spec: TreeSpec) -> TreeStats:
    """Create the tree described by *spec* under *root* (which must not exist yet)."""
    rng = random.Random(spec.seed)
    dirs = _directories(root, spec)
    for directory in dirs:
        directory.mkdir(parents=True)
    nbytes = 0
    per_dir, extra = divmod(spec.files, len(dirs))
    for index, directory in enumerate(dirs):
        count = per_dir + (1 if index < extra else 0)
        for number in range(count):
            size = rng.randrange(spec.max_size + 1)
            fd = os.open(directory / f"f{number:03d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)
            nbytes += size
    return TreeStats(files=spec.files, nbytes=nbytes, dirs=len(dirs))


def ensure_tree(root: Path, spec: TreeSpec) -> TreeStats:
    """Return the stats of the tree at *root*, building it first unless it already exists.

    A finished tree is recorded in ``ROOT.json`` together with its spec; a tree left half-built
    (no record, or another spec) is removed and built again.
    """
    record = root.with_name(root.name + ".json")
    wanted = attrs.asdict(spec)
    if record.exists() and root.is_dir():
        saved = json.loads(record.read_text())
        if saved.get("spec") == wanted:
            return TreeStats(**saved["stats"])
    if root.exists():
        _remove_tree(root)
    record.unlink(missing_ok=True)
    stats = make_tree(root, spec)
    record.write_text(json.dumps({"spec": wanted, "stats": attrs.asdict(stats)}))
    return stats


def _remove_tree(root: Path) -> None:
    for parent, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            os.unlink(os.path.join(parent, name))
        for name in dirnames:
            os.rmdir(os.path.join(parent, name))
    os.rmdir(root)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="treegen", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--files-per-dir", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    spec = TreeSpec(
        files=args.files, depth=args.depth, files_per_dir=args.files_per_dir, seed=args.seed
    )
    stats = ensure_tree(args.root, spec)
    gigabytes = stats.nbytes / 1e9
    print(f"{args.root}: {stats.files} files in {stats.dirs} directories, {gigabytes:.1f} GB")


if __name__ == "__main__":
    main()
