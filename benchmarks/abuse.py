"""The TCP servers under abuse (issue 12): what a hostile or broken client on loopback can do.

Each scenario starts a server as a subprocess on 127.0.0.1, abuses it from this process (a
trio program), and checks the outcome. Loopback only; every count and duration is bounded.

  * emfile        -- the server runs with RLIMIT_NOFILE lowered (256; --quick 128) and 1,000
                     clients (--quick 300) connect and stay. Pass: it stays up, logs the
                     condition at most once a second, and once the clients hang up a new
                     client is served (time to its first line: "recovered").
  * never-reading -- reverb3 only (reverb1/2 are the book's lessons): 200 clients (--quick 20)
                     with a 4 KiB receive buffer send 64 KiB lines of invalid UTF-8 (the
                     costliest echoes) and never read. Pass: ≤ 1 MiB of server memory per
                     client (peak RSS over the baseline), ≤ 300 MB in all, and every one of
                     them dropped after --idle (descriptors back to the baseline).
  * ctrl-c        -- 1,000 clients (--quick 200): 20 never say anything (chat: never send a
                     name), 300 are stalled (4 KiB receive buffer, never read; reverb3's send
                     long lines, chat's queues are filled by traffic), the rest read. Once every
                     reader has been served (all are accepted), one more second, then SIGINT;
                     from that moment every client drains its socket. Pass: every client's last
                     bytes contain the goodbye, and the server exits, status 0, within 250 ms.
                     Except: a connection whose data the kernel dropped at the client's full
                     4 KiB receive buffer while the queues filled (Linux counts RcvPruned and
                     TCPRcvQDrop) is resent only by a retransmission timer, 200 ms at least and
                     backed off while the client did not read: so its socket cannot take the
                     goodbye within the 0.15 s grace. Such drops are counted (system-wide, over
                     the scenario) and shown; a miss beyond them fails.
  * control-bytes -- chat only: a client sends ESC[2J, a fake `\\r`-prefixed line, BEL and DEL.
                     Pass: another client receives no C0 control byte but tab, and no DEL.
  * churn         -- 5,000 connect/close cycles (--quick 500), half of them ended with a reset.
                     Pass: the server stays up and holds no more descriptors afterwards.

Every scenario also fails on a traceback or a non-zero exit status at the end. Columns: peak
RSS is the server's VmHWM; "others p99" is the round-trip time of a well-behaved client
connected throughout (reverb3: a shout until its first echo; chat: a message until another
client has it; clock2: how late each tick arrives); "fds" is the server's open descriptors
before the abuse and after it (after the clients have gone).

    python -m benchmarks.abuse [--quick] [--only SCENARIO[,SCENARIO]] [--repeat N]
                               [--servers clock2,reverb3,chat] [--json PATH]
                               [--server-path DIR]   # another checkout's servers (before/after)
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from benchmarks._common import percentile, print_table, sigint_reaches_children, write_json

SERVER_PATH = ""  # --server-path
GOODBYE = b"Server shutting down"
EXIT_WITHIN = 0.250  # seconds from SIGINT to the server's exit
LOOPBACK = "127.0.0.1"


@dataclass
class Sizes:
    emfile_limit: int
    emfile_clients: int
    emfile_hold: float
    never_reading: int
    ctrl_c_clients: int
    ctrl_c_silent: int
    ctrl_c_stalled: int
    churn: int


FULL = Sizes(256, 1000, 3.0, 200, 1000, 20, 300, 5000)
QUICK = Sizes(128, 300, 2.0, 20, 200, 5, 60, 500)


@dataclass
class Row:
    scenario: str
    server: str
    ok: bool = True
    peak_rss_mb: float = float("nan")
    others_p99_ms: float = float("nan")
    fds_before: int = -1
    fds_after: int = -1
    detail: list[str] = field(default_factory=list)

    def check(self, condition: bool, what: str) -> None:
        """Record *what*; a failed condition fails the row and is marked with "FAILED"."""
        self.detail.append(what if condition else f"FAILED {what}")
        self.ok = self.ok and condition


# --- the server under test --------------------------------------------------------------


class Server:
    """A server subprocess: its port, its stderr lines, /proc figures, a clean stop."""

    def __init__(self, proc: trio.Process, port: int, pid: int) -> None:
        self.proc = proc
        self.port = port
        self.pid = pid
        self.stderr: list[tuple[float, str]] = []

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def status(self, key: str) -> int:
        """A /proc/PID/status field in kB (VmRSS, VmHWM)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def alive(self) -> bool:
        return self.proc.returncode is None and self.proc.poll() is None

    async def stop(self) -> tuple[float, int]:
        """SIGINT; return the seconds until the process exited, and its status.

        The exit is timed by a thread that waits on the process's pidfd, not by this event
        loop, which is busy with a thousand clients at that moment and would see it late.
        """
        exited: list[float] = []
        pidfd = os.pidfd_open(self.pid)
        watching = threading.Event()
        watcher = threading.Thread(target=_time_exit, args=(pidfd, watching, exited), daemon=True)
        watcher.start()
        watching.wait(1)
        start = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        with trio.move_on_after(10):
            await self.proc.wait()
        watcher.join(timeout=1)
        os.close(pidfd)
        took = (exited[0] if exited else time.monotonic()) - start
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        return took, self.proc.returncode or 0


