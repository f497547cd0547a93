"""Chat server under load (§8.10, exercise 8.15): delivery latency, losses, a stalled client.

N clients (default 200) send messages at R messages per second in total (default 200);
every message goes to every client. We measure, at each receiver other than the sender,
the time from send to receipt (p50/p99/max), and count deliveries that never arrived.

The load generator is a set of worker processes (plain `selectors` loops over non-blocking
sockets), each owning a slice of the clients: one process cannot read 200,000 lines a second
and also keep time, and a saturated generator measures itself, not the server. `--procs`
sets how many (default: one per 40,000 deliveries a second); each row reports the busiest
worker's CPU, which should stay well under one core (≤ ~60%). The server runs in its own
process too. Send times travel in the messages (CLOCK_MONOTONIC is shared by all processes).

Servers side by side, same load (`--servers`, default ours,book):
  * ours  -- `python -m gopl_trio.chat` (per-client `_outbox.Outbox`, one writing task);
  * plain -- the plain form of exercise 8.15, built here: a buffered memory channel and a
    writer task per client, `send_nowait` that drops when full, the writer sending all that
    waits in one write -- what `_outbox` is measured against;
  * book  -- a faithful trio port of the book's design (built here, `--serve-book`): the
    broadcaster hands each message to each client's unbuffered channel and waits;
  * floor -- `chat_floor.c`, compiled with the system's C compiler when asked for: the
    cheapest broadcaster we know (one epoll loop, one write per client per round of reads),
    so what this machine's kernel and loopback allow. Not a chat server to compare designs
    with; the line below which no Python server can go here.
Two scenarios: `normal`, and `stalled`: one extra client that never reads (small receive
buffer) joins first, and a flooder sends a burst to fill its buffers before the timed load.
`--rate` takes a list (`--rate 200,400,800`): one row per rate, to find where p99 passes
100 ms.

Two settings for finding what limits a row, both shown in it: `--loadgen c` replaces the
Python workers by `chat_loadgen.c` (same clients, schedule and measurement, compiled now),
which reads the same deliveries for a fraction of the CPU; `--pin` keeps the server alone
on the first CPU and the load workers on the others, so that neither waits for the other.

    python -m benchmarks.chat_load [--quick] [--clients N] [--rate R[,R...]] [--duration S]
                                   [--procs P] [--servers ours,plain,book,floor] [--json PATH]
                                   [--loadgen python|c] [--pin]
"""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import itertools
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import trio

from benchmarks._common import machine_busy_seconds, process_cpu_seconds, sigint_reaches_children
from gopl_trio._lines import LineReader
from gopl_trio._tcp import PEER_GONE

MAX_CLIENTS = 5000
DELIVERIES_PER_PROC = 80_000  # per second: what one worker reads at about a third of a core
# Bytes asked for per read. Not more: CPython allocates the whole buffer for every recv, and
# above glibc's mmap threshold (128 KiB) each read became an mmap/munmap pair -- most of what
# the old single-process generator spent its core on.
READ_SIZE = 64 * 1024
BUCKET_NS = 10_000  # latency histogram resolution: 10 µs

# --- the book's design, ported as is: the server that stalls --------------------------------


