"""Crawl throughput on a loopback site: crawl2, crawl3, mirror, a plain crawler and wget.

The site runs in its own process: the generated test site (`gopl_trio._testsite`, the
default and `--quick`), or with `--site DIR` a directory of static HTML served by
`gopl_trio._http_server` -- for a real site nobody here wrote, Debian's Python documentation:

    apt-get install python3-doc
    python -m benchmarks.crawl --site /usr/share/doc/python3/html

With `--site` the whole benchmark re-runs itself inside a private network namespace
(`unshare -n`, loopback only; needs root or user namespaces), so a crawler could not follow
an off-site link even if it tried. Every variant crawls from the same start URL, stays on its
host, and runs in its own process, so that its CPU time and peak memory are its own:

* crawl2, crawl3 (`-same-host`), `crawl2-stdlib`: crawl2 with the standard library's
  `html.parser` instead of selectolax, the parser the crawlers used before, and
  `crawl2-procs`: crawl2 parsing in a pool of worker processes, one per core;
* mirror: `gopl_trio.mirror` writing the site to a temporary directory;
* plain: a one-page-at-a-time crawler on the standard library alone (urllib, html.parser);
* wget: `wget -r -l inf -np` and `wget --mirror --convert-links -np`, with `--site` when wget
  is installed (the generated site has an endless page on purpose, which wget would download
  until the disk is full).

Columns: HTML pages fetched, all URLs requested (non-HTML links are refused after the headers
by the crawlers; wget downloads them), pages per second and its ratio to the plain crawler,
CPU ms per page in the crawler split into parsing (link extraction) and the rest (HTTP client,
trio, bookkeeping, and for mirror writing files), the server's CPU ms per page, and peak RSS.
The variants run interleaved `--repeat` times and the table shows medians. A second table
checks that every variant saw the same set of pages, and that mirror saved the same pages as
`wget --mirror` with every rewritten link resolving to a local file.

    python -m benchmarks.crawl [--quick] [--site DIR | --pages N] [--repeat R] [--json PATH]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import html.parser
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import trio

from benchmarks._common import process_cpu_seconds, write_json
from gopl_trio import crawl1, crawl2, crawl3, links, mirror
from gopl_trio._testsite import Site

NETNS_MARK = "GOPL_TRIO_BENCH_NETNS"
CRAWLERS = {
    "crawl1": crawl1,
    "crawl2": crawl2,
    "crawl3": crawl3,
    "crawl2-stdlib": crawl2,
    "crawl2-procs": crawl2,
}


# --- Variants, each run in a process of its own (`--worker`) ------------------------------------


class _StdlibHrefs(html.parser.HTMLParser):
    """The standard library's parser, finding `<a href>` values: what links used before."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def stdlib_hrefs(text: str) -> list[str]:
    parser = _StdlibHrefs()
    parser.feed(text)
    parser.close()
    return parser.hrefs


def run_crawler(name: str, url: str) -> dict[str, Any]:
    module = CRAWLERS[name]
    if name.endswith("-stdlib"):
        links.find_hrefs = stdlib_hrefs  # the crawler's only parser call goes through here
    stats = links.Stats()
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as pool:
        if name.endswith("-procs"):
            links.page_links = partial(page_links_in_process, pool)
            for _ in range(os.cpu_count() or 1):  # start the workers before the crawl
                pool.submit(links.parse_links, "", "http://h/").result()
        summary = trio.run(
            lambda: module.crawl_all(
                [url],
                same_host=True,
                out=io.StringIO(),
                err=io.StringIO(),
                cancel=trio.sleep_forever,
                stats=stats,
            )
        )
    parse_cpu = stats.parse_cpu
    if name.endswith("-procs"):  # the pool's processes have ended: their CPU time is known
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        parse_cpu = children.ru_utime + children.ru_stime
    return {"requested": summary.crawled, "pages": stats.pages, "parse_cpu": parse_cpu}


async def page_links_in_process(
    pool: concurrent.futures.ProcessPoolExecutor, page: links.Page, stats: links.Stats | None
) -> list[str]:
    """links.page_links, parsing in a pool of worker processes (one per core)."""
    future = pool.submit(links.parse_links, links.decode(page), page.url)
    done = trio.Event()
    token = trio.lowlevel.current_trio_token()
    future.add_done_callback(lambda _: token.run_sync_soon(done.set))
    await done.wait()
    if stats is not None:
        stats.pages.append(page.url)
    return future.result()


