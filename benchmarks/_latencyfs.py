"""Slow and hung storage on demand: a passthrough FUSE filesystem that waits before answering.

Test and benchmark infrastructure, not a book program. ``mounted(source)`` mounts a read-only
view of the directory *source*; every operation that reaches the filesystem (``getattr``,
``opendir``, ``readdir``, ``releasedir``, ``readlink``, ...) first sleeps for the current
latency, which imitates what a network mount or a cold spinning disk adds to each metadata
call. The attribute, entry and negative caches of the kernel are off (timeouts 0), so every
``lstat`` of a walker really reaches the filesystem and pays the latency.

``hang(path)`` makes the directory *path* hang: opening or reading it, and every operation
below it, blocks until ``release()`` (or until the filesystem goes away), as an automounted
NFS directory whose server is down. A process blocked in such a call is in the kernel's
uninterruptible sleep; even SIGKILL does not end it before the filesystem answers. Looking
*path* up in its parent (``lstat``) still answers: libfuse2 does not ask the kernel for
parallel directory operations, so the kernel lets one lookup at a time into a directory, and
a lookup that hung would hang every other lookup in the parent too.

The filesystem counts what it serves: operations, peak operations in flight at once (how many
reads a walker really overlaps), and operations blocked on the hung path.

Why fusepy over libfuse2, not pyfuse3: fusepy is one pure-Python file over ctypes, installed
with pip in a second, where pyfuse3 must be compiled against libfuse3's headers. libfuse2's
multi-threaded loop starts a thread per concurrent request, and ``time.sleep`` releases the
GIL, so delayed requests really overlap, which is what the benchmark measures. pyfuse3 runs on
trio, which would be elegant, but the filesystem runs in its own process anyway (a hung
request must never hang the harness), so nothing of it would be shared with the programs.

The filesystem runs in a child process (``python -m benchmarks._latencyfs SOURCE MOUNTPOINT``)
driven by JSON lines on its stdin; leaving ``mounted()`` kills it with SIGKILL and lazily
unmounts (``fusermount -uz``), also on error. A mount left by a harness that was itself killed
is swept by the next ``mounted()``: its file system name carries the server's pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["LatencyMount", "mounted", "sweep_stale_mounts", "unavailable"]

FSNAME_PREFIX = "latencyfs:"
#: Operations that are not reads a walker waits for: the kernel sends a directory's release
#: in the background after ``closedir`` has returned. They are delayed too, but not counted
#: in flight.
NOT_READS = frozenset({"releasedir", "release", "flush", "forget"})
READY_TIMEOUT = 10.0  # seconds for the server to mount


def _fusermount() -> str | None:
    return shutil.which("fusermount3") or shutil.which("fusermount")


def unavailable() -> str | None:
    """Why this machine cannot mount the filesystem, in a few words; None when it can."""
    if not sys.platform.startswith("linux"):
        return "FUSE benchmarks need Linux"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    if _fusermount() is None:
        return "no fusermount (apt-get install fuse3)"
    probe = subprocess.run(
        [sys.executable, "-c", "import fuse"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        if "No module named" in last:
            return "fusepy is not installed (pip install fusepy)"
        return f"fusepy cannot load libfuse2 (apt-get install libfuse2): {last}"
    return None


# --- the harness side ----------------------------------------------------------------------


class LatencyMount:
    """A mounted latency filesystem, controlled from the harness."""

    def __init__(self, server: subprocess.Popen[str], mountpoint: Path) -> None:
        self.server = server
        self.path = mountpoint
        self._lock = threading.Lock()

    def _ask(self, **command: Any) -> dict[str, Any]:
        assert self.server.stdin is not None and self.server.stdout is not None
        with self._lock:
            self.server.stdin.write(json.dumps(command) + "\n")
            self.server.stdin.flush()
            line = self.server.stdout.readline()
        if not line:
            raise RuntimeError(f"latencyfs server {self.server.pid} has gone")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def set_latency(self, seconds: float) -> None:
        """Every operation from now on waits *seconds* before it is served."""
        self._ask(op="latency", seconds=seconds)

    def hang(self, relative: str) -> None:
        """Opening the directory *relative* (inside the mount) or anything below never returns."""
        self._ask(op="hang", path="/" + relative.strip("/"))

    def release(self) -> None:
        """Let the hung operations fail with EIO, so that their callers can end."""
        self._ask(op="release")

    def reset(self) -> None:
        """Zero the counters (peak in flight, operation counts)."""
        self._ask(op="reset")

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset.

        ``ops`` (count by operation name), ``total``, ``in_flight``, ``peak_in_flight`` and
        ``mean_in_flight`` (reads: every operation but the background releases), ``blocked``
        (operations waiting on the hung path), ``latency``, ``hung``.
        """
        return self._ask(op="stats")

    def wait_blocked(self, timeout: float, quiet: float | None = None) -> bool:
        """Wait until some operation is blocked on the hung path; False after *timeout*.

        With *quiet* (seconds), also wait until no other read has been in flight for that
        long: the walker has read everything it could and now waits only for the hung path.
        """
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            stats = self.stats()
            if stats["blocked"] and (quiet is None or stats["in_flight"] == stats["blocked"]):
                quiet_since = quiet_since or time.monotonic()
                if quiet is None or time.monotonic() - quiet_since >= quiet:
                    return True
            else:
                quiet_since = None
            time.sleep(0.002)
        return False


