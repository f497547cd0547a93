"""Chat server under load (§8.10, exercise 8.15): delivery latency, losses, a stalled client.

N clients (default 200) send messages at R messages per second in total (default 200);
every message goes to every client. We measure, at each receiver other than the sender,
the time from send to receipt (p50/p99/max), and count deliveries that never arrived.
The load generator is this process, a plain `selectors` loop over non-blocking sockets;
each server runs in its own process, so the two never share an event loop or a core's time
slice beyond what the OS gives them.

Two servers side by side, same load:
  * ours  -- `python -m gopl_trio.chat`: bounded per-client queues, broadcaster never waits;
  * book  -- a faithful trio port of the book's design (built here, `--serve-book`): the
    broadcaster hands each message to each client's unbuffered channel and waits.
Two scenarios: `normal`, and `stalled`: one extra client that never reads (small receive
buffer) joins first, and a flooder sends a burst to fill its buffers before the timed load.

    python -m benchmarks.chat_load [--quick] [--clients N] [--rate R] [--duration S]
                                   [--only ours|book] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import trio

from gopl_trio import _net

# --- the book's design, ported as is: the server that stalls --------------------------------


async def serve_book(listener: trio.SocketListener) -> None:
    """gopl.io/ch8/chat's shape: unbuffered client channels, a broadcaster that waits."""
    events_send, events_recv = trio.open_memory_channel[tuple[str, Any]](0)

    async def broadcaster() -> None:
        clients: set[trio.MemorySendChannel[str]] = set()
        async for kind, value in events_recv:
            if kind == "message":
                for cli in list(clients):
                    await cli.send(value)  # blocks while this client's writer is blocked
            elif kind == "entering":
                clients.add(value)
            else:
                clients.discard(value)
                value.close()

    async def client_writer(conn: trio.SocketStream, ch: trio.MemoryReceiveChannel[str]) -> None:
        async for msg in ch:
            # Go's clientWriter ignores write errors and keeps draining its channel.
            with contextlib.suppress(*_net.PEER_GONE):
                await conn.send_all(msg.encode() + b"\n")

    async def handle_conn(conn: trio.SocketStream) -> None:
        ch_send, ch_recv = trio.open_memory_channel[str](0)
        async with conn, trio.open_nursery() as nursery:
            nursery.start_soon(client_writer, conn, ch_recv)
            lines = _net.LineReader(conn)
            first = await lines.receive_line()
            who = first.text if first else "?"
            await ch_send.send("You are " + who)
            await events_send.send(("message", who + " has arrived"))
            await events_send.send(("entering", ch_send))
            while (line := await lines.receive_line()) is not None:
                await events_send.send(("message", who + ": " + line.text))
            await events_send.send(("leaving", ch_send))
            await events_send.send(("message", who + " has left"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(broadcaster)
        while True:
            conn = await listener.accept()
            nursery.start_soon(handle_conn, conn)


def run_book_server() -> None:
    async def main() -> None:
        listener = await _net.open_listener("127.0.0.1", 0)
        print(f"book: listening on {_net.bound_address(listener)}", file=sys.stderr, flush=True)
        await serve_book(listener)

    try:
        trio.run(main)
    except* KeyboardInterrupt:
        pass


# --- servers in their own processes ---------------------------------------------------------

SERVERS = {
    "ours": [sys.executable, "-m", "gopl_trio.chat", *["--host", "127.0.0.1", "--port", "0"]],
    "book": [sys.executable, "-m", "benchmarks.chat_load", "--serve-book"],
}
if os.environ.get("CHAT_LOAD_SERVER"):  # profiling hook: any command printing "listening on"
    SERVERS["ours"] = os.environ["CHAT_LOAD_SERVER"].split()


class Server:
    def __init__(self, variant: str) -> None:
        self.proc = subprocess.Popen(SERVERS[variant], stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"{variant} server did not start: {line!r}")
        self.port = int(match.group(1))

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


# --- the load generator ---------------------------------------------------------------------


class Conn:
    def __init__(self, index: int, sock: socket.socket) -> None:
        self.index = index
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


def pump(sel: selectors.BaseSelector, timeout: float, on_line: Any) -> None:
    for key, _ in sel.select(timeout):
        conn: Conn = key.data
        try:
            data = conn.sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            data = b""
        if not data:
            sel.unregister(conn.sock)
            continue
        now = time.monotonic_ns()
        lines = (conn.buf + data).split(b"\n")
        conn.buf = lines.pop()
        for line in lines:
            on_line(conn.index, line, now)


def run_load(
    port: int,
    clients: int,
    rate: float,
    duration: float,
    stalled: bool,
    flood_kb: int,
    patience: float,
) -> dict[str, Any]:
    sel: selectors.BaseSelector = selectors.DefaultSelector()
    extra: list[socket.socket] = []
    if stalled:  # joins first, then never reads: its buffers fill, then its queue
        extra.append(connect(port, "stalled", rcvbuf=4096))
    conns = []
    for i in range(clients):
        conn = Conn(i, connect(port, f"c{i}"))
        conns.append(conn)
        sel.register(conn.sock, selectors.EVENT_READ, conn)

    def ignore(index: int, line: bytes, now: int) -> None:
        pass

    # Wait until every client is in the room: the last one sends probes until everybody,
    # itself included, has heard one (a message reaches only clients already arrived).
    heard: set[int] = set()

    def on_probe(index: int, line: bytes, now: int) -> None:
        if line.endswith(b": probe"):
            heard.add(index)

    give_up = time.monotonic() + 30.0
    while len(heard) < clients:
        if time.monotonic() > give_up:
            raise RuntimeError(f"only {len(heard)} of {clients} clients joined")
        conns[-1].sock.send(b"probe\n")
        probe_sent = time.monotonic()
        while len(heard) < clients and time.monotonic() < probe_sent + 0.2:
            pump(sel, 0.05, on_probe)
    settle = time.monotonic() + 0.2 * patience  # the remaining probes drain
    while time.monotonic() < settle:
        pump(sel, 0.05, ignore)

    if stalled and flood_kb:
        flooder = connect(port, "flooder")
        flooder.setblocking(True)
        line = b"f" * 1000 + b"\n"
        flooder.sendall(line * flood_kb)
        extra.append(flooder)
        deadline = time.monotonic() + patience * (1.0 + flood_kb / 500)
        while time.monotonic() < deadline:
            pump(sel, 0.05, ignore)

    total = int(rate * duration)
    counts = [0] * total
    latencies: list[int] = []
    marker = b"m"
    notified = [0]  # deliveries the server dropped and said so ("N messages dropped")

    def on_line(index: int, line: bytes, now: int) -> None:
        parts = line.split(b" ")
        if len(parts) == 4 and parts[1] == marker:
            k = int(parts[2])
            if k % clients != index:  # the sender's own echo does not count
                counts[k] += 1
                latencies.append(now - int(parts[3]))
        elif line.startswith(b"(") and b" messages dropped" in line:
            notified[0] += int(parts[0][1:])

    start = time.monotonic()
    next_k = 0
    unsent = 0
    while next_k < total:
        now = time.monotonic()
        due = min(total, int((now - start) * rate) + 1)
        while next_k < due:
            sender = conns[next_k % clients].sock
            msg = b"m %d %d\n" % (next_k, time.monotonic_ns())
            try:
                if sender.send(msg) != len(msg):
                    unsent += 1
            except BlockingIOError:  # the server is not reading from this client
                unsent += 1
            next_k += 1
        pump(sel, max(0.0, start + next_k / rate - time.monotonic()), on_line)
    expected = total * (clients - 1)
    # Wait for stragglers while they keep coming (at most 10 s); what never comes is lost.
    give_up = time.monotonic() + 10.0 * patience
    quiet_since, seen = time.monotonic(), len(latencies)
    while len(latencies) < expected and time.monotonic() < min(give_up, quiet_since + patience):
        pump(sel, 0.05, on_line)
        if len(latencies) > seen:
            quiet_since, seen = time.monotonic(), len(latencies)

    # The stalled client finally reads: how much was kept for it, and what was it told?
    stalled_got, stalled_told = 0, 0
    if stalled:
        tail = Conn(-1, extra[0])
        sel.register(tail.sock, selectors.EVENT_READ, tail)

        def on_stalled_line(index: int, line: bytes, now: int) -> None:
            nonlocal stalled_got, stalled_told
            if line.startswith(b"(") and b" messages dropped" in line:
                stalled_told += int(line[1:].split(b" ")[0])
            elif b": m " in line:
                stalled_got += 1

        for conn in conns:
            sel.unregister(conn.sock)
        last = time.monotonic()
        while time.monotonic() < last + patience:
            before = stalled_got + stalled_told
            pump(sel, 0.05, on_stalled_line)
            if stalled_got + stalled_told > before:
                last = time.monotonic()

    for conn in conns:
        conn.sock.close()
    for sock in extra:
        sock.close()
    sel.close()

    ms = sorted(lat / 1e6 for lat in latencies)
    return {
        "messages": total,
        "deliveries": len(latencies),
        "lost": expected - len(latencies),
        "dropped_notified": notified[0],
        "unsent": unsent,
        "stalled_received": stalled_got,
        "stalled_told_dropped": stalled_told,
        "p50_ms": statistics.median(ms) if ms else float("nan"),
        "p99_ms": ms[int(0.99 * (len(ms) - 1))] if ms else float("nan"),
        "max_ms": ms[-1] if ms else float("nan"),
    }


def machine_busy_seconds() -> float:
    """CPU-seconds all processes have used so far, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def scenario(variant: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    server = Server(variant)
    try:
        cpu0, t0 = server.cpu_seconds(), time.monotonic()
        own0 = time.process_time()
        busy0 = machine_busy_seconds()
        result = run_load(
            server.port,
            args.clients,
            args.rate,
            args.duration,
            stalled=name == "stalled",
            flood_kb=args.flood_kb,
            patience=0.5 if args.quick else 1.0,
        )
        elapsed = time.monotonic() - t0
        cpu = (server.cpu_seconds() - cpu0) / elapsed
        own = (time.process_time() - own0) / elapsed
        busy = (machine_busy_seconds() - busy0) / elapsed
        other = max(0.0, busy - cpu - own)
        rss = server.rss_mb()
    finally:
        server.stop()
    return {
        "server": variant,
        "scenario": name,
        "clients": args.clients,
        "rate": args.rate,
        **result,
        "server_cpu": cpu,
        "server_peak_rss_mb": rss,
        "loadgen_cpu": own,
        "other_cpu": other,  # CPU used by unrelated processes meanwhile (cores, 1.0 = one)
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
        "| server | scenario | clients | msg/s | delivered | lost (of which notified) "
        "| p50 ms | p99 ms | max ms | server CPU | server peak RSS | other load |"
    )
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for r in rows:
        print(
            f"| {r['server']} | {r['scenario']} | {r['clients']} | {r['rate']:g} "
            f"| {r['deliveries']} | {r['lost']} ({r['dropped_notified']}) "
            f"| {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | {ms(r['max_ms'])} "
            f"| {r['server_cpu']:.0%} | {r['server_peak_rss_mb']:.0f} MB "
            f"| {r['other_cpu']:.0%} |"
        )
    by = {(r["server"], r["scenario"]): r for r in rows}
    for r in rows:
        if r["scenario"] == "stalled":
            print(
                f"{r['server']}: the stalled client, reading at last, got {r['stalled_received']} "
                f"timed messages and was told {r['stalled_told_dropped']} messages were dropped "
                "(flood and probes included)"
            )
    for variant in ("ours", "book"):
        normal, stalled = by.get((variant, "normal")), by.get((variant, "stalled"))
        if normal and stalled and normal["p99_ms"] > 0:
            print(
                f"{variant}: stalled/normal p99 = {ratio(stalled['p99_ms'], normal['p99_ms'])}, "
                f"lost {stalled['lost']} of {stalled['messages'] * (stalled['clients'] - 1)}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat_load", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds per scenario")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second in total")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load")
    parser.add_argument("--flood-kb", type=int, default=None, help="burst before `stalled`")
    parser.add_argument("--only", choices=["ours", "book"], default=None)
    parser.add_argument("--scenarios", default="normal,stalled")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--serve-book", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_book:
        run_book_server()
        return 0
    if not 2 <= args.clients <= 1000:
        parser.error("--clients must be between 2 and 1000")
    if args.duration is None:
        args.duration = 2.0 if args.quick else 10.0
    if args.flood_kb is None:
        args.flood_kb = 256 if args.quick else 512

    rows = []
    for variant in [args.only] if args.only else ["ours", "book"]:
        for name in args.scenarios.split(","):
            rows.append(scenario(variant, name, args))
            print(
                f"# {variant}/{name}: p99 {ms(rows[-1]['p99_ms'])} ms, lost {rows[-1]['lost']}, "
                f"load generator CPU {rows[-1]['loadgen_cpu']:.0%}",
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