def run_mirror(url: str, directory: str) -> dict[str, Any]:
    stats = links.Stats()
    summary = trio.run(
        lambda: mirror.mirror(
            url,
            directory,
            out=io.StringIO(),
            err=io.StringIO(),
            cancel=trio.sleep_forever,
            stats=stats,
        )
    )
    return {"requested": summary.crawled, "pages": stats.pages, "parse_cpu": stats.parse_cpu}


def run_plain(url: str) -> dict[str, Any]:
    """Crawl one page at a time with the standard library only, staying on *url*'s host."""
    host = urllib.parse.urlsplit(url).netloc
    seen = {url}
    worklist = [url]
    pages: list[str] = []
    parse_cpu = 0.0
    requested = 0
    while worklist:
        page = worklist.pop()
        requested += 1
        try:
            with urllib.request.urlopen(page, timeout=10) as resp:
                if resp.headers.get_content_type() != "text/html":
                    continue
                final = resp.geturl()
                body = resp.read(links.MAX_BODY + 1)  # the generated site has an endless page
                if len(body) > links.MAX_BODY:
                    continue
                text = body.decode(resp.headers.get_content_charset() or "utf-8", "replace")
        except (OSError, urllib.error.URLError, ValueError):
            continue
        pages.append(final)
        cpu = time.thread_time()
        for href in stdlib_hrefs(text):
            try:
                link = urllib.parse.urljoin(final, href.strip()).partition("#")[0]
                on_host = urllib.parse.urlsplit(link).netloc == host
            except ValueError:
                continue  # a malformed URL
            if link not in seen and on_host:
                seen.add(link)
                worklist.append(link)
        parse_cpu += time.thread_time() - cpu
    return {"requested": requested, "pages": pages, "parse_cpu": parse_cpu}


def worker(variant: str, url: str, directory: str) -> None:
    """Run one variant and print its result as JSON (the parent measures time and memory)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if variant == "plain":
        result = run_plain(url)
    elif variant == "mirror":
        result = run_mirror(url, directory)
    else:
        result = run_crawler(variant, url)
    result["seconds"] = time.perf_counter() - wall0
    result["cpu"] = time.process_time() - cpu0
    if variant.endswith("-procs"):
        result["cpu"] += result["parse_cpu"]  # the worker processes' CPU time
    print(json.dumps(result))


def run_variant(variant: str, url: str, workdir: str) -> dict[str, Any]:
    directory = os.path.join(workdir, variant)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    if variant.startswith("wget"):
        args = ["-r", "-l", "inf"] if variant == "wget" else ["--mirror", "--convert-links"]
        command = ["wget", "-q", "-np", "-nH", "-P", directory, *args, url]
    else:
        command = [sys.executable, "-m", "benchmarks.crawl", "--worker", variant, url, directory]
    wall0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - wall0
    if variant.startswith("wget"):
        files = [p for p in Path(directory).rglob("*") if p.is_file()]
        html = [p for p in files if p.suffix == ".html"]
        base = url.rsplit("/", 1)[0]
        result: dict[str, Any] = {
            "requested": len(files),
            "pages": [f"{base}/{p.relative_to(directory)}" for p in html],
            "parse_cpu": None,
            "seconds": wall,
            "cpu": usage.ru_utime + usage.ru_stime,
        }
    else:
        if proc.returncode != 0:
            raise SystemExit(f"crawl: variant {variant} failed with status {proc.returncode}")
        result = json.loads(output)
    result["variant"] = variant
    result["peak_mib"] = usage.ru_maxrss / 1024
    result["dir"] = directory
    return result


# --- Checks -------------------------------------------------------------------------------------


def page_set(pages: list[str]) -> set[str]:
    """Page URLs as paths, with a directory's URL and its index.html counted once."""
    paths = set()
    for page in pages:
        path = urllib.parse.urlsplit(page).path
        paths.add(path + "index.html" if path.endswith("/") else path)
    return paths


def broken_local_links(directory: str) -> tuple[int, int]:
    """(relative links in the mirrored pages, those whose file is missing)."""
    total = broken = 0
    for page in Path(directory).rglob("*.html"):
        text = page.read_text("utf-8", "replace")
        for href in links.find_hrefs(text):
            try:
                parts = urllib.parse.urlsplit(href)
            except ValueError:
                continue  # malformed on the original page too
            if parts.scheme or parts.netloc or not parts.path:
                continue  # absolute (not mirrored) or a link within the page
            total += 1
            target = page.parent / urllib.parse.unquote(parts.path)
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken += 1
    return total, broken


# --- Link extraction alone ----------------------------------------------------------------------


def lxml_hrefs(text: str) -> list[str]:
    import lxml.html  # type: ignore[import-untyped,unused-ignore]

    return [a.get("href") for a in lxml.html.fromstring(text).iter("a") if a.get("href")]