@contextlib.contextmanager
def mounted(source: Path, latency: float = 0.0) -> Iterator[LatencyMount]:
    """Mount *source* through the latency filesystem on a fresh temporary directory.

    On exit (also on error or Ctrl-C) the server is killed and the mount removed; a caller
    still blocked in a hung operation then gets an error (ENOTCONN) instead of waiting.
    """
    reason = unavailable()
    if reason:
        raise RuntimeError(f"latencyfs: {reason}")
    sweep_stale_mounts()
    mountpoint = Path(tempfile.mkdtemp(prefix="latencyfs-"))
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._latencyfs", str(source), str(mountpoint)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert server.stdout is not None
        ready = _readline_within(server, READY_TIMEOUT)
        if '"ready"' not in ready:
            raise RuntimeError(f"latencyfs: mounting {source} failed (server said {ready!r})")
        mount = LatencyMount(server, mountpoint)
        mount.set_latency(latency)
        yield mount
    finally:
        _kill_and_unmount(server, mountpoint)


def _readline_within(server: subprocess.Popen[str], timeout: float) -> str:
    """The server's first line, or '' if it has not written one in time."""
    assert server.stdout is not None
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(server.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return found[0] if found else ""


def _kill_and_unmount(server: subprocess.Popen[str], mountpoint: Path) -> None:
    """SIGKILL the server (it does not stop on SIGTERM while a handler sleeps), then unmount."""
    with contextlib.suppress(ProcessLookupError):
        server.kill()
    server.wait()
    for stream in (server.stdin, server.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    _unmount(mountpoint)


def _unmount(mountpoint: Path) -> None:
    fusermount = _fusermount()
    if fusermount and _is_mounted(mountpoint):
        subprocess.run([fusermount, "-uz", str(mountpoint)], capture_output=True, check=False)
    with contextlib.suppress(OSError):
        mountpoint.rmdir()


def _mounts() -> list[tuple[str, str]]:
    """(mount point, file system name) of every FUSE mount, from /proc/self/mountinfo."""
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            separator = fields.index("-")
            if fields[separator + 1].startswith("fuse"):
                point = fields[4].encode().decode("unicode_escape")  # \040 for a space
                found.append((point, fields[separator + 2]))
    return found


def _is_mounted(mountpoint: Path) -> bool:
    return any(point == str(mountpoint) for point, _ in _mounts())


def sweep_stale_mounts() -> list[str]:
    """Unmount latency filesystems whose server process is gone; return their mount points."""
    swept = []
    for point, name in _mounts():
        if not name.startswith(FSNAME_PREFIX):
            continue
        try:
            os.kill(int(name.removeprefix(FSNAME_PREFIX)), 0)
        except ProcessLookupError:
            _unmount(Path(point))
            swept.append(point)
        except (ValueError, PermissionError):
            continue
    return swept


# --- the filesystem side (runs in the server process) --------------------------------------


def _file_type_mode(entry: os.DirEntry[str]) -> int:
    """The ``st_mode`` type bits for a directory entry, from its d_type (no system call)."""
    if entry.is_symlink():
        return stat.S_IFLNK
    if entry.is_dir(follow_symlinks=False):
        return stat.S_IFDIR
    if entry.is_file(follow_symlinks=False):
        return stat.S_IFREG
    return stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode)


def serve(source: str, mountpoint: str) -> None:
    """Mount and serve until killed. Commands arrive as JSON lines on stdin."""
    import fuse  # type: ignore[import-untyped]  # fusepy: only the server process needs it

    _die_with_parent()
    state_lock = threading.Lock()
    settings: dict[str, Any] = {"latency": 0.0, "hung": None, "release": threading.Event()}
    counts: Counter[str] = Counter()
    gauges = {"in_flight": 0, "peak_in_flight": 0, "blocked": 0}
    # The integral of reads in flight over time since the last reset: its mean is how many
    # reads a walker kept going on average, which its peak alone does not show.
    area = {"read_seconds": 0.0, "since": time.monotonic(), "changed": time.monotonic()}
    out = sys.stdout

    def _account(change: int) -> None:
        """Count a read in (+1) or out (-1); the caller holds state_lock."""
        now = time.monotonic()
        area["read_seconds"] += gauges["in_flight"] * (now - area["changed"])
        area["changed"] = now
        gauges["in_flight"] += change
        gauges["peak_in_flight"] = max(gauges["peak_in_flight"], gauges["in_flight"])

    def reply(payload: dict[str, Any]) -> None:
        out.write(json.dumps(payload) + "\n")
        out.flush()

    class LatencyFS(fuse.Operations):  # type: ignore[misc]
        use_ns = True

        def __call__(self, op: str, path: str, *args: Any) -> Any:
            if op in ("init", "destroy"):
                return super().__call__(op, path, *args)
            read = op not in NOT_READS
            with state_lock:
                counts[op] += 1
                if read:
                    _account(+1)
                latency: float = settings["latency"]
                hung: str | None = settings["hung"]
                release: threading.Event = settings["release"]
            try:
                if hung is not None and (
                    path.startswith(hung + "/") or (path == hung and op != "getattr")
                ):
                    with state_lock:
                        gauges["blocked"] += 1
                    release.wait()
                    with state_lock:
                        gauges["blocked"] -= 1
                    raise fuse.FuseOSError(errno.EIO)
                if latency:
                    time.sleep(latency)
                return super().__call__(op, path, *args)
            finally:
                if read:
                    with state_lock:
                        _account(-1)

        def _real(self, path: str) -> str:
            return source + path if path != "/" else source

        def init(self, path: str) -> None:
            reply({"ready": True, "pid": os.getpid()})

        def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
            try:
                st = os.lstat(self._real(path))
            except OSError as exc:
                raise fuse.FuseOSError(exc.errno) from None
            keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks")
            attrs = {key: getattr(st, key) for key in keys}
            attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns)
            attrs["st_ctime"] = st.st_ctime_ns
            return attrs

        def opendir(self, path: str) -> int:
            if not os.path.isdir(self._real(path)):
                raise fuse.FuseOSError(errno.ENOTDIR)
            return 0

        def releasedir(self, path: str, fh: int) -> int:
            return 0

        def readdir(self, path: str, fh: int) -> list[Any]:
            try:
                with os.scandir(self._real(path)) as entries:
                    listing: list[Any] = [
                        (e.name, {"st_mode": _file_type_mode(e)}, 0) for e in entries
                    ]
            except OSError as exc:
                raise fuse.FuseOSError(exc.errno) from None
            return [".", "..", *listing]

        def readlink(self, path: str) -> str:
            return os.readlink(self._real(path))

        def access(self, path: str, amode: int) -> int:
            if not os.access(self._real(path), amode, follow_symlinks=False):
                raise fuse.FuseOSError(errno.EACCES)
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            st = os.statvfs(self._real(path))
            keys = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files")
            return {key: getattr(st, key) for key in (*keys, "f_ffree", "f_namemax")}

    def control() -> None:
        for line in sys.stdin:
            command = json.loads(line)
            with state_lock:
                op = command["op"]
                if op == "latency":
                    settings["latency"] = float(command["seconds"])
                elif op == "hang":
                    settings["hung"] = command["path"]
                elif op == "release":
                    settings["hung"] = None
                    settings["release"].set()
                    settings["release"] = threading.Event()
                elif op == "reset":
                    counts.clear()
                    gauges["peak_in_flight"] = gauges["in_flight"]
                    area.update(read_seconds=0.0, since=time.monotonic())
                _account(0)
                elapsed = area["changed"] - area["since"]
                payload = {
                    "mean_in_flight": area["read_seconds"] / elapsed if elapsed > 0 else 0.0,
                    "ops": dict(counts),
                    "total": sum(counts.values()),
                    **gauges,
                    "latency": settings["latency"],
                    "hung": settings["hung"],
                }
            reply(payload)
        os._exit(0)  # the harness has gone: stop serving (the kernel then drops the mount)

    threading.Thread(target=control, daemon=True).start()
    fuse.FUSE(
        LatencyFS(),
        mountpoint,
        foreground=True,
        nothreads=False,
        ro=True,
        attr_timeout=0,
        entry_timeout=0,
        negative_timeout=0,
        fsname=f"{FSNAME_PREFIX}{os.getpid()}",
        subtype="latencyfs",
    )


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this server when the harness that started it dies."""
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


if __name__ == "__main__":
    serve(os.path.abspath(sys.argv[1]), sys.argv[2])
