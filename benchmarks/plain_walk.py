"""The baseline: the plainest single-threaded ``os.scandir`` walk, with no trio at all.

``python -m benchmarks.plain_walk ROOT`` prints the same line as du1–du4. It is what the
planning notes call "the best pure-Python baseline": du4 must not be slower.

It makes the same system calls as du's readers, GNU ``du`` and ``find``: each directory is
opened once and its entries are ``lstat``-ed relative to it (``fstatat``). Statting full paths
instead would look up every component of every path again, which costs little on a warm
cache but one more round trip per level on a slow mount (twice the operations on a tree five
levels deep), and the baseline would then flatter every program compared with it.
"""

from __future__ import annotations

import os
import sys

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def walk(root: str) -> tuple[int, int]:
    files = nbytes = 0
    stack = [root]
    while stack:
        path = stack.pop()
        fd = os.open(path, _OPEN_DIR)
        try:
            with os.scandir(fd) as entries:  # entry.stat() is then fstatat(fd, name)
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(os.path.join(path, entry.name))
                    else:
                        files += 1
                        nbytes += entry.stat(follow_symlinks=False).st_size
        finally:
            os.close(fd)
    return files, nbytes


if __name__ == "__main__":
    total_files = total_bytes = 0
    for root in sys.argv[1:] or ["."]:
        files, nbytes = walk(root)
        total_files += files
        total_bytes += nbytes
    print(f"{total_files} files  {total_bytes / 1e9:.1f} GB")
