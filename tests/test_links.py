"""Tests for gopl_trio.links (fetching and link extraction) and the loopback test site."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from gopl_trio import _crawl, links
from gopl_trio._http_server import Request, Response, StaticFiles, serve_http
from gopl_trio._testsite import Site, closed_port_url, serve_site
from gopl_trio.links import FetchError


@pytest.fixture
def site() -> Site:
    return Site(pages=60)


@pytest.fixture
async def base(nursery: trio.Nursery, site: Site) -> str:
    url: str = await nursery.start(serve_site, site)
    return url


async def test_parse_links_resolves_and_filters() -> None:
    html = """
    <a href="b.html">rel</a> <A HREF="/top">upper-case tag</A> <a href="../up/c">dotdot</a>
    <a href="https://other.example/x?q=1&amp;r=2#frag">abs, entity, fragment</a>
    <a href="#only-a-fragment">same page</a> <a>no href</a> <a href="">empty</a>
    <a href="mailto:x@y">mail</a> <a href="javascript:void(0)">js</a>
    <a href="http://[::1">malformed</a> <a href="http://h:99999/">bad port</a>
    <img src="/img.png"> <link href="/style.css">
    """
    got = links.parse_links(html, "http://h/dir/page.html")
    assert got == [
        "http://h/dir/b.html",
        "http://h/top",
        "http://h/up/c",
        "https://other.example/x?q=1&r=2",
        "http://h/dir/page.html",
        "http://h/dir/page.html",
    ]


async def test_check_url() -> None:
    assert links.check_url("https://h/x") == "https://h/x"
    for bad, why in [
        ("ftp://h/", "unsupported scheme 'ftp'"),
        ("h/x", "not an absolute URL"),
        ("http:///x", "no host"),
        ("http://[::1", "malformed URL"),
        ("http://h:99999/", "malformed URL: Port out of range"),
        ("http://h/\udcff", "malformed URL: .* surrogates not allowed"),  # undecodable argv
    ]:
        with pytest.raises(FetchError, match=why):
            links.check_url(bad)


async def test_extract_page(base: str, site: Site) -> None:
    async with links.new_client() as client:
        got = await links.extract(client, f"{base}/p/5.html")
    # Children, parent (relative "1.html"), home; the #fragment link is this page again.
    assert got == [
        *(f"{base}/p/{c}.html" for c in site.children(5)),
        f"{base}/p/1.html",
        f"{base}/",
        f"{base}/p/5.html",
    ]


async def test_extract_resolves_against_final_url_after_redirect(base: str) -> None:
    async with links.new_client() as client:
        got = await links.extract(client, f"{base}/r/3")
    # /r/3 redirects to /landing/3/ whose link is the relative "next.html".
    assert got == [f"{base}/landing/3/next.html"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing/1.html", r"^getting {base}/missing/1.html: 404 Not Found$"),
        ("/error.html", r"^getting {base}/error.html: 500 Internal Server Error$"),
        ("/img/3.png", r"^{base}/img/3.png: not HTML \(image/png\)$"),
        ("/loop/a", r"^{base}/loop/a: too many redirects$"),
        ("/huge.html", r"^{base}/huge.html: body larger than 100000 bytes$"),
    ],
)
async def test_extract_errors(base: str, path: str, message: str) -> None:
    async with links.new_client() as client:
        with pytest.raises(FetchError, match=message.format(base=base)):
            await links.extract(client, base + path, max_bytes=100_000)


async def test_bad_hosts_and_charsets_are_one_error_or_tolerated(nursery: trio.Nursery) -> None:
    # httpx raises UnicodeError, not an httpx error, for a host it cannot IDNA-encode; and a
    # few codecs named by a charset parameter fail even with errors="replace".
    async def handler(request: Request) -> Response:
        if request.path == "/to-bad-host":
            return Response(302, b"", headers=[("Location", "http://xn--/")])
        return Response(200, b'<a href="x.html">x</a>', "text/html; charset=idna")

    base = await nursery.start(serve_http, handler)
    async with links.new_client() as client:
        for url in ["http://xn--/", f"{base}/to-bad-host"]:
            with pytest.raises(FetchError, match=r"^\S+: malformed URL: .*A-label"):
                await links.extract(client, url)
        assert await links.extract(client, f"{base}/idna") == [f"{base}/x.html"]


async def test_connection_refused() -> None:
    async with links.new_client() as client:
        url = closed_port_url()
        with pytest.raises(FetchError, match=rf"^{url}: .*Connection refused"):
            await links.extract(client, url)


async def test_dns_failure_is_one_line() -> None:
    # No test may use the network, so the resolver's failure is simulated.
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known\n", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as client:
        with pytest.raises(FetchError) as info:
            await links.extract(client, "http://nowhere.invalid/")
    assert str(info.value) == "http://nowhere.invalid/: [Errno -2] Name or service not known"


async def test_timeout_covers_whole_request(
    io_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    base = await nursery.start(serve_site, Site(pages=10, slow_delay=3600))
    async with links.new_client() as client:
        start = trio.current_time()
        with pytest.raises(FetchError, match=r"/slow/3.html: timed out after 10 s$"):
            await links.extract(client, f"{base}/slow/3.html")
        assert trio.current_time() - start == pytest.approx(10)


async def test_large_page_parsed_in_thread(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(pages=3, filler=links.THREAD_PARSE_BYTES + 1000)
    base = await nursery.start(serve_site, site)
    threads = []
    parse_links = links.parse_links

    def spy(text: str, base_url: str) -> list[str]:
        threads.append(threading.get_ident())
        return parse_links(text, base_url)

    monkeypatch.setattr(links, "parse_links", spy)
    stats = links.Stats()
    async with links.new_client() as client:
        big = await links.extract(client, f"{base}/", stats=stats)
        small = await links.extract(client, f"{base}/landing/1/", stats=stats)
    assert f"{base}/p/1.html" in big and small == [f"{base}/landing/1/next.html"]
    # The big page in a worker thread, the small one in the event loop's; both counted.
    assert threads[0] != threading.get_ident() and threads[1] == threading.get_ident()
    assert stats.pages == [f"{base}/", f"{base}/landing/1/"] and stats.parse_cpu > 0


async def test_fetch_returns_body_and_final_url(base: str) -> None:
    async with links.new_client() as client:
        page = await links.fetch(client, f"{base}/r/7")
    assert page.url == f"{base}/landing/7/"
    assert (page.status, page.reason) == (200, "OK")
    assert page.body == b'<p><a href="next.html">next</a></p>'


async def test_charset_from_content_type() -> None:
    assert links._charset("text/html; charset=ISO-8859-1") == "ISO-8859-1"
    assert links._charset('text/html; charset="utf-8"') == "utf-8"
    assert links._charset("text/html; charset=bogus-42") == "utf-8"
    assert links._charset("text/html") == "utf-8"


async def test_run_until_cancelled_interrupts_work() -> None:
    pressed = trio.Event()
    reached = trio.Event()

    async def work() -> None:
        reached.set()
        await trio.sleep_forever()

    async def press() -> None:
        await reached.wait()
        pressed.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(press)
        assert await _crawl.run_until_cancelled(work, pressed.wait) is True


async def test_run_until_cancelled_returns_when_work_done() -> None:
    async def work() -> None:
        await trio.lowlevel.checkpoint()

    assert await _crawl.run_until_cancelled(work, trio.sleep_forever) is False


async def test_site_reachable_matches_its_pages() -> None:
    site = Site(pages=30)
    assert site.reachable(0) == {"/"}
    depth1 = site.reachable(1)
    assert {"/p/1.html", "/p/4.html", "/loop/a", "/huge.html", site.refused_url} <= depth1
    assert "/p/5.html" not in depth1
    everything = site.reachable()
    assert {f"/p/{i}.html" for i in range(1, 30)} <= everything
    assert "/landing/3/next.html" in everything and "/p/0.html" in everything


async def test_body_bound_is_exact(base: str, site: Site) -> None:
    size = len(site.page(5))
    async with links.new_client() as client:
        page = await links.fetch(client, f"{base}/p/5.html", max_bytes=size)
        assert page.body == site.page(5)
        with pytest.raises(FetchError, match=f"body larger than {size - 1} bytes"):
            await links.fetch(client, f"{base}/p/5.html", max_bytes=size - 1)


async def test_site_server_pipelining_head_and_hangup(base: str, site: Site) -> None:
    host, port = base.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(
            b"HEAD /p/1.html HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /r/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"content-length: {len(site.page(1))}".encode() in head.lower()
    assert rest.startswith(b"HTTP/1.1 302 Found\r\n")  # no HEAD body in between
    assert b"location: /landing/3/" in rest.lower()

    # A client that hangs up while a slow page is being prepared cancels its handler.
    site.slow_delay = 3600
    stream = await trio.open_tcp_stream(host, int(port))
    await stream.send_all(b"GET /slow/3.html HTTP/1.1\r\nHost: x\r\n\r\n")
    await site.slow_started.wait()
    assert site.in_flight == 1
    await stream.aclose()
    with trio.fail_after(5):
        await site.slow_cancelled.wait()  # the server saw the FIN and cancelled the handler


# --- findlinks: python -m gopl_trio.links URL ... -------------------------------------------


async def test_cli_prints_the_links_of_each_page(base: str, site: Site) -> None:
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-m", "gopl_trio.links", f"{base}/p/5.html", f"{base}/missing/x"],
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.stdout.decode().splitlines() == [
        *(f"{base}/p/{c}.html" for c in site.children(5)),
        f"{base}/p/1.html",
        f"{base}/",
        f"{base}/p/5.html",
    ]
    assert result.stderr.decode() == f"links: getting {base}/missing/x: 404 Not Found\n"
    assert result.returncode == 1


async def test_cli_help_and_usage() -> None:
    for args, status in [(["--help"], 0), ([], 2)]:
        result = await trio.run_process(
            [sys.executable, "-m", "gopl_trio.links", *args],
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert result.returncode == status
        assert (
            b"usage: links [-h] [-timeout TIMEOUT] URL [URL ...]" in result.stdout + result.stderr
        )


# --- The static file server (real-site runs of the crawlers and the benchmark) ---------------


async def test_static_files(nursery: trio.Nursery, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text('<a href="sub/">sub</a>')
    (tmp_path / "sub" / "index.html").write_text('<a href="../a b.txt">a</a>')
    (tmp_path / "a b.txt").write_text("text")
    (tmp_path.parent / "secret.txt").write_text("outside")
    base = await nursery.start(serve_http, StaticFiles(str(tmp_path)))
    async with links.new_client() as client:
        assert await links.extract(client, f"{base}/") == [f"{base}/sub/"]
        # A directory without its slash redirects, so relative links resolve as in a browser.
        assert await links.extract(client, f"{base}/sub") == [f"{base}/a b.txt"]
        page = await links.fetch(client, f"{base}/a%20b.txt")
        assert (page.body, page.content_type) == (b"text", "text/plain; charset=utf-8")
        for path in ["/missing.html", "/..%2Fsecret.txt", "/%2e%2e/secret.txt", "/sub/%2F"]:
            with pytest.raises(FetchError, match="404 Not Found"):
                await links.fetch(client, base + path)
        response = await client.post(f"{base}/")
        assert response.status_code == 405
