"""The baseline: the plainest single-threaded ``os.scandir`` walk, with no trio at all.

``python -m benchmarks.plain_walk ROOT`` prints the same line as du1–du4. It is what the
planning notes call "the best pure-Python baseline": du4 must not be slower.
"""

from __future__ import annotations

import os
import sys


def walk(root: str) -> tuple[int, int]:
    files = nbytes = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    files += 1
                    nbytes += entry.stat(follow_symlinks=False).st_size
    return files, nbytes


if __name__ == "__main__":
    total_files = total_bytes = 0
    for root in sys.argv[1:] or ["."]:
        files, nbytes = walk(root)
        total_files += files
        total_bytes += nbytes
    print(f"{total_files} files  {total_bytes / 1e9:.1f} GB")