def _time_exit(pidfd: int, watching: threading.Event, exited: list[float]) -> None:
    """Append the moment the process behind *pidfd* exits (readable pidfd), within 10 s."""
    watching.set()
    if select.select([pidfd], [], [], 10)[0]:
        exited.append(time.monotonic())


@contextlib.asynccontextmanager
async def server(nursery: trio.Nursery, name: str, *args: str, nofile: int | None = None) -> Any:
    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    env = None
    if SERVER_PATH:  # another checkout's servers, for a before/after comparison
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([SERVER_PATH, *sys.path])}
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", f"gopl_trio.{name}", "--host", LOOPBACK, "--port", "0", *args],
        stderr=subprocess.PIPE,
        preexec_fn=limit,
        env=env,
        cwd=SERVER_PATH or None,
    )
    try:
        assert proc.stderr is not None
        lines = LineBuffer(proc.stderr)
        with trio.fail_after(30):
            first = await lines.next()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)$", first or "")
        if not match:
            raise RuntimeError(f"{name} did not start: {first}")
        srv = Server(proc, int(match.group(1)), proc.pid)

        async def collect() -> None:
            while (line := await lines.next()) is not None:
                srv.stderr.append((time.monotonic(), line))

        nursery.start_soon(collect)
        yield srv
    finally:
        if proc.returncode is None:
            proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()


class LineBuffer:
    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.buf = b""

    async def next(self) -> str | None:
        while b"\n" not in self.buf:
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")


def finish(row: Row, srv: Server, exit_took: float, status: int) -> None:
    tracebacks = sum("Traceback" in line for _, line in srv.stderr)
    row.check(status == 0 and tracebacks == 0, f"exit {status}, {tracebacks} tracebacks")


# --- clients ------------------------------------------------------------------------------


async def connect(port: int, rcvbuf: int | None = None) -> trio.SocketStream:
    sock = trio.socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    await sock.connect((LOOPBACK, port))
    return trio.SocketStream(sock)


async def read_line(stream: trio.abc.ReceiveStream, buf: bytearray) -> bytes:
    while (end := buf.find(b"\n")) < 0:
        data = await stream.receive_some(65536)
        if not data:
            raise EOFError
        buf += data
    line = bytes(buf[:end])
    del buf[: end + 1]
    return line


def reset(stream: trio.SocketStream) -> None:
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)


async def join_chat(port: int, name: str, rcvbuf: int | None = None) -> trio.SocketStream:
    conn = await connect(port, rcvbuf)
    buf = bytearray()
    await read_line(conn, buf)  # "Enter your name:"
    await conn.send_all(name.encode() + b"\n")
    return conn


async def wait_for_arrival(conn: trio.SocketStream, name: str) -> None:
    """Read *conn* until the broadcaster announces *name*: from then on it hears messages."""
    buf = bytearray()
    while not (await read_line(conn, buf)).endswith(name.encode() + b" has arrived"):
        pass


