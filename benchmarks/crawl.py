"""Crawl throughput: crawl2 (limiter) vs crawl3 (20 crawler tasks) over the loopback site.

The generated site (`gopl_trio._site`) runs in its own process so it does not share the
crawler's event loop; each crawl runs in this process in a fresh `trio.run`. For each run we
report URLs crawled per second, per-request latency (p50/p99 of successful fetches), and
where the CPU goes per page: parsing (thread CPU time around the link extraction), the rest
of the crawler's process (HTTP client, trio, bookkeeping) and the server process. A second
table times the link parser alone: the standard library's `html.parser` against selectolax and
lxml when they are importable (they are not dependencies; install them to compare).

    python -m benchmarks.crawl [--quick] [--pages N] [--repeat R] [--crawl1] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import trio

from gopl_trio import crawl1, crawl2, crawl3, links
from gopl_trio._site import Site


def server_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process *pid*, or None off Linux."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def run_crawl(module: ModuleType, base: str, server_pid: int) -> dict[str, Any]:
    stats = links.Stats()
    err = io.StringIO()
    srv0 = server_cpu(server_pid)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    summary = trio.run(
        lambda: module.crawl_all(
            [base + "/"], out=io.StringIO(), err=err, cancel=trio.sleep_forever, stats=stats
        )
    )
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    srv1 = server_cpu(server_pid)
    pages = max(summary.crawled, 1)
    timeouts = err.getvalue().count("timed out")
    return {
        "variant": module.__name__.rsplit(".", 1)[1],
        "urls": summary.crawled,
        "fetched": summary.fetched,
        "failed": summary.failed,
        "timeouts": timeouts,
        "seconds": wall,
        "urls_per_s": summary.crawled / wall,
        "p50_ms": 1000 * percentile(stats.latencies, 50),
        "p99_ms": 1000 * percentile(stats.latencies, 99),
        "client_cpu_ms_per_url": 1000 * cpu / pages,
        "parse_cpu_ms_per_url": 1000 * stats.parse_cpu / pages,
        "http_cpu_ms_per_url": 1000 * (cpu - stats.parse_cpu) / pages,
        "server_cpu_ms_per_url": (
            1000 * (srv1 - srv0) / pages if srv0 is not None and srv1 is not None else None
        ),
    }


# --- Parsers --------------------------------------------------------------------------------


def selectolax_hrefs(text: str) -> list[str]:
    from selectolax.lexbor import LexborHTMLParser  # type: ignore[import-not-found,unused-ignore]

    return [
        href
        for node in LexborHTMLParser(text).css("a[href]")
        if (href := node.attributes.get("href")) is not None
    ]


def lxml_hrefs(text: str) -> list[str]:
    import lxml.html  # type: ignore[import-untyped,unused-ignore]

    return [
        href for a in lxml.html.fromstring(text).iter("a") if (href := a.get("href")) is not None
    ]


# Each finds the raw hrefs; resolving them (links.absolute_links) is the same for all.
PARSERS: dict[str, Callable[[str], list[str]]] = {
    "html.parser (stdlib)": links.find_hrefs,
    "selectolax (lexbor)": selectolax_hrefs,
    "lxml.html": lxml_hrefs,
}


def bench_parsers(rounds: int) -> list[dict[str, Any]]:
    """CPU ms per page to find the hrefs, and to find and resolve them, for each parser."""
    site = Site(pages=200)
    small = [site.page(i).decode() for i in range(200)]  # ~3 KB, 8-16 links each
    big_links = "".join(f'<p><a href="/a/{i}?q={i}">item {i}</a> text</p>\n' for i in range(2000))
    big = Site(pages=2, filler=200_000).page(0).decode().replace("</ul>", big_links + "</ul>")
    corpora = {
        "site page (3 KB)": (small, rounds),
        "big page (300 KB, 2000 links)": ([big], rounds * 4),
    }
    base = "http://h/p/1.html"

    def per_page(fn: Callable[[str], object], texts: list[str], n: int) -> float:
        start = time.process_time()
        for _ in range(n):
            for text in texts:
                fn(text)
        return 1000 * (time.process_time() - start) / (n * len(texts))

    rows: list[dict[str, Any]] = []
    for corpus, (texts, n) in corpora.items():
        expected = links.parse_links(texts[0], base)
        stdlib_total = None
        for name, find in PARSERS.items():
            try:
                if links.absolute_links(find(texts[0]), base) != expected:
                    raise SystemExit(f"crawl: {name} finds different links")
            except ImportError:
                rows.append({"corpus": corpus, "parser": name, "hrefs_ms": None})
                continue
            hrefs_ms = per_page(find, texts, n)

            def find_and_resolve(text: str, find: Callable[[str], list[str]] = find) -> object:
                return links.absolute_links(find(text), base)

            total_ms = per_page(find_and_resolve, texts, n)
            stdlib_total = stdlib_total or total_ms
            rows.append(
                {
                    "corpus": corpus,
                    "parser": name,
                    "hrefs_ms": hrefs_ms,
                    "total_ms": total_ms,
                    "vs_stdlib": total_ms / stdlib_total,
                }
            )
    return rows


# --- Main -----------------------------------------------------------------------------------


def start_site(pages: int, slow_delay: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gopl_trio._site",
            "--pages",
            str(pages),
            "--slow-delay",
            str(slow_delay),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise SystemExit(f"crawl: the site server did not start ({url!r})")
    return proc, url


def fmt(value: object, width: int, spec: str = ".1f") -> str:
    if value is None:
        return "n/a".rjust(width)
    if isinstance(value, float):
        return format(value, spec).rjust(width)
    return str(value).rjust(width)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.crawl", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small site, one round: seconds")
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slow-delay", type=float, default=0.05)
    parser.add_argument("--crawl1", action="store_true", help="also run the unbounded crawl1")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    if args.quick:
        args.pages, args.repeat = 300, 1

    variants = [crawl2, crawl3]
    runs: list[dict[str, Any]] = []
    proc, base = start_site(args.pages, args.slow_delay)
    try:
        run_crawl(crawl2, base, proc.pid)  # warm-up: imports, first connections
        for _ in range(args.repeat):
            for module in variants:  # interleaved, so drift in machine load hits both
                runs.append(run_crawl(module, base, proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if args.crawl1:
        # A fresh server: crawl1 leaves thousands of abandoned connections in the server's
        # queue, which would slow down whatever ran next.
        variants.append(crawl1)
        for _ in range(args.repeat):
            proc, base = start_site(args.pages, args.slow_delay)
            try:
                runs.append(run_crawl(crawl1, base, proc.pid))
            finally:
                proc.terminate()
                proc.wait(timeout=10)

    keys = [k for k in runs[0] if k != "variant"]
    medians: dict[str, dict[str, Any]] = {}
    for module in variants:
        name = module.__name__.rsplit(".", 1)[1]
        mine = [r for r in runs if r["variant"] == name]
        medians[name] = {
            k: (statistics.median(r[k] for r in mine) if mine[0][k] is not None else None)
            for k in keys
        }
    ref = medians["crawl2"]["urls_per_s"]

    print(
        f"Crawl of the generated site ({args.pages} pages, slow pages {args.slow_delay} s), "
        f"median of {args.repeat} run(s); CPU columns are ms per URL"
    )
    print(
        f"{'variant':8} {'URLs':>6} {'fail':>5} {'t/o':>4} {'sec':>6} {'URL/s':>7} {'ratio':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'parse':>6} {'http+':>6} {'server':>7}"
    )
    for name, m in medians.items():
        print(
            f"{name:8} {fmt(int(m['urls']), 6)} {fmt(int(m['failed']), 5)} "
            f"{fmt(int(m['timeouts']), 4)} {fmt(m['seconds'], 6, '.2f')} "
            f"{fmt(m['urls_per_s'], 7, '.0f')} {fmt(m['urls_per_s'] / ref, 6, '.2f')} "
            f"{fmt(m['p50_ms'], 7, '.2f')} {fmt(m['p99_ms'], 7, '.2f')} "
            f"{fmt(m['parse_cpu_ms_per_url'], 6, '.3f')} {fmt(m['http_cpu_ms_per_url'], 6, '.3f')} "
            f"{fmt(m['server_cpu_ms_per_url'], 7, '.3f')}"
        )
    print("(parse: link extraction; http+: rest of the crawler process; server: site process)")

    parser_rows = bench_parsers(rounds=1 if args.quick else 5)
    print("\nLink extraction alone, CPU ms per page: finding the hrefs, then with resolving them")
    print(f"{'corpus':30} {'parser':21} {'hrefs':>7} {'+resolve':>8} {'vs stdlib':>9}")
    for row in parser_rows:
        if row["hrefs_ms"] is None:
            print(f"{row['corpus']:30} {row['parser']:21} {'(not installed)':>17}")
        else:
            print(
                f"{row['corpus']:30} {row['parser']:21} {row['hrefs_ms']:7.3f} "
                f"{row['total_ms']:8.3f} {row['vs_stdlib']:9.2f}"
            )

    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "pages": args.pages,
                    "repeat": args.repeat,
                    "slow_delay": args.slow_delay,
                    "runs": runs,
                    "medians": medians,
                    "parsers": parser_rows,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