def resolve_uncached(hrefs: list[str], base: str) -> list[str]:
    """links.absolute_links without its per-page cache: one urljoin per href."""
    return [link for href in hrefs if (link := links._absolute(href.strip(), base)) is not None]


def corpus(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(base URL, text) of the pages whose parsing is timed: the site's, or generated ones."""
    if args.site:
        root = Path(args.site)
        pages = sorted(root.rglob("*.html"))
        return [(f"http://h/{p.relative_to(root)}", p.read_text("utf-8", "replace")) for p in pages]
    site = Site(pages=200)
    return [(f"http://h/p/{i}.html", site.page(i).decode()) for i in range(200)]


def bench_parsers(pages: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """CPU ms per page for each step of link extraction, and for sending it to a process."""

    def per_page(step: Callable[[str, str], object]) -> float:
        step(*pages[0])  # imports, caches
        start = time.process_time()
        for base, text in pages:
            step(base, text)
        return 1000 * (time.process_time() - start) / len(pages)

    hrefs = {base: links.find_hrefs(text) for base, text in pages}
    steps: list[tuple[str, Callable[[str, str], object]]] = [
        ("find hrefs: html.parser (stdlib)", lambda _, text: stdlib_hrefs(text)),
        ("find hrefs: selectolax (lexbor)", lambda _, text: links.find_hrefs(text)),
        ("find hrefs: lxml", lambda _, text: lxml_hrefs(text)),
        ("resolve: urljoin per href", lambda base, _: resolve_uncached(hrefs[base], base)),
        (
            "resolve: cached per page (links)",
            lambda base, _: links.absolute_links(hrefs[base], base),
        ),
        ("links.parse_links (lexbor + cache)", lambda base, text: links.parse_links(text, base)),
    ]
    rows: list[dict[str, Any]] = []
    for name, step in steps:
        try:
            rows.append({"step": name, "ms_per_page": per_page(step)})
        except ImportError:
            rows.append({"step": name, "ms_per_page": None})
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        pool.submit(links.parse_links, "", "http://h/").result()  # start the worker
        rows.append(
            {
                "step": "parse_links in a worker process: this process's share",
                "ms_per_page": per_page(lambda b, t: pool.submit(links.parse_links, t, b).result()),
            }
        )
    return rows


# --- The site server ------------------------------------------------------------------------


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    if args.site:
        command = ["-m", "gopl_trio._http_server", args.site]
    else:
        command = ["-m", "gopl_trio._testsite", "--pages", str(args.pages)]
    proc = subprocess.Popen(
        [sys.executable, *command], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise SystemExit(f"crawl: the site server did not start ({url!r})")
    return proc, url


def in_private_netns() -> bool:
    return os.environ.get(NETNS_MARK) == "1"


def reexec_in_netns(argv: list[str]) -> int:
    """Run this benchmark again inside `unshare -n` with only loopback up."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        raise SystemExit("crawl: --site needs unshare(1) and ip(8) to run in a private network")
    script = 'ip link set lo up && exec "$@"'
    command = [sys.executable, "-m", "benchmarks.crawl", *argv]
    env = {**os.environ, NETNS_MARK: "1"}
    return subprocess.call(["unshare", "-n", "sh", "-c", script, "sh", *command], env=env)


# --- Main ---------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker(*argv[1:4])
        return 0
    parser = argparse.ArgumentParser(prog="benchmarks.crawl", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small generated site, one round")
    parser.add_argument("--site", metavar="DIR", help="serve this directory of static HTML")
    parser.add_argument("--pages", type=int, default=3000, help="pages of the generated site")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--crawl1", action="store_true", help="also run the unbounded crawl1")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    if args.site and not in_private_netns():
        return reexec_in_netns(argv)
    if args.quick:
        args.pages, args.repeat = 300, 1
    variants = ["plain", "crawl2-stdlib", "crawl2", "crawl2-procs", "crawl3", "mirror"]
    if args.crawl1:
        variants.append("crawl1")
    if args.site and shutil.which("wget"):  # (the generated site has an endless page)
        variants += ["wget", "wget-mirror"]

    runs: list[dict[str, Any]] = []
    proc, base = start_server(args)
    start = f"{base}/index.html" if args.site and Path(args.site, "index.html").exists() else base
    start = start if start.endswith(".html") else start + "/"
    try:
        with tempfile.TemporaryDirectory(prefix="gopl-crawl-") as workdir:
            run_variant("crawl2", start, workdir)  # warm-up: the server's file cache, imports
            for _ in range(args.repeat):
                for variant in variants:  # interleaved, so drift in load hits all alike
                    srv0 = process_cpu_seconds(proc.pid)
                    run = run_variant(variant, start, workdir)
                    run["server_cpu"] = process_cpu_seconds(proc.pid) - srv0
                    runs.append(run)
            checks = check_runs(runs, variants)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    rows: list[dict[str, Any]] = []
    for variant in variants:
        mine = [r for r in runs if r["variant"] == variant]
        pages = len(mine[0]["pages"])

        def med(key: str, mine: list[dict[str, Any]] = mine) -> float:
            return float(statistics.median(r[key] for r in mine))

        seconds = med("seconds")
        parse = None if mine[0]["parse_cpu"] is None else med("parse_cpu")
        cpu = med("cpu")
        rows.append(
            {
                "variant": variant,
                "pages": pages,
                "requested": int(med("requested")),
                "seconds": seconds,
                "pages_per_s": pages / seconds,
                "parse_ms": None if parse is None else 1000 * parse / pages,
                "other_ms": 1000 * (cpu - (parse or 0)) / pages,
                "server_ms": 1000 * med("server_cpu") / pages,
                "peak_mib": med("peak_mib"),
            }
        )
    plain = next(r for r in rows if r["variant"] == "plain")["pages_per_s"]
    what = (
        f"{args.site} (served by gopl_trio._http_server)"
        if args.site
        else (f"the generated site ({args.pages} pages)")
    )
    print(f"Crawl of {what} from {start}, median of {args.repeat} run(s)")
    print(
        f"{'variant':14} {'pages':>6} {'URLs':>6} {'sec':>6} {'pages/s':>8} {'ratio':>6} "
        f"{'parse':>6} {'other':>6} {'server':>6} {'peak MiB':>8}"
    )
    for r in rows:
        r["ratio"] = r["pages_per_s"] / plain
        print(
            f"{r['variant']:14} {r['pages']:6} {r['requested']:6} {r['seconds']:6.2f} "
            f"{r['pages_per_s']:8.0f} {r['ratio']:6.2f} {fmt(r['parse_ms'], '6.2f'):>6} "
            f"{r['other_ms']:6.2f} {r['server_ms']:6.2f} {r['peak_mib']:8.0f}"
        )
    print("(ratio: pages/s against plain; parse, other, server: CPU ms per page)")
    print()
    for line in checks["lines"]:
        print(line)
    texts = corpus(args)[: 20 if args.quick else None]
    parser_rows = bench_parsers(texts)
    size = sum(len(text.encode()) for _, text in texts) / len(texts) / 1024
    print(f"\nLink extraction alone: CPU ms per page over {len(texts)} pages ({size:.0f} KiB avg)")
    for row in parser_rows:
        print(f"{row['step']:56} {fmt(row['ms_per_page'], '7.2f'):>7}")
    write_json(
        args.json,
        {
            "site": args.site,
            "start": start,
            "rows": rows,
            "checks": checks,
            "parsers": parser_rows,
        },
    )
    return 0 if checks["ok"] else 1


def check_runs(runs: list[dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    """Did every variant see the same pages; did mirror save what wget --mirror saves?"""
    reference = page_set(next(r for r in runs if r["variant"] == "plain")["pages"])
    lines = [f"pages the plain crawler found: {len(reference)}"]
    ok = True
    for variant in variants:
        for run in (r for r in runs if r["variant"] == variant):
            got = page_set(run["pages"])
            if got != reference:
                ok = ok and variant == "crawl1"  # crawl1 misses pages: the book's lesson
                lines.append(
                    f"{variant}: {len(got - reference)} pages more, {len(reference - got)} fewer"
                    f" (e.g. {sorted(got ^ reference)[:3]})"
                )
    mirrored = next(r for r in reversed(runs) if r["variant"] == "mirror")["dir"]
    saved = {str(p.relative_to(mirrored)) for p in Path(mirrored).rglob("*.html")}
    total, broken = broken_local_links(mirrored)
    lines.append(f"mirror: {len(saved)} pages saved, {total} local links, {broken} broken")
    ok = ok and broken == 0
    if "wget-mirror" in variants:
        wget_dir = next(r for r in reversed(runs) if r["variant"] == "wget-mirror")["dir"]
        theirs = {str(p.relative_to(wget_dir)) for p in Path(wget_dir).rglob("*.html")}
        lines.append(
            f"wget --mirror: {len(theirs)} pages; same set as mirror: {saved == theirs}"
            + ("" if saved == theirs else f" (differ: {sorted(saved ^ theirs)[:5]})")
        )
        ok = ok and saved == theirs
    lines.append("checks passed" if ok else "CHECKS FAILED (see above)")
    return {"ok": ok, "lines": lines}


if __name__ == "__main__":
    sys.exit(main())
