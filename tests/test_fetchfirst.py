"""Tests for gopl_trio.fetchfirst (exercise 8.11)."""

from __future__ import annotations

import io
import subprocess
import sys

import trio
import trio.testing

from gopl_trio import fetchfirst
from gopl_trio._testsite import Site, closed_port_url, serve_site


async def test_first_response_wins_and_others_are_cancelled(
    io_clock: trio.testing.MockClock,
) -> None:
    site = Site(pages=10, slow_delay=3600)
    async with trio.open_nursery() as nursery:
        base = await nursery.start(serve_site, site)
        err = io.StringIO()
        start = trio.current_time()
        winner = await fetchfirst.fetch_first(
            [f"{base}/slow/3.html", f"{base}/missing", f"{base}/p/2.html"], err=err
        )
        # The slow request did not hold us up: it was cancelled when the page arrived.
        assert trio.current_time() - start < 1
        assert site.slow_started.is_set()
        assert winner is not None
        assert winner.url == f"{base}/p/2.html"
        assert (winner.page.status, winner.page.body) == (200, site.page(2))
        # The 404 may or may not have been reported before the winner arrived.
        assert err.getvalue() in ("", f"fetchfirst: getting {base}/missing: 404 Not Found\n")
        await trio.testing.wait_all_tasks_blocked()
        assert site.in_flight == 0  # the slow handler saw its connection go away
        nursery.cancel_scope.cancel()


async def test_all_fail(nursery: trio.Nursery) -> None:
    base = await nursery.start(serve_site, Site(pages=10))
    err = io.StringIO()
    urls = [f"{base}/missing", "ftp://h/", closed_port_url(), f"{base}/error.html"]
    assert await fetchfirst.fetch_first(urls, err=err) is None
    lines = err.getvalue().splitlines()
    assert len(lines) == 4 and all(line.startswith("fetchfirst: ") for line in lines)


async def test_cli(nursery: trio.Nursery) -> None:
    site = Site(pages=10, slow_delay=3600)
    base = await nursery.start(serve_site, site)
    cmd = [sys.executable, "-m", "gopl_trio.fetchfirst"]
    with trio.fail_after(30):
        ok = await trio.run_process(
            [*cmd, f"{base}/slow/1.html", f"{base}/p/1.html"],
            capture_stdout=True,
            capture_stderr=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        bad = await trio.run_process(
            [*cmd, f"{base}/missing", closed_port_url()],
            capture_stdout=True,
            capture_stderr=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    assert ok.returncode == 0, ok.stderr
    fields = ok.stdout.decode().split()
    assert fields[1:] == [str(len(site.page(1))), f"{base}/p/1.html", "200", "OK"]
    assert fields[0].endswith("s")
    assert bad.returncode == 1
    assert bad.stdout == b""
    assert bad.stderr.decode().splitlines()[-1] == "fetchfirst: all 2 requests failed"
