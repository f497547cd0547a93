"""Tests for gopl_trio.mirror (exercise 8.7) over the loopback test site."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import trio
from procs import read_all, running

from gopl_trio import links, mirror
from gopl_trio._crawl import Summary
from gopl_trio._http_server import Request, Response, serve_http
from gopl_trio._testsite import Site, serve_site
from gopl_trio.links import FetchError


async def run_mirror(url: str, directory: Path, **kwargs: object) -> tuple[Summary, list[str]]:
    err = io.StringIO()
    kwargs.setdefault("cancel", trio.sleep_forever)  # never read the real stdin in-process
    summary = await mirror.mirror(url, str(directory), out=io.StringIO(), err=err, **kwargs)
    return summary, err.getvalue().splitlines()


def saved_files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def expected_files(site: Site, depth: int | None = None) -> set[str]:
    """The files a mirror of *site* saves: what a same-host crawl fetches successfully."""
    files = set()
    for path in site.reachable(depth):
        if path.startswith("http") or path.startswith(("/missing/", "/loop/")):
            continue  # another host (the refused port), a 404, a redirect loop
        if path in ("/huge.html", "/error.html"):
            continue  # too big, 500
        if path.startswith("/r/"):
            path = f"/landing/{path[3:]}/"  # saved under the URL it redirects to
        files.add(path[1:] + "index.html" if path.endswith("/") else path[1:])
    return files


def local_links(directory: Path) -> list[tuple[Path, str]]:
    """(page, href) for every relative link in the mirrored HTML pages."""
    found = []
    for page in directory.rglob("*.html"):
        for href in links.find_hrefs(page.read_text()):
            try:
                parts = urllib.parse.urlsplit(href)
            except ValueError:
                continue  # the malformed link of the original page, kept as it was
            if not (parts.scheme or parts.netloc) and parts.path:
                found.append((page, href))
    return found


def resolves(page: Path, href: str) -> bool:
    return (page.parent / urllib.parse.unquote(href.partition("#")[0])).is_file()


async def test_mirrors_the_site_and_converts_its_links(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    site = Site(pages=60)
    base = await nursery.start(serve_site, site)
    summary, err = await run_mirror(base + "/", tmp_path)

    assert saved_files(tmp_path) == expected_files(site)
    assert (tmp_path / "p/5.html").read_bytes() != site.page(5)  # its links were converted
    assert (tmp_path / "img/3.png").read_bytes().startswith(b"\x89PNG")
    # Bad pages are one line each; the off-host link (the refused port) was never followed.
    assert all(line.startswith("mirror: ") for line in err)
    assert f"mirror: getting {base}/error.html: 500 Internal Server Error" in err
    assert not [line for line in err if site.refused_url in line]
    assert summary.failed == len(err) and summary.exit_status() == 1

    # Every converted link resolves to a local file; links to pages that could not be saved
    # point at the original site, as wget --convert-links does.
    relative = local_links(tmp_path)
    assert len(relative) > 200 and all(resolves(page, href) for page, href in relative)
    home = links.find_hrefs((tmp_path / "index.html").read_text())
    assert "p/1.html" in home and f"{base}/error.html" in home and site.refused_url in home
    page3 = links.find_hrefs((tmp_path / "p/3.html").read_text())
    assert "../landing/3/index.html" in page3  # /r/3, after its redirect
    assert f"{base}/missing/3.html" in page3 and "mailto:webmaster3@example.invalid" in page3
    assert "../p/3.html" not in page3 and "3.html" not in page3  # #section-3: this page
    css = (tmp_path / "p/3.html").read_text()
    assert f'href="{base}/style.css"' in css  # not saved: absolute, so it still loads


@pytest.mark.parametrize("depth", [0, 1, 2])
async def test_depth(depth: int, nursery: trio.Nursery, tmp_path: Path) -> None:
    site = Site(pages=60)
    base = await nursery.start(serve_site, site)
    await run_mirror(base + "/", tmp_path, max_depth=depth)
    assert saved_files(tmp_path) == expected_files(site, depth)
    assert all(resolves(page, href) for page, href in local_links(tmp_path))


async def test_rerun_overwrites_cleanly(nursery: trio.Nursery, tmp_path: Path) -> None:
    site = Site(pages=30)
    base = await nursery.start(serve_site, site)
    await run_mirror(base + "/", tmp_path)
    first = {name: (tmp_path / name).read_bytes() for name in saved_files(tmp_path)}
    (tmp_path / "p/1.html").write_text("stale")
    await run_mirror(base + "/", tmp_path)
    assert {name: (tmp_path / name).read_bytes() for name in saved_files(tmp_path)} == first


async def test_cancel_leaves_complete_files_only(nursery: trio.Nursery, tmp_path: Path) -> None:
    # The cancel comes when the crawl reaches a slow page, with other pages in flight.
    site = Site(pages=200, fanout=10, slow_delay=3600)
    base = await nursery.start(serve_site, site)
    summary, _ = await run_mirror(base + "/", tmp_path, cancel=site.slow_started.wait)
    assert summary.interrupted and summary.exit_status() == 130
    assert 0 < summary.fetched < summary.crawled
    files = saved_files(tmp_path)
    assert len(files) == summary.fetched and not [f for f in files if f.endswith(".part")]
    pages = {f"p/{i}.html": i for i in range(site.pages)} | {"index.html": 0}
    # At least index.html and the page whose link led to a slow page (3 or 10, the first two
    # with one): a page is written before its links are followed. How many more, scheduling
    # decides.
    assert "index.html" in files and files & {"p/3.html", "p/10.html"}
    for name in files & pages.keys():  # complete, and (the crawl was cut short) not converted
        assert (tmp_path / name).read_bytes() == site.page(pages[name])


async def test_paths_stay_inside_the_directory(nursery: trio.Nursery, tmp_path: Path) -> None:
    async def handler(request: Request) -> Response:
        body = b'<a href="/%2e%2e/escape.html">x</a> <a href="/q?a=1/2">q</a>'
        return Response(200, body, "text/html")

    base = await nursery.start(serve_http, handler)
    _, err = await run_mirror(base + "/", tmp_path / "m")
    assert err == [f"mirror: {base}/%2e%2e/escape.html: no safe local file name for this path"]
    assert saved_files(tmp_path) == {"m/index.html", "m/q?a=1%2F2"}
    assert 'href="q%3Fa%3D1%252F2"' in (tmp_path / "m/index.html").read_text()


def test_local_path() -> None:
    assert mirror.local_path("http://h") == "index.html"
    assert mirror.local_path("http://h/a/b/") == "a/b/index.html"
    assert mirror.local_path("http://h/a%20b.html") == "a b.html"
    for bad in ["http://h/a//b", "http://h/a/%2e%2e/b", "http://h/a%2Fb"]:
        with pytest.raises(FetchError, match="no safe local file name"):
            mirror.local_path(bad)


# --- The command line, and wget ---------------------------------------------------------------


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gopl_trio.mirror", *args]


async def test_cli(nursery: trio.Nursery, tmp_path: Path) -> None:
    site = Site(pages=20)
    base = await nursery.start(serve_site, site)
    with trio.fail_after(30):
        result = await trio.run_process(
            command("-depth", "1", base + "/", str(tmp_path / "m")),
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 1  # the site's bad links
    assert sorted(result.stdout.decode().splitlines()) == sorted(
        str(tmp_path / "m" / name) for name in expected_files(site, 1)
    )
    errors = result.stderr.decode().splitlines()
    assert errors and all(line.startswith("mirror: ") for line in errors)
    assert b"Traceback" not in result.stderr

    (tmp_path / "file").write_text("")
    result = await trio.run_process(
        command(base + "/", str(tmp_path / "file")),
        stdin=subprocess.DEVNULL,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.decode() == f"mirror: {tmp_path / 'file'}: cannot create: File exists\n"


async def test_cli_enter_cancels(nursery: trio.Nursery, tmp_path: Path) -> None:
    site = Site(pages=10, slow_delay=3600)
    base = await nursery.start(serve_site, site)
    async with running(
        command(f"{base}/slow/3.html", str(tmp_path)),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdin is not None
        with trio.fail_after(30):
            await site.slow_started.wait()
            await proc.stdin.send_all(b"\n")
            err = await read_all(proc.stderr)
            assert await proc.wait() == 130
    assert err.decode() == (
        "mirror: interrupted after 1 URLs: 0 fetched, 0 failed, 1 cancelled; links not converted\n"
    )
    assert saved_files(tmp_path) == set()


@pytest.mark.skipif(shutil.which("wget") is None, reason="wget is not installed")
async def test_same_pages_as_wget_mirror(nursery: trio.Nursery, tmp_path: Path) -> None:
    site = Site(pages=60, slow_delay=0.01)
    base = await nursery.start(serve_site, site)
    await run_mirror(base + "/", tmp_path / "ours")
    with trio.fail_after(60):
        await trio.run_process(
            # The endless page is left out: wget would fill the disk with it. Like mirror,
            # save a redirected page under the URL it redirects to (wget's default is the
            # URL that was linked).
            ["wget", "-q", "--mirror", "--convert-links", "-np", "-nH", "--trust-server-names",
             "--reject-regex", "/huge\\.html$", "-P", str(tmp_path / "wget"), base + "/"],
            check=False,
        )  # fmt: skip
    ours, theirs = saved_files(tmp_path / "ours"), saved_files(tmp_path / "wget")
    assert {f for f in ours if f.endswith(".html")} == {f for f in theirs if f.endswith(".html")}
    # wget also saves the images that pages show (<img src>); mirror only follows <a href>.
    assert ours <= theirs


# --- A real site: Debian's Python documentation, in a private network namespace ---------------

DOCS = Path("/usr/share/doc/python3/html")


def can_unshare() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(
    not (DOCS / "index.html").is_file(), reason="python3-doc is not installed (apt-get)"
)
@pytest.mark.skipif(not can_unshare(), reason="cannot make a network namespace (unshare -n)")
async def test_python_docs_in_a_private_network(tmp_path: Path) -> None:
    # Off-site links cannot be followed in here even by mistake: only loopback is up.
    python = sys.executable
    script = f"""
        set -e
        ip link set lo up
        mkfifo {tmp_path}/url
        {python} -m gopl_trio._http_server {DOCS} > {tmp_path}/url &
        server=$!
        read base < {tmp_path}/url
        echo "$base" > {tmp_path}/base
        set +e
        {python} -m gopl_trio.crawl3 -same-host "$base/index.html" \\
            > {tmp_path}/crawl3.out 2> {tmp_path}/crawl3.err < /dev/null
        echo $? > {tmp_path}/crawl3.status
        {python} -m gopl_trio.mirror "$base/index.html" {tmp_path}/m \\
            > /dev/null 2> {tmp_path}/mirror.err < /dev/null
        echo $? > {tmp_path}/mirror.status
        kill $server
    """
    with trio.fail_after(100):
        await trio.run_process(["unshare", "-n", "sh", "-c", script])
    base = (tmp_path / "base").read_text().strip()
    crawled = (tmp_path / "crawl3.out").read_text().splitlines()
    errors = (tmp_path / "crawl3.err").read_text().splitlines()
    assert int((tmp_path / "crawl3.status").read_text()) == (1 if errors else 0)
    assert len(crawled) > 500 and all(url.startswith(base + "/") for url in crawled)
    assert all(line.startswith("crawl3: ") for line in errors)

    # mirror saved the HTML pages crawl3 fetched, and every converted link resolves.
    failed = {line.split()[2].rstrip(":") for line in errors if line.startswith("crawl3: getting ")}
    pages = {url.removeprefix(base + "/") for url in crawled if url.endswith(".html")} - {
        url.removeprefix(base + "/") for url in failed
    }
    saved = {f for f in saved_files(tmp_path / "m") if f.endswith(".html")}
    assert saved == pages
    assert all(resolves(page, href) for page, href in local_links(tmp_path / "m"))
    assert int((tmp_path / "mirror.status").read_text()) == (1 if errors else 0)
