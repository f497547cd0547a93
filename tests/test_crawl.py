"""Tests for the crawlers crawl1-3 (§8.6, exercises 8.6 and 8.10) over a loopback site."""

from __future__ import annotations

import io
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncGenerator
from types import ModuleType

import pytest
import trio
import trio.testing
from procs import read_all, running

from gopl_trio import crawl1, crawl2, crawl3
from gopl_trio._crawl import Summary
from gopl_trio._http_server import Request, Response, serve_http
from gopl_trio._testsite import Site, serve_site

CRAWLERS = [crawl1, crawl2, crawl3]
ids = [m.__name__.rsplit(".", 1)[1] for m in CRAWLERS]


async def crawl(
    module: ModuleType, urls: list[str], **kwargs: object
) -> tuple[Summary, list[str], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    kwargs.setdefault("cancel", trio.sleep_forever)  # never read the real stdin in-process
    summary = await module.crawl_all(urls, out=out, err=err, **kwargs)
    return summary, out.getvalue().splitlines(), err.getvalue().splitlines()


def absolute(base: str, paths: set[str]) -> set[str]:
    return {p if p.startswith("http") else base + p for p in paths}


@pytest.mark.parametrize("module", CRAWLERS, ids=ids)
async def test_crawls_whole_site_once_and_terminates(
    module: ModuleType, nursery: trio.Nursery
) -> None:
    site = Site(pages=120)
    base = await nursery.start(serve_site, site)
    summary, out, err = await crawl(module, [base + "/"])

    # Every reachable URL printed exactly once, and nothing else: the program ended by itself
    # once the work ran out (the book's crawl1 and crawl3 never do).
    assert sorted(out) == sorted(absolute(base, site.reachable()))
    pages = [p for p in site.reachable() if p.startswith("/p/")]
    assert all(site.hits[p] == 1 for p in pages)

    # One error line per bad link; the crawl went on past every one of them.
    prog = module.__name__.rsplit(".", 1)[1]
    extras = [i for i in range(site.pages) if i % site.extras_every == 3]
    expected_errors = {
        f"{prog}: getting {base}/error.html: 500 Internal Server Error",
        f"{prog}: {base}/loop/a: too many redirects",
        f"{prog}: {base}/huge.html: body larger than 4194304 bytes",
    }
    for i in extras:
        expected_errors.add(f"{prog}: getting {base}/missing/{i}.html: 404 Not Found")
        expected_errors.add(f"{prog}: {base}/img/{i}.png: not HTML (image/png)")
    refused = [line for line in err if line.startswith(f"{prog}: {site.refused_url}: ")]
    assert len(refused) == 1 and "Connection refused" in refused[0]
    assert set(err) - set(refused) == expected_errors
    assert len(err) == len(expected_errors) + 1
    assert summary == Summary(
        crawled=len(out), fetched=len(out) - len(err), failed=len(err), interrupted=False
    )
    assert summary.exit_status() == 1


@pytest.mark.parametrize("module", CRAWLERS, ids=ids)
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
async def test_depth_limit(module: ModuleType, depth: int, nursery: trio.Nursery) -> None:
    site = Site(pages=120)
    base = await nursery.start(serve_site, site)
    _, out, _ = await crawl(module, [base + "/"], max_depth=depth)
    assert sorted(out) == sorted(absolute(base, site.reachable(depth)))
    # Links beyond the limit were not fetched either (redirect targets aside).
    reachable = site.reachable(depth)
    redirected = {f"/landing/{p[3:]}/" for p in reachable if p.startswith("/r/")}
    assert set(site.hits) <= reachable | redirected | {"/loop/b"}


@pytest.mark.parametrize(("module", "bound"), [(crawl1, None), (crawl2, 20), (crawl3, 20)], ids=ids)
async def test_requests_in_flight(
    module: ModuleType, bound: int | None, io_clock: trio.testing.MockClock
) -> None:
    # Every page takes a (virtual) second to serve, so concurrent requests pile up.
    site = Site(pages=400, fanout=10, page_delay=1.0)
    async with trio.open_nursery() as nursery:
        base = await nursery.start(serve_site, site)
        await crawl(module, [base + "/"], max_depth=2)
        nursery.cancel_scope.cancel()
    if bound is None:
        assert site.max_in_flight > 50  # unbounded: all of a level at once
    else:
        assert 10 <= site.max_in_flight <= bound


@pytest.mark.parametrize("module", CRAWLERS, ids=ids)
async def test_timeout_and_cancel(module: ModuleType, io_clock: trio.testing.MockClock) -> None:
    site = Site(pages=20, slow_delay=3600)
    async with trio.open_nursery() as nursery:
        base = await nursery.start(serve_site, site)

        # A slow page times out after the per-request limit; the crawl finishes.
        summary, _, err = await crawl(module, [f"{base}/slow/3.html", f"{base}/p/1.html"])
        assert f"{base}/slow/3.html: timed out after 10 s" in "\n".join(err)
        assert summary.fetched >= 1 and not summary.interrupted

        # Exercise 8.10: the cancel source fires while a slow page is in flight. Every
        # request stops at once and the crawler returns with a summary.
        site.slow_started = trio.Event()
        start = trio.current_time()
        summary, out, err = await crawl(
            module, [f"{base}/slow/3.html"], cancel=site.slow_started.wait, time_limit=100
        )
        assert trio.current_time() - start < 1
        assert summary == Summary(crawled=1, fetched=0, failed=0, interrupted=True)
        assert out == [f"{base}/slow/3.html"] and err == []
        assert summary.exit_status() == 130
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("module", CRAWLERS, ids=ids)
async def test_bad_start_urls_are_reported_and_skipped(
    module: ModuleType, nursery: trio.Nursery
) -> None:
    base = await nursery.start(serve_site, Site(pages=10))
    prog = module.__name__.rsplit(".", 1)[1]
    summary, out, err = await crawl(
        module, ["ftp://h/x", "no-scheme", "http://[::1", base + "/p/1.html"], max_depth=0
    )
    assert out == [base + "/p/1.html"]
    assert err == [
        f"{prog}: ftp://h/x: unsupported scheme 'ftp'",
        f"{prog}: no-scheme: not an absolute URL",
        f"{prog}: http://[::1: malformed URL: Invalid IPv6 URL",
    ]
    assert (summary.fetched, summary.failed) == (1, 3)


# --- The command line, in a subprocess ------------------------------------------------------


def command(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"gopl_trio.{name}", *args]


@pytest.mark.parametrize("name", ids)
@pytest.mark.parametrize("stdin", ["devnull", "closed-pipe"])
async def test_cli_eof_on_stdin_does_not_cancel(
    name: str, stdin: str, nursery: trio.Nursery
) -> None:
    # /dev/null cannot be polled and is read directly; an empty pipe is readable at once
    # (end of file): two different paths through stdin.py, neither of them a key press.
    base = await nursery.start(serve_site, Site(pages=10))
    with trio.fail_after(30):
        result = await trio.run_process(
            command(name, "-depth", "1", base + "/p/1.html"),
            stdin=subprocess.DEVNULL if stdin == "devnull" else b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    lines = result.stdout.decode().splitlines()
    assert sorted(lines) == sorted(
        [f"{base}/p/{i}.html" for i in (1, 5, 6, 7, 8, 0)] + [base + "/"]
    )


@pytest.mark.parametrize("name", ids)
@pytest.mark.parametrize("how", ["enter", "sigint"])
async def test_cli_enter_or_ctrl_c_cancels(name: str, how: str, nursery: trio.Nursery) -> None:
    site = Site(pages=10, slow_delay=3600)
    base = await nursery.start(serve_site, site)
    async with running(
        command(name, f"{base}/slow/3.html"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdin is not None
        with trio.fail_after(30):
            await site.slow_started.wait()  # the slow request is in flight now
            if how == "enter":
                await proc.stdin.send_all(b"\n")
            else:
                proc.send_signal(signal.SIGINT)
            out = await read_all(proc.stdout)
            err = await read_all(proc.stderr)
            assert await proc.wait() == 130
    assert f"{base}/slow/3.html" in out.decode().splitlines()
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{name}: interrupted after ")
    assert "1 cancelled" in lines[0]


@pytest.mark.parametrize("name", ids)
@pytest.mark.parametrize(
    ("flag", "value", "what"),
    [("-depth", "x", "depth"), ("-depth", "-1", "depth"), ("-timeout", "-1", "seconds")],
)
async def test_cli_usage_error(name: str, flag: str, value: str, what: str) -> None:
    # A negative timeout would otherwise reach trio.move_on_after and end in a traceback.
    result = await trio.run_process(
        command(name, flag, value, "http://h/"),
        stdin=subprocess.DEVNULL,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 2
    assert f"invalid {what} value: '{value}'".encode() in result.stderr
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["crawl1", "crawl2"])
async def test_cli_unbounded_concurrency_runs_out_of_files(
    name: str, nursery: trio.Nursery
) -> None:
    # What the book shows for crawl1: with no bound on concurrent requests and a small
    # descriptor limit, connections fail with "too many open files". crawl2's bound of 20
    # stays under the same limit. (The site runs here, outside the limit.)
    site = Site(pages=200, fanout=10, page_delay=0.2)
    base = await nursery.start(serve_site, site)
    shell = f"ulimit -n 64 && exec {shlex.join(command(name, '-depth', '2', base + '/'))}"
    with trio.fail_after(60):
        result = await trio.run_process(
            ["sh", "-c", shell],
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert b"Traceback" not in result.stderr
    emfile = result.stderr.count(b": Too many open files\n")
    if name == "crawl1":
        assert result.returncode == 1 and emfile > 10
    else:
        assert emfile == 0
        assert site.max_in_flight >= 15


async def test_cli_stdout_closed_early_is_not_a_traceback(nursery: trio.Nursery) -> None:
    # `crawl2 URL | head -1`: the reader goes away; the crawler stops quietly.
    base = await nursery.start(serve_site, Site(pages=400))
    async with running(
        command("crawl2", base + "/"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        with trio.fail_after(30):
            first = await proc.stdout.receive_some(10)
            await proc.stdout.aclose()  # like `head` exiting
            err = await read_all(proc.stderr)
            assert await proc.wait() == 1
    assert first.startswith(b"http://")
    assert b"Traceback" not in err and b"Exception ignored" not in err


@pytest.mark.parametrize("module", CRAWLERS, ids=ids)
@pytest.mark.parametrize("slow", [{"/a": 5}, {"/a": 5, "/x": 8}], ids=["fetched", "in-flight"])
async def test_depth_counts_the_shortest_path(
    module: ModuleType, slow: dict[str, float], io_clock: trio.testing.MockClock
) -> None:
    # "/" -> "/a" -> "/x" -> "/y" is the short way to "/y" (3 links); "/" -> "/b" -> "/c" ->
    # "/x" is longer, and it is found first when "/a" is slow. With -depth 3, "/y" must still
    # be fetched, and "/z" beyond it must not. When "/x" is slow too, the shorter path turns
    # up while "/x" is still being fetched.
    graph = {
        "/": ["/a", "/b"],
        "/a": ["/x"],
        "/b": ["/c"],
        "/c": ["/x"],
        "/x": ["/y"],
        "/y": ["/z"],
        "/z": [],
    }

    async def handler(request: Request) -> Response:
        await trio.sleep(slow.get(request.path, 0))
        body = "".join(f'<a href="{href}">x</a>' for href in graph[request.path])
        return Response(200, body.encode(), "text/html")

    async with trio.open_nursery() as nursery:
        base = await nursery.start(serve_http, handler)
        _, out, err = await crawl(module, [base + "/"], max_depth=3)
        nursery.cancel_scope.cancel()
    assert err == []
    assert sorted(out) == sorted(base + p for p in ["/", "/a", "/b", "/c", "/x", "/y"])


# --- -same-host ------------------------------------------------------------------------------


@pytest.mark.parametrize("module", CRAWLERS, ids=ids)
async def test_same_host_follows_only_the_start_hosts(
    module: ModuleType, nursery: trio.Nursery
) -> None:
    # Two loopback "hosts" (two ports). The home page links to the other one directly and
    # through a redirect: with -same-host neither is requested; without it, both are.
    other = Site(pages=5)
    other_base = await nursery.start(serve_site, other)

    async def handler(request: Request) -> Response:
        if request.path == "/away":
            return Response(302, b"", headers=[("Location", f"{other_base}/p/1.html")])
        body = f'<a href="/away">r</a> <a href="{other_base}/p/2.html">o</a> <a href="/">h</a>'
        return Response(200, body.encode(), "text/html")

    base = await nursery.start(serve_http, handler)
    prog = module.__name__.rsplit(".", 1)[1]
    summary, out, err = await crawl(module, [base + "/"], same_host=True)
    assert sorted(out) == [base + "/", base + "/away"]
    assert err == [f"{prog}: {base}/away: redirected off the start hosts, to {other_base}/p/1.html"]
    assert not other.hits and summary.failed == 1

    _, out, _ = await crawl(module, [base + "/"], max_depth=1)
    assert f"{other_base}/p/2.html" in out and other.hits["/p/1.html"] == 1


@pytest.mark.parametrize("module", CRAWLERS, ids=ids)
async def test_same_host_on_the_generated_site(module: ModuleType, nursery: trio.Nursery) -> None:
    # Its only off-host link is the refused port: the crawl is the whole site but that URL.
    site = Site(pages=60)
    base = await nursery.start(serve_site, site)
    _, out, err = await crawl(module, [base + "/"], same_host=True)
    assert sorted(out) == sorted(absolute(base, site.reachable() - {site.refused_url}))
    assert not [line for line in err if site.refused_url in line]


@pytest.mark.parametrize("name", ids)
async def test_cli_same_host_flag(name: str, nursery: trio.Nursery) -> None:
    site = Site(pages=10)
    base = await nursery.start(serve_site, site)
    with trio.fail_after(30):
        result = await trio.run_process(
            command(name, "-same-host", "-depth", "1", base + "/"),
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    lines = result.stdout.decode().splitlines()
    assert site.refused_url not in lines and base + "/p/1.html" in lines
    assert site.refused_url.encode() not in result.stderr
    assert result.returncode == 1  # the site's 500 and the like


# --- A big page keeps the event loop responsive ---------------------------------------------


def big_page(links: int) -> bytes:
    """A page about as big as the biggest of the Python docs (contents.html, 2.5 MB), with
    *links* distinct links."""
    items = "".join(f'<a href="/d/{i}">{i}</a>\n' for i in range(links))
    return f"<!DOCTYPE html><html><body>\n{items}</body></html>\n".encode()


async def test_cli_enter_cancels_promptly_while_a_big_page_is_parsed(
    nursery: trio.Nursery,
) -> None:
    # Resolving 120,000 distinct links takes over a second of CPU, far longer than the bound
    # below, so a crawler that parsed on the event loop (or waited for its parse thread to
    # finish) would fail. The server tells us when the last byte of the page has been sent.
    body = big_page(120_000)
    sent = trio.Event()

    async def chunks() -> AsyncGenerator[bytes, None]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]
        sent.set()

    async def handler(request: Request) -> Response:
        if request.path == "/":
            return Response(200, chunks, "text/html", headers=[("Content-Length", str(len(body)))])
        await trio.sleep_forever()
        raise AssertionError

    base = await nursery.start(serve_http, handler)
    async with running(
        command("crawl2", base + "/"),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdin is not None and proc.stderr is not None
        with trio.fail_after(30):
            await sent.wait()
            # Not a synchronisation: this puts Enter inside the second-long parse rather
            # than in the few milliseconds before it, while the crawler reads the last bytes.
            await trio.sleep(0.05)
            pressed = trio.current_time()
            await proc.stdin.send_all(b"\n")
            err = await proc.stderr.receive_some()
            answered = trio.current_time() - pressed
            assert await proc.wait() == 130
    assert err.startswith(b"crawl2: interrupted after 1 URLs: 0 fetched, 0 failed, 1 cancelled")
    assert answered < 0.3, f"the summary came {answered:.3f} s after Enter"