async def first_line(server: str, port: int) -> float:
    """Seconds until a new client hears from the server (reverb3 after one shout)."""
    start = time.monotonic()
    async with await connect(port) as conn:
        if server == "reverb3":
            await conn.send_all(b"hello\n")
        await read_line(conn, bytearray())
    return time.monotonic() - start


async def probe(server: str, port: int, samples: list[float], task_status: Any) -> None:
    """A well-behaved client connected throughout: round trips into *samples* (seconds)."""
    if server == "clock2":
        async with await connect(port) as conn:
            buf = bytearray()
            await read_line(conn, buf)
            last = time.monotonic()
            task_status.started()
            while True:
                await read_line(conn, buf)
                now = time.monotonic()
                samples.append(max(0.0, now - last - 1.0))
                last = now
    elif server == "reverb3":
        async with await connect(port) as conn:
            buf = bytearray()
            for i in range(10**9):
                start = time.monotonic()
                await conn.send_all(b"probe %d\n" % i)
                while not (await read_line(conn, buf)).endswith(b"PROBE %d" % i):
                    pass
                samples.append(time.monotonic() - start)
                if i == 0:  # answered: the server holds our descriptor when others count its
                    task_status.started()
                await trio.sleep(0.02)
    else:
        a = await join_chat(port, "probe_a")
        b = await join_chat(port, "probe_b")
        async with a, b:
            await wait_for_arrival(a, "probe_b")
            buf = bytearray()
            task_status.started()
            for i in range(10**9):
                start = time.monotonic()
                await a.send_all(b"probe %d\n" % i)
                while not (await read_line(b, buf)).endswith(b"probe %d" % i):
                    pass
                samples.append(time.monotonic() - start)
                await trio.sleep(0.02)


async def drain_forever(conn: trio.abc.ReceiveStream) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while await conn.receive_some(65536):
            pass


def server_args(name: str) -> list[str]:
    return ["--delay", "0.05"] if name == "reverb3" else []


def p99_ms(samples: list[float]) -> float:
    return percentile(samples, 99) * 1000 if samples else float("nan")


# --- scenarios ----------------------------------------------------------------------------


async def scenario_emfile(name: str, sizes: Sizes) -> Row:
    row = Row("emfile", name)
    async with trio.open_nursery() as nursery:
        async with server(nursery, name, *server_args(name), nofile=sizes.emfile_limit) as srv:
            samples: list[float] = []
            probe_scope = trio.CancelScope()
            await nursery.start(run_in_scope, probe_scope, probe, name, srv.port, samples)
            row.fds_before = srv.fds()
            clients = []
            with trio.fail_after(60):
                for _ in range(sizes.emfile_clients):
                    conn = await connect(srv.port)
                    clients.append(conn)
                    nursery.start_soon(drain_forever, conn)
            start = time.monotonic()
            await trio.sleep(sizes.emfile_hold)
            held = time.monotonic() - start
            logged = [t for t, line in srv.stderr if "accept:" in line and t >= start]
            in_all = sum("accept:" in line for _, line in srv.stderr)
            row.check(srv.alive(), f"up with {sizes.emfile_clients} clients")
            row.check(
                len(logged) <= held + 1,
                f"{len(logged)} log lines in {held:.1f} s ({in_all} in all)",
            )
            hung_up = time.monotonic()
            for conn in clients:
                await conn.aclose()
            recovered = float("nan")
            with trio.move_on_after(10):
                await first_line(name, srv.port)
                recovered = time.monotonic() - hung_up
            row.check(
                recovered == recovered,  # not NaN
                f"new client served {recovered * 1000:.0f} ms after the hang-ups",
            )
            await end_with_descriptors_back(row, srv, probe_scope, samples)
        nursery.cancel_scope.cancel()
    return row