async def serve_book(listener: trio.SocketListener, queue: int = 0) -> None:
    """gopl.io/ch8/chat's shape: unbuffered client channels, a broadcaster that waits.

    With *queue* > 0, the plain form of exercise 8.15 instead ("plain"): each client's
    channel holds *queue* messages, the broadcaster drops what does not fit
    (`send_nowait`), and the writer sends all that is waiting in one write.
    """
    events_send, events_recv = trio.open_memory_channel[tuple[str, Any]](0)

    async def broadcaster() -> None:
        clients: set[trio.MemorySendChannel[str]] = set()
        async for kind, value in events_recv:
            if kind == "message":
                for cli in list(clients):
                    if queue:
                        with contextlib.suppress(trio.WouldBlock):
                            cli.send_nowait(value)
                    else:
                        await cli.send(value)  # blocks while this client's writer is blocked
            elif kind == "entering":
                clients.add(value)
            else:
                clients.discard(value)
                value.close()

    async def client_writer(conn: trio.SocketStream, ch: trio.MemoryReceiveChannel[str]) -> None:
        async for msg in ch:
            msgs = [msg]
            with contextlib.suppress(trio.WouldBlock):
                while queue and len(msgs) < queue:
                    msgs.append(ch.receive_nowait())
            # Go's clientWriter ignores write errors and keeps draining its channel.
            with contextlib.suppress(*PEER_GONE):
                await conn.send_all("".join(m + "\n" for m in msgs).encode())

    async def handle_conn(conn: trio.SocketStream) -> None:
        ch_send, ch_recv = trio.open_memory_channel[str](queue)
        async with conn, trio.open_nursery() as nursery:
            nursery.start_soon(client_writer, conn, ch_recv)
            lines = LineReader(conn)
            first = await lines.receive_line()
            who = first.text if first else "?"
            await ch_send.send("You are " + who)
            await events_send.send(("message", who + " has arrived"))
            await events_send.send(("entering", ch_send))
            await ch_send.send("Nobody else is here")  # the load generator's cue: it is in
            while (line := await lines.receive_line()) is not None:
                await events_send.send(("message", who + ": " + line.text))
            await events_send.send(("leaving", ch_send))
            await events_send.send(("message", who + " has left"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(broadcaster)
        while True:
            conn = await listener.accept()
            nursery.start_soon(handle_conn, conn)


def run_book_server(queue: int) -> None:
    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        print(f"book: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        await serve_book(listeners[0], queue)

    try:
        trio.run(main)
    except* KeyboardInterrupt:
        pass


# --- servers in their own processes ---------------------------------------------------------

SERVERS = {
    "ours": [sys.executable, "-m", "gopl_trio.chat", *["--host", "127.0.0.1", "--port", "0"]],
    "plain": [sys.executable, "-m", "benchmarks.chat_load", "--serve-book", "--queue", "256"],
    "book": [sys.executable, "-m", "benchmarks.chat_load", "--serve-book"],
}
if os.environ.get("CHAT_LOAD_SERVER"):  # profiling hook: any command printing "listening on"
    SERVERS["ours"] = os.environ["CHAT_LOAD_SERVER"].split()
HERE = os.path.dirname(os.path.abspath(__file__))
LOADGEN: list[str] = []  # --loadgen c: the compiled chat_loadgen.c


def compiled(name: str) -> list[str] | None:
    """benchmarks/NAME.c, compiled now; None, with a note, if there is no C compiler."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        print(f"# {name}: skipped, no C compiler (set CC)", file=sys.stderr)
        return None
    build = tempfile.mkdtemp(prefix=f"{name}.")
    atexit.register(shutil.rmtree, build, True)
    binary = os.path.join(build, name)
    subprocess.run([compiler, "-O2", "-o", binary, os.path.join(HERE, f"{name}.c")], check=True)
    return [binary]


# --pin: the server alone on the first CPU, this process and the load workers on the others,
# so that neither waits for the other's CPU (the column "pinned" says when a row was pinned).
PIN: dict[str, set[int]] = {}


def pin(who: str) -> None:
    """Keep the calling process (and the children it starts) on PIN[who]'s CPUs, if pinning."""
    if PIN:
        os.sched_setaffinity(0, PIN[who])


class Server:
    def __init__(self, variant: str) -> None:
        self.proc = subprocess.Popen(
            SERVERS[variant],
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: pin("server"),
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"{variant} server did not start: {line!r}")
        self.port = int(match.group(1))

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):  # peak resident set size
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        if err.strip():
            print(err, file=sys.stderr)


# --- the load generator: one worker process per slice of the clients ------------------------


class Conn:
    def __init__(self, index: int, sock: socket.socket) -> None:
        self.index = index
        self.name = b"c%d" % index
        self.sock = sock
        self.buf = b""


def connect(port: int, name: str, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    sock.sendall(name.encode() + b"\n")
    sock.setblocking(False)
    return sock


class Poller:
    """An epoll loop over the clients' sockets that hands over whole lines, many at a time.

    The worker's CPU per delivery is what limits how many clients one worker can simulate, so
    this avoids `selectors`' per-event objects and parses with one regex per read.
    """

    def __init__(self, conns: list[Conn], control: multiprocessing.connection.Connection) -> None:
        self.epoll = select.epoll()
        self.conns = {conn.sock.fileno(): conn for conn in conns}
        self.reads = 0
        for fd in self.conns:
            self.epoll.register(fd, select.EPOLLIN)
        self.epoll.register(control.fileno(), select.EPOLLIN)

    def pump(self, timeout: float, on_lines: Callable[[Conn, bytes, int], None]) -> None:
        """Wait up to *timeout* s; pass each socket's complete lines to *on_lines*."""
        for fd, _ in self.epoll.poll(timeout):
            conn = self.conns.get(fd)
            if conn is None:
                continue  # the control pipe: the caller looks at it
            try:
                data = conn.sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                self.epoll.unregister(fd)
                del self.conns[fd]
                continue
            now = time.monotonic_ns()
            self.reads += 1
            data = conn.buf + data
            end = data.rfind(b"\n") + 1
            conn.buf = data[end:]
            if end:
                on_lines(conn, data[:end], now)


TIMED = re.compile(rb"^(c\d+): m \d+ (\d+)$", re.MULTILINE)  # sender: m K SEND_TIME_NS
JOINED = re.compile(rb"^(?:Already here|Nobody else is here)", re.MULTILINE)
DROPPED = re.compile(rb"^\((\d+) messages dropped", re.MULTILINE)


def worker(
    control: multiprocessing.connection.Connection,
    port: int,
    own: range,
    clients: int,
    rate: float,
    duration: float,
    patience: float,
) -> None:
    """Connect the clients in *own*, report ready, wait for the start time, load, report."""
    pin("load")
    conns = [Conn(i, connect(port, f"c{i}")) for i in own]
    poller = Poller(conns, control)

    # A client is in the room once it has been told who else is (the broadcaster adds it then).
    waiting = set(own)

    def on_greeting(conn: Conn, lines: bytes, now: int) -> None:
        if JOINED.search(lines):
            waiting.discard(conn.index)

    give_up = time.monotonic() + 60.0
    while waiting:
        if time.monotonic() > give_up:
            control.send(("error", f"{len(waiting)} of {len(own)} clients never joined"))
            return
        poller.pump(0.05, on_greeting)
    control.send(("ready",))

    def ignore(conn: Conn, lines: bytes, now: int) -> None:
        pass

    while not control.poll():  # others join, a flood passes: drain until told to start
        poller.pump(0.05, ignore)
    _, start_ns = control.recv()

    total = int(rate * duration)
    mine = [k for k in range(total) if k % clients in own]
    latencies: collections.Counter[int] = collections.Counter()
    delivered = 0
    worst = 0
    notified = 0  # deliveries the server dropped and said so ("N messages dropped")

    def on_lines(conn: Conn, lines: bytes, now: int) -> None:
        nonlocal delivered, worst, notified
        timed = [
            now - int(sent) for sender, sent in TIMED.findall(lines) if sender != conn.name
        ]  # the sender's own echo does not count
        if timed:
            delivered += len(timed)
            worst = max(worst, *timed)
            latencies.update(lat // BUCKET_NS for lat in timed)
        if b"messages dropped" in lines:
            notified += sum(int(n) for n in DROPPED.findall(lines))

    while time.monotonic_ns() < start_ns:
        poller.pump(max(0.0, (start_ns - time.monotonic_ns()) / 1e9), ignore)
    cpu0, t0, reads0 = time.process_time(), time.monotonic(), poller.reads
    unsent = 0
    for k in mine:
        due = start_ns + int(k * 1e9 / rate)
        while (now := time.monotonic_ns()) < due:
            poller.pump((due - now) / 1e9, on_lines)
        sender = conns[k % clients - own.start].sock
        msg = b"m %d %d\n" % (k, time.monotonic_ns())
        try:
            if sender.send(msg) != len(msg):
                unsent += 1
        except BlockingIOError:  # the server is not reading from this client
            unsent += 1
    end_ns = start_ns + int(total * 1e9 / rate)
    while (now := time.monotonic_ns()) < end_ns:
        poller.pump((end_ns - now) / 1e9, on_lines)
    expected = total * len(own) - len(mine)
    # Wait for stragglers while they keep coming (at most 10 s); what never comes is lost.
    give_up = time.monotonic() + 10.0 * patience
    quiet_since, seen = time.monotonic(), delivered
    while delivered < expected and time.monotonic() < min(give_up, quiet_since + patience):
        poller.pump(0.05, on_lines)
        if delivered > seen:
            quiet_since, seen = time.monotonic(), delivered
    elapsed = time.monotonic() - t0
    cpu = (time.process_time() - cpu0) / elapsed
    reads = poller.reads - reads0
    control.send(
        ("done", delivered, expected, dict(latencies), worst, notified, unsent, cpu, reads)
    )
    control.recv()  # close only when told: others may still be waiting for stragglers
    for conn in conns:
        conn.sock.close()
    poller.epoll.close()


class Workers:
    """The worker processes for one scenario, each owning a contiguous slice of the clients."""

    def __init__(self, port: int, args: argparse.Namespace, rate: float, procs: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.pipes = []
        self.procs = []
        bounds = [args.clients * p // procs for p in range(procs + 1)]
        for lo, hi in itertools.pairwise(bounds):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=worker,
                args=(child, port, range(lo, hi), args.clients, rate, args.duration, args.patience),
                daemon=True,
            )
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    def gather(self) -> list[tuple[Any, ...]]:
        replies = []
        for pipe in self.pipes:
            reply = pipe.recv()
            if reply[0] == "error":
                raise RuntimeError(reply[1])
            replies.append(reply)
        return replies

    def send(self, message: tuple[Any, ...]) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def close(self) -> None:
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()


class CWorkers:
    """The same as `Workers`, with chat_loadgen.c's processes (`--loadgen c`)."""

    def __init__(self, port: int, args: argparse.Namespace, rate: float, procs: int) -> None:
        bounds = [args.clients * p // procs for p in range(procs + 1)]
        self.procs = [
            subprocess.Popen(
                [
                    LOADGEN[0],
                    *map(str, (port, lo, hi, args.clients, rate, args.duration, args.patience)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=lambda: pin("load"),
            )
            for lo, hi in itertools.pairwise(bounds)
        ]

    def gather(self) -> list[tuple[Any, ...]]:
        replies: list[tuple[Any, ...]] = []
        for proc in self.procs:
            assert proc.stdout is not None
            word, _, rest = proc.stdout.readline().strip().partition(" ")
            if word == "ready":
                replies.append(("ready",))
            elif word == "done":
                delivered, expected, worst, notified, unsent, cpu, reads = rest.split()
                hist: dict[int, int] = {}
                while (line := proc.stdout.readline().split())[0] == "h":
                    hist[int(line[1])] = int(line[2])
                counts = (int(delivered), int(expected), hist, int(worst), int(notified))
                replies.append(("done", *counts, int(unsent), float(cpu), int(reads)))
            else:
                raise RuntimeError(f"chat_loadgen: {word} {rest}")
        return replies

    def send(self, message: tuple[Any, ...]) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(" ".join(map(str, message)) + "\n")
            proc.stdin.flush()

    def close(self) -> None:
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def drain(sock: socket.socket, seconds: float) -> None:
    """Read and discard whatever *sock* receives for *seconds*."""
    sock.setblocking(True)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(1 << 18):
                return
        except TimeoutError:
            return


def run_load(
    server: Server, args: argparse.Namespace, rate: float, stalled: bool
) -> dict[str, Any]:
    port = server.port
    procs = args.procs or max(1, min(16, math.ceil(args.clients * rate / DELIVERIES_PER_PROC)))
    extra: list[socket.socket] = []
    if stalled:  # joins first, then never reads: its buffers fill, then its queue
        extra.append(connect(port, "stalled", rcvbuf=4096))
    workers = (CWorkers if args.loadgen == "c" else Workers)(port, args, rate, procs)
    try:
        workers.gather()  # everyone is in the room
        if stalled and args.flood_kb:
            flooder = connect(port, "flooder")
            flooder.setblocking(True)
            flooder.sendall((b"f" * 1000 + b"\n") * args.flood_kb)
            extra.append(flooder)
            drain(flooder, args.patience * (1.0 + args.flood_kb / 500))
        start_ns = time.monotonic_ns() + 200_000_000
        workers.send(("go", start_ns))
        # CPU over the timed load only (joining 1,000 clients is work of another kind).
        cpu0, busy0, t0 = server.cpu_seconds(), machine_busy_seconds(), time.monotonic()
        replies = workers.gather()
        elapsed = time.monotonic() - t0
        server_cpu = (server.cpu_seconds() - cpu0) / elapsed
        busy = (machine_busy_seconds() - busy0) / elapsed
        workers.send(("close",))
    finally:
        workers.close()

    # The stalled client finally reads: how much was kept for it, and what was it told?
    stalled_got, stalled_told = 0, 0
    if stalled:
        sock = extra[0]
        sock.setblocking(True)
        buf = b""
        while True:
            sock.settimeout(args.patience)
            try:
                data = sock.recv(1 << 18)
            except TimeoutError:
                break
            if not data:
                break
            lines = (buf + data).split(b"\n")
            buf = lines.pop()
            for line in lines:
                if line.startswith(b"(") and b" messages dropped" in line:
                    stalled_told += int(line[1:].split(b" ")[0])
                elif b": m " in line:
                    stalled_got += 1
    for sock in extra:
        sock.close()

    histogram: collections.Counter[int] = collections.Counter()
    delivered = expected = notified = unsent = worst = 0
    cpus = []
    reads = 0
    for _, got, want, hist, max_ns, told, not_sent, cpu, got_reads in replies:
        reads += got_reads
        delivered += got
        expected += want
        histogram.update(hist)
        worst = max(worst, max_ns)
        notified += told
        unsent += not_sent
        cpus.append(cpu)
    return {
        "messages": int(rate * args.duration),
        "deliveries": delivered,
        "lost": expected - delivered,
        "dropped_notified": notified,
        "unsent": unsent,
        "stalled_received": stalled_got,
        "stalled_told_dropped": stalled_told,
        "p50_ms": quantile_ms(histogram, 0.50),
        "p99_ms": quantile_ms(histogram, 0.99),
        "max_ms": worst / 1e6 if delivered else float("nan"),
        "deliveries_per_read": delivered / reads if reads else float("nan"),
        "loadgen_procs": procs,
        "loadgen_cpu_max": max(cpus),
        "loadgen_cpu_total": sum(cpus),
        "server_cpu": server_cpu,
        # CPU used by unrelated processes meanwhile (cores, 1.0 = one)
        "other_cpu": max(0.0, busy - server_cpu - sum(cpus)),
    }


def quantile_ms(histogram: collections.Counter[int], q: float) -> float:
    """The q-quantile of the latencies, in ms (to the histogram's 10 µs resolution)."""
    count = sum(histogram.values())
    if not count:
        return float("nan")
    rank = int(q * (count - 1))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen > rank:
            return (bucket + 0.5) * BUCKET_NS / 1e6
    raise AssertionError("unreachable")


def scenario(variant: str, name: str, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    server = Server(variant)
    try:
        result = run_load(server, args, rate, stalled=name == "stalled")
        rss = server.rss_mb()
    finally:
        server.stop()
    return {
        "server": variant,
        "scenario": name,
        "clients": args.clients,
        "rate": rate,
        "deliveries_per_s": rate * (args.clients - 1),
        **result,
        "server_peak_rss_mb": rss,
        "loadgen": args.loadgen,
        "pinned": bool(PIN),
    }


def ms(value: float) -> str:
    """Milliseconds for the table; a dash when nothing was delivered."""
    return "–" if math.isnan(value) else f"{value:.1f}"


def ratio(a: float, b: float) -> str:
    return "– (nothing delivered)" if math.isnan(a / b) else f"{a / b:.2f}x"


def none_if_nan(value: Any) -> Any:
    """JSON has no NaN: nothing delivered is null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        "| server | scenario | clients | msg/s | deliveries/s | delivered | lost (notified) "
        "| p50 ms | p99 ms | max ms | server CPU | server peak RSS "
        "| deliveries/read | load gen: procs × max CPU | other load | pinned |"
    )
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for r in rows:
        print(
            f"| {r['server']} | {r['scenario']} | {r['clients']} | {r['rate']:g} "
            f"| {r['deliveries_per_s']:,.0f} | {r['deliveries']} "
            f"| {r['lost']} ({r['dropped_notified']}) "
            f"| {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | {ms(r['max_ms'])} "
            f"| {r['server_cpu']:.0%} | {r['server_peak_rss_mb']:.0f} MB "
            f"| {r['deliveries_per_read']:.1f} "
            f"| {r['loadgen_procs']} × {r['loadgen_cpu_max']:.0%} ({r['loadgen']}) "
            f"| {r['other_cpu']:.0%} | {'server: CPU 0' if r['pinned'] else 'no'} |"
        )
    by = {(r["server"], r["scenario"], r["rate"]): r for r in rows}
    for r in rows:
        if r["scenario"] == "stalled":
            print(
                f"{r['server']} @ {r['rate']:g} msg/s: the stalled client, reading at last, got "
                f"{r['stalled_received']} timed messages and was told "
                f"{r['stalled_told_dropped']} messages were dropped (flood included)"
            )
    for (variant, name, rate), stalled in by.items():
        normal = by.get((variant, "normal", rate))
        if name == "stalled" and normal and normal["p99_ms"] > 0:
            print(
                f"{variant} @ {rate:g} msg/s: stalled/normal p99 = "
                f"{ratio(stalled['p99_ms'], normal['p99_ms'])}, lost {stalled['lost']} "
                f"of {stalled['messages'] * (stalled['clients'] - 1)}"
            )


def raise_descriptor_limit(clients: int) -> None:
    """The server (a child) and the workers inherit the limit; each client costs both one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = clients + 200
    if soft != resource.RLIM_INFINITY and soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            sys.exit(f"chat_load: {clients} clients need `ulimit -n {want}` (hard limit {hard})")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def positive_floats(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not all(value > 0 for value in values):
        raise argparse.ArgumentTypeError(f"rates must be positive: {text}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat_load", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds per scenario")
    parser.add_argument("--clients", type=int, default=200, help=f"2 to {MAX_CLIENTS}")
    parser.add_argument(
        "--rate", type=positive_floats, default=[200.0], help="messages per second in total"
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds of load")
    parser.add_argument("--procs", type=int, default=0, help="load worker processes (0: auto)")
    parser.add_argument("--flood-kb", type=int, default=None, help="burst before `stalled`")
    parser.add_argument(
        "--servers", default="ours,book", help="any of ours,plain,book,floor (default: ours,book)"
    )
    parser.add_argument("--scenarios", default="normal,stalled")
    parser.add_argument(
        "--loadgen",
        choices=["python", "c"],
        default="python",
        help="the load workers: Python (default) or chat_loadgen.c, a fraction of the CPU",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="server alone on CPU 0, load workers on the other CPUs (needs 2 or more)",
    )
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--serve-book", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--queue", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sigint_reaches_children()  # servers are stopped with SIGINT
    if args.serve_book:
        run_book_server(args.queue)
        return 0
    if not 2 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be between 2 and {MAX_CLIENTS}")
    if args.duration is None:
        args.duration = 2.0 if args.quick else 10.0
    if args.flood_kb is None:
        args.flood_kb = 256 if args.quick else 512
    args.patience = 0.5 if args.quick else 1.0
    raise_descriptor_limit(args.clients)
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs at least 2 CPUs")
        PIN.update(server={cpus[0]}, load=set(cpus[1:]))
        pin("load")  # this process too: it starts the workers and reads the clock

    variants = args.servers.split(",")
    if "floor" in variants:
        floor = compiled("chat_floor")
        if floor is None:
            variants = [v for v in variants if v != "floor"]
        else:
            SERVERS["floor"] = floor
    if args.loadgen == "c":
        loadgen = compiled("chat_loadgen")
        if loadgen is None:
            return 1
        LOADGEN[:] = loadgen
    rows = []
    for variant in variants:
        for rate in args.rate:
            for name in args.scenarios.split(","):
                rows.append(scenario(variant, name, rate, args))
                r = rows[-1]
                print(
                    f"# {variant}/{name} @ {rate:g} msg/s: p99 {ms(r['p99_ms'])} ms, "
                    f"lost {r['lost']}, server CPU {r['server_cpu']:.0%}, load generator "
                    f"{r['loadgen_procs']} × ≤{r['loadgen_cpu_max']:.0%}",
                    file=sys.stderr,
                )
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "benchmark": "chat_load",
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "duration_s": args.duration,
                    "flood_kb": args.flood_kb,
                    "rows": [{k: none_if_nan(v) for k, v in r.items()} for r in rows],
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