async def run_in_scope(
    scope: trio.CancelScope,
    fn: Callable[..., Awaitable[None]],
    *args: Any,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    with scope, contextlib.suppress(trio.BrokenResourceError, EOFError):
        await fn(*args, task_status=task_status)


async def settle(srv: Server, fds: int) -> None:
    """Wait (5 s at most) until the server holds *fds* descriptors or fewer."""
    with trio.move_on_after(5):
        while srv.fds() > fds:  # noqa: ASYNC110 -- another process: /proc is all we can poll
            await trio.sleep(0.05)


async def end_with_descriptors_back(
    row: Row, srv: Server, probe_scope: trio.CancelScope, samples: list[float]
) -> None:
    """How a scenario that must give back every descriptor ends: check that it did, stop the
    probe, note peak memory and the others' latency, then stop the server."""
    await settle(srv, row.fds_before)
    row.fds_after = srv.fds()
    row.check(row.fds_after <= row.fds_before, "descriptors back")
    probe_scope.cancel()
    row.peak_rss_mb = srv.status("VmHWM") / 1024
    row.others_p99_ms = p99_ms(samples)
    finish(row, srv, *await srv.stop())


async def scenario_never_reading(name: str, sizes: Sizes) -> Row:
    row = Row("never-reading", name)
    idle = 4.0
    line = b"\xff" * 65535 + b"\n"  # invalid UTF-8: each byte echoes as a 3-byte U+FFFD
    async with trio.open_nursery() as nursery:
        async with server(nursery, name, "--idle", str(idle)) as srv:
            samples: list[float] = []
            probe_scope = trio.CancelScope()
            await nursery.start(run_in_scope, probe_scope, probe, name, srv.port, samples)
            row.fds_before = srv.fds()
            await trio.sleep(0.3)
            baseline = srv.status("VmRSS")
            dropped = 0
            all_dropped = trio.Event()

            async def hostile(conn: trio.SocketStream) -> None:
                nonlocal dropped
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    async with conn:
                        while True:
                            await conn.send_all(line)
                dropped += 1
                if dropped == sizes.never_reading:
                    all_dropped.set()

            start = time.monotonic()
            for _ in range(sizes.never_reading):
                nursery.start_soon(hostile, await connect(srv.port, rcvbuf=4096))
            peak = baseline
            while time.monotonic() - start < idle - 0.5:  # the plateau, before --idle drops them
                peak = max(peak, srv.status("VmRSS"))
                await trio.sleep(0.1)
            per_client = (peak - baseline) / sizes.never_reading
            row.check(per_client <= 1024, f"{per_client:.0f} KiB per client")
            row.check(peak / 1024 <= 300, f"{peak / 1024:.0f} MB with {sizes.never_reading}")
            with trio.move_on_after(idle + 10):
                await all_dropped.wait()
            row.check(dropped == sizes.never_reading, f"{dropped} dropped after --idle {idle:g}")
            await end_with_descriptors_back(row, srv, probe_scope, samples)
        nursery.cancel_scope.cancel()
    return row


async def scenario_ctrl_c(name: str, sizes: Sizes) -> Row:
    row = Row("ctrl-c", name)
    n, silent, stalled = sizes.ctrl_c_clients, sizes.ctrl_c_silent, sizes.ctrl_c_stalled
    draining = trio.Event()
    heard = ended = 0
    all_ended = trio.Event()
    drained_bytes = 0  # what the stalled clients found waiting when they started reading
    # Readers that hear something before the signal (reverb3's silent clients hear nothing):
    # once all have, the server has accepted every connection. On a busy machine that takes
    # longer than the second we wait, and Ctrl-C would reset the ones still in its backlog.
    to_serve = n - stalled - (silent if name == "reverb3" else 0)
    served = 0
    all_served = trio.Event()

    async def client(index: int, conn: trio.SocketStream, reads: bool) -> None:
        nonlocal heard, ended, drained_bytes, served
        tail = b""
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            async with conn:
                if not reads:
                    await draining.wait()
                while data := await conn.receive_some(65536):
                    if not reads:
                        drained_bytes += len(data)
                    elif not tail:
                        served += 1
                        if served == to_serve:
                            all_served.set()
                    tail = (tail + data)[-256:]
        heard += GOODBYE in tail
        ended += 1
        if ended == n:
            all_ended.set()

    drops = receive_drops()
    async with trio.open_nursery() as nursery:
        async with server(nursery, name, *server_args(name)) as srv:
            samples: list[float] = []
            probe_scope = trio.CancelScope()
            await nursery.start(run_in_scope, probe_scope, probe, name, srv.port, samples)
            row.fds_before = srv.fds()
            with trio.fail_after(60):
                for i in range(n):
                    is_stalled = i < stalled
                    is_silent = stalled <= i < stalled + silent
                    if name == "chat" and not is_silent:
                        conn = await join_chat(srv.port, f"c{i}", 4096 if is_stalled else None)
                    else:
                        conn = await connect(srv.port, 4096 if is_stalled else None)
                    if name == "reverb3" and is_stalled:  # echoes that cannot go out
                        nursery.start_soon(send_quietly, conn, b"\xff" * 65535 + b"\n", 8)
                    elif name == "reverb3" and not is_silent:
                        nursery.start_soon(send_quietly, conn, b"hello\n", 1)
                    nursery.start_soon(client, i, conn, not is_stalled)
            if name == "chat":  # traffic that fills the stalled clients' queues
                talker = await join_chat(srv.port, "talker")
                nursery.start_soon(drain_forever, talker)
                for i in range(400):
                    await talker.send_all(b"%d %s\n" % (i, b"x" * 1000))
                    await trio.sleep(0.002)
            with trio.fail_after(30):
                await all_served.wait()
            await trio.sleep(1.0)
            probe_scope.cancel()
            row.peak_rss_mb = srv.status("VmHWM") / 1024
            row.others_p99_ms = p99_ms(samples)
            draining.set()
            took, status = await srv.stop()
            with trio.move_on_after(5):
                await all_ended.wait()
            drops = receive_drops() - drops
            lost = f" ({drops} dropped at a client's receive buffer)" if drops else ""
            row.check(heard >= n - drops, f"goodbye {heard}/{n}{lost}")
            row.check(took <= EXIT_WITHIN, f"exit {took * 1000:.0f} ms after SIGINT")
            row.detail.append(
                f"{drained_bytes / max(stalled, 1) / 1024:.0f} KiB waiting per stalled client"
            )
            row.fds_after = 0
            finish(row, srv, took, status)
        nursery.cancel_scope.cancel()
    return row


def receive_drops() -> int:
    """Segments this machine's TCP receivers have dropped for want of buffer space so far
    (TcpExt RcvPruned + TCPRcvQDrop in /proc/net/netstat; 0 where that is missing)."""
    try:
        with open("/proc/net/netstat") as netstat:
            lines = netstat.read().splitlines()
    except OSError:
        return 0
    for names, values in itertools.pairwise(lines):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            counters = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return sum(int(counters.get(name, 0)) for name in ("RcvPruned", "TCPRcvQDrop"))
    return 0


async def send_quietly(conn: trio.SocketStream, data: bytes, times: int) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        for _ in range(times):
            await conn.send_all(data)


async def scenario_control_bytes(name: str, sizes: Sizes) -> Row:
    row = Row("control-bytes", name)
    async with trio.open_nursery() as nursery:
        async with server(nursery, name) as srv:
            row.fds_before = srv.fds()
            vandal = await join_chat(srv.port, "vandal")
            reader = await join_chat(srv.port, "reader")
            async with vandal, reader:
                await wait_for_arrival(vandal, "reader")
                await vandal.send_all(b"\x1b[2J\x1b[31mred\rboss: fake line\x07\x08\x7f\ttab\x00\n")
                await vandal.send_all(b"marker\n")
                got = b""
                with trio.move_on_after(5):
                    while b"marker" not in got:
                        got += await reader.receive_some(65536)
            line = next((ln for ln in got.split(b"\n") if b"red" in ln), b"")
            bad = sorted({c for c in line if (c < 32 and c != 9) or c == 127})
            row.check(bool(line) and not bad, f"relayed as {line[:60]!r}")
            await settle(srv, row.fds_before)
            row.fds_after = srv.fds()
            row.peak_rss_mb = srv.status("VmHWM") / 1024
            finish(row, srv, *await srv.stop())
        nursery.cancel_scope.cancel()
    return row


async def scenario_churn(name: str, sizes: Sizes) -> Row:
    row = Row("churn", name)
    async with trio.open_nursery() as nursery:
        async with server(nursery, name, *server_args(name)) as srv:
            samples: list[float] = []
            probe_scope = trio.CancelScope()
            await nursery.start(run_in_scope, probe_scope, probe, name, srv.port, samples)
            row.fds_before = srv.fds()
            done = 0

            async def churner(count: int) -> None:
                nonlocal done
                for i in range(count):
                    with contextlib.suppress(OSError, trio.BrokenResourceError):
                        conn = await connect(srv.port)
                        if name == "reverb3":
                            await conn.send_all(b"hi\n")
                        if i % 2:
                            reset(conn)  # an RST instead of a FIN
                        await conn.aclose()
                    done += 1

            start = time.monotonic()
            with trio.fail_after(120):
                async with trio.open_nursery() as churners:
                    for _ in range(4):
                        churners.start_soon(churner, sizes.churn // 4)
            rate = done / (time.monotonic() - start)
            row.check(srv.alive(), f"{done} cycles, {rate:.0f}/s")
            await end_with_descriptors_back(row, srv, probe_scope, samples)
        nursery.cancel_scope.cancel()
    return row


SCENARIOS: dict[str, tuple[Callable[[str, Sizes], Awaitable[Row]], tuple[str, ...]]] = {
    "emfile": (scenario_emfile, ("clock2", "reverb3", "chat")),
    "never-reading": (scenario_never_reading, ("reverb3",)),
    "ctrl-c": (scenario_ctrl_c, ("clock2", "reverb3", "chat")),
    "control-bytes": (scenario_control_bytes, ("chat",)),
    "churn": (scenario_churn, ("clock2", "reverb3", "chat")),
}


async def run_all(
    scenarios: list[str], servers: list[str], sizes: Sizes, repeat: int = 1
) -> list[Row]:
    rows = []
    for scenario in [s for s in scenarios for _ in range(repeat)]:
        run, applies_to = SCENARIOS[scenario]
        for name in applies_to:
            if name in servers:
                print(f"{scenario} {name} ...", file=sys.stderr, flush=True)
                try:
                    rows.append(await run(name, sizes))
                except Exception as exc:  # a harness failure is a failed row, not a crash
                    row = Row(scenario, name)
                    row.check(False, f"{type(exc).__name__}: {exc}")
                    rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="abuse", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (CI smoke test)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    parser.add_argument("--servers", default="clock2,reverb3,chat", help="servers to abuse")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--repeat", type=int, default=1, help="run each scenario this often")
    parser.add_argument(
        "--server-path", metavar="DIR", help="run the servers of another checkout (before/after)"
    )
    args = parser.parse_args(argv)
    sigint_reaches_children()  # the ctrl-c scenario
    global SERVER_PATH
    SERVER_PATH = os.path.abspath(args.server_path) if args.server_path else ""
    scenarios = args.only.split(",")
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario: {', '.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * max(sizes.emfile_clients, sizes.ctrl_c_clients) + 100
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))
    rows = trio.run(run_all, scenarios, args.servers.split(","), sizes, args.repeat)
    print_table(
        [
            "scenario",
            "server",
            "result",
            "peak RSS MB",
            "others p99 ms",
            "fds before/after",
            "detail",
        ],
        [
            (
                r.scenario,
                r.server,
                "pass" if r.ok else "FAIL",
                r.peak_rss_mb,
                r.others_p99_ms,
                f"{r.fds_before}/{r.fds_after}" if r.fds_after > 0 else f"{r.fds_before}/–",
                "; ".join(r.detail),
            )
            for r in rows
        ],
    )
    write_json(
        args.json, {"quick": args.quick, "sizes": vars(sizes), "rows": [vars(r) for r in rows]}
    )
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
