"""Tests for gopl_trio.thumbnail (gopl.io/ch8/thumbnail, §8.5).

The makeThumbnails tests swap `image_file` for a fake that "works" for a set time on trio's
MockClock, so concurrency and cancellation are checked without threads; the tests that
really decode images use worker threads and the real clock.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import trio
import trio.testing
from PIL import Image

from gopl_trio import thumbnail
from gopl_trio.thumbnail import ThumbnailError, scale_file, thumbnail_name


def make_image(
    path: Path, size: tuple[int, int], mode: str = "RGB", fmt: str | None = None
) -> Path:
    Image.new(mode, size, "red" if mode == "RGB" else None).save(path, format=fmt)
    return path


def thumb_size(path: str | Path) -> tuple[int, int]:
    with Image.open(thumbnail_name(str(path))) as img:
        return img.size


class FakeImageFile:
    """Stands in for `thumbnail.image_file`: sleeps `seconds[name]` (default 1), then fails
    if the name is in `bad`, else reports success."""

    def __init__(
        self, seconds: dict[str, float] | None = None, bad: set[str] | None = None
    ) -> None:
        self.seconds = seconds or {}
        self.bad = bad or set()
        self.started: list[str] = []
        self.done: list[str] = []
        self.running = 0
        self.max_running = 0

    async def __call__(self, infile: str, limiter: trio.CapacityLimiter | None = None) -> str:
        self.started.append(infile)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await trio.sleep(self.seconds.get(infile, 1.0))
        finally:
            self.running -= 1
        if infile in self.bad:
            raise ThumbnailError(f"{infile}: not an image Pillow can read")
        self.done.append(infile)
        return thumbnail_name(infile)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeImageFile:
    f = FakeImageFile()
    monkeypatch.setattr(thumbnail, "image_file", f)
    return f


FILES = ["a.jpg", "b.jpg", "c.jpg"]


# ---- one image ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("infile", "outfile"),
    [("foo.jpg", "foo.thumb.jpg"), ("d/x.y.png", "d/x.y.thumb.png"), ("noext", "noext.thumb")],
)
def test_thumbnail_name(infile: str, outfile: str) -> None:
    assert thumbnail_name(infile) == outfile


def test_scale_file_shrinks_to_128_keeping_the_aspect(tmp_path: Path) -> None:
    wide = make_image(tmp_path / "wide.jpg", (640, 480))
    tall = make_image(tmp_path / "tall.png", (300, 600), mode="RGBA")
    assert scale_file(str(wide)) == str(tmp_path / "wide.thumb.jpg")
    assert thumb_size(wide) == (128, 96)
    scale_file(str(tall))
    with Image.open(tmp_path / "tall.thumb.png") as img:
        assert (img.format, img.size, img.mode) == ("PNG", (64, 128), "RGBA")


def test_small_images_are_not_enlarged(tmp_path: Path) -> None:
    small = make_image(tmp_path / "small.gif", (50, 40), mode="P")
    scale_file(str(small))
    assert thumb_size(small) == (50, 40)


def test_jpeg_name_gets_jpeg_even_from_rgba(tmp_path: Path) -> None:
    # A PNG with an alpha channel that is named .jpg, and a name Pillow cannot write.
    odd = make_image(tmp_path / "odd.jpg", (200, 200), mode="RGBA", fmt="PNG")
    unknown = make_image(tmp_path / "pic.data", (200, 100), fmt="PNG")
    for f in (odd, unknown):
        with Image.open(scale_file(str(f))) as img:
            assert img.format == "JPEG"
            assert img.mode == "RGB"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"hello, world\n", "not an image Pillow can read"), (None, "No such file or directory")],
)
def test_unreadable_input_is_an_error_and_writes_nothing(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    bad = tmp_path / "bad.jpg"
    if content is not None:
        bad.write_bytes(content)
    with pytest.raises(ThumbnailError) as exc:
        scale_file(str(bad))
    assert str(exc.value) == f"{bad}: {message}"
    assert not (tmp_path / "bad.thumb.jpg").exists()


def test_truncated_image_is_an_error(tmp_path: Path) -> None:
    whole = make_image(tmp_path / "whole.png", (300, 300))
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(ThumbnailError, match=r"cut\.png: "):
        scale_file(str(cut))
    assert not (tmp_path / "cut.thumb.png").exists()


def test_unwritable_output_is_an_error(tmp_path: Path) -> None:
    img = make_image(tmp_path / "img.jpg", (300, 300))
    (tmp_path / "img.thumb.jpg").mkdir()  # in the way, even for root
    with pytest.raises(ThumbnailError, match=r"img\.thumb\.jpg: Is a directory"):
        scale_file(str(img))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.jpg", "img.thumb.jpg"]


async def test_image_file_runs_in_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []

    def spy(infile: str) -> str:
        threads.append(threading.current_thread())
        return scale_file(infile)

    monkeypatch.setattr(thumbnail, "scale_file", spy)
    img = make_image(tmp_path / "img.jpg", (300, 300))
    assert await thumbnail.image_file(str(img)) == str(tmp_path / "img.thumb.jpg")
    assert threads and threads[0] is not threading.main_thread()


# ---- makeThumbnails 1-5 (fake work on the mock clock) -------------------------------------


async def test_version1_is_sequential_and_logs_errors(
    autojump_clock: trio.abc.Clock, fake: FakeImageFile, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.bad = {"b.jpg"}
    start = trio.current_time()
    await thumbnail.make_thumbnails1(FILES)
    assert trio.current_time() - start == pytest.approx(3.0)
    assert fake.max_running == 1
    assert fake.done == ["a.jpg", "c.jpg"]
    assert capsys.readouterr().err == "thumbnail: b.jpg: not an image Pillow can read\n"


async def test_version2_returns_before_the_work_but_cannot_lose_it(
    autojump_clock: trio.abc.Clock, fake: FakeImageFile
) -> None:
    # Go's version 2 is a plain function that returns at once; so is ours, but it can only
    # start tasks in a nursery that its caller owns.
    assert not inspect.iscoroutinefunction(thumbnail.make_thumbnails2)
    async with trio.open_nursery() as nursery:
        thumbnail.make_thumbnails2(nursery, FILES)
        assert fake.started == []  # returned before any work began (the book's bug)...
    assert sorted(fake.done) == FILES  # ...but the caller's nursery waited for all of it


async def test_version3_is_parallel(
    autojump_clock: trio.abc.Clock, fake: FakeImageFile, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.bad = {"b.jpg"}
    start = trio.current_time()
    await thumbnail.make_thumbnails3(FILES)
    assert trio.current_time() - start == pytest.approx(1.0)
    assert fake.max_running == 3
    assert sorted(fake.done) == ["a.jpg", "c.jpg"]  # an error does not stop the others
    assert capsys.readouterr().err == "thumbnail: b.jpg: not an image Pillow can read\n"


async def test_version4_without_errors(autojump_clock: trio.abc.Clock, fake: FakeImageFile) -> None:
    assert await thumbnail.make_thumbnails4(FILES) is None
    assert sorted(fake.done) == FILES


async def test_version4_error_when_nobody_is_left_waiting(
    autojump_clock: trio.abc.Clock, fake: FakeImageFile
) -> None:
    # The error is the last result: Go's version does not leak here, and ours returns it.
    fake.bad, fake.seconds = {"c.jpg"}, {"c.jpg": 2.0}
    err = await thumbnail.make_thumbnails4(FILES)
    assert isinstance(err, ThumbnailError)
    assert str(err).startswith("c.jpg: ")


async def test_version4_leak_becomes_broken_resource_errors(
    autojump_clock: trio.abc.Clock, fake: FakeImageFile
) -> None:
    # The first result is an error while two workers still have results to send: in Go they
    # block forever (a leak). Here the first of them to send fails, the nursery cancels the
    # other, and the call raises instead of returning.
    fake.bad, fake.seconds = {"a.jpg"}, {"a.jpg": 0.5, "b.jpg": 1.0, "c.jpg": 2.0}
    before = trio.lowlevel.current_statistics().tasks_living
    # The virtual deadline turns the hang of an unclosed channel into an immediate failure.
    with trio.fail_after(60), pytest.raises(ExceptionGroup) as exc:
        await thumbnail.make_thumbnails4(FILES)
    matched, rest = exc.value.split(trio.BrokenResourceError)
    assert rest is None
    assert matched is not None and len(matched.exceptions) == 1  # b's send
    assert fake.done == ["b.jpg"]  # c was cancelled while still working
    assert trio.lowlevel.current_statistics().tasks_living == before


async def test_version5_returns_names_in_input_order(
    autojump_clock: trio.abc.Clock, fake: FakeImageFile
) -> None:
    fake.seconds = {"a.jpg": 3.0, "b.jpg": 2.0, "c.jpg": 1.0}
    assert await thumbnail.make_thumbnails5(FILES) == [thumbnail_name(f) for f in FILES]
    assert fake.done == ["c.jpg", "b.jpg", "a.jpg"]


async def test_version5_first_error_cancels_the_rest(
    autojump_clock: trio.abc.Clock, fake: FakeImageFile
) -> None:
    fake.bad, fake.seconds = {"b.jpg"}, {"a.jpg": 100.0, "b.jpg": 1.0, "c.jpg": 100.0}
    start = trio.current_time()
    with pytest.RaisesGroup(pytest.RaisesExc(ThumbnailError, match=r"^b\.jpg: ")):
        await thumbnail.make_thumbnails5(FILES)
    assert trio.current_time() - start == pytest.approx(1.0)  # nobody waited for a or c
    assert fake.done == []
    assert fake.running == 0


# The hang of version 4 without closing the channel, and the loop-variable trap of §8.5, are
# claims about trio rather than about this module: they run as the porting guide's examples
# docs/examples/leak_becomes_hang.py and loop_variable.py (tests/test_guide.py).


# ---- makeThumbnails6 and the command (real images, real threads) --------------------------


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    return [
        make_image(tmp_path / "a.jpg", (640, 480)),
        make_image(tmp_path / "b.png", (200, 400), mode="RGBA"),
        make_image(tmp_path / "c.gif", (90, 90), mode="P"),
    ]


async def feed(names: list[str]) -> trio.MemoryReceiveChannel[str]:
    send, receive = trio.open_memory_channel[str](len(names))
    with send:
        for n in names:
            send.send_nowait(n)
    return receive


async def test_version6_totals_the_bytes_written(images: list[Path], tmp_path: Path) -> None:
    errors: list[ThumbnailError] = []
    names = [str(p) for p in images] + [str(tmp_path / "missing.jpg")]
    total = await thumbnail.make_thumbnails6(await feed(names), on_error=errors.append)
    thumbs = [Path(thumbnail_name(str(p))) for p in images]
    assert total == sum(t.stat().st_size for t in thumbs) > 0
    assert [str(e) for e in errors] == [f"{tmp_path / 'missing.jpg'}: No such file or directory"]


async def test_version6_no_files(tmp_path: Path) -> None:
    assert await thumbnail.make_thumbnails6(await feed([])) == 0


async def test_version6_bounds_the_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With a limiter of 2, threads meet in pairs at a 2-party barrier: a third concurrent
    # thread would be counted, and a limit of 1 would leave the barrier waiting (and broken).
    barrier = threading.Barrier(2, timeout=30)
    lock = threading.Lock()
    running = peak = 0

    def fake_scale(infile: str) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        barrier.wait()
        with lock:
            running -= 1
        out = thumbnail_name(infile)
        Path(out).write_bytes(b"x" * 10)
        return out

    monkeypatch.setattr(thumbnail, "scale_file", fake_scale)
    names = [str(tmp_path / f"{i}.jpg") for i in range(6)]
    total = await thumbnail.make_thumbnails6(await feed(names), limiter=trio.CapacityLimiter(2))
    assert total == 60
    assert peak == 2


def run_cli(
    *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gopl_trio.thumbnail", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_files_with_errors(images: list[Path], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    args = [str(images[0]), str(tmp_path / "notes.txt"), str(tmp_path / "nope.jpg"), str(images[1])]
    proc = run_cli("-j", "2", *args)
    assert proc.returncode == 1
    assert sorted(proc.stderr.splitlines()) == [
        f"thumbnail: {tmp_path / 'nope.jpg'}: No such file or directory",
        f"thumbnail: {tmp_path / 'notes.txt'}: not an image Pillow can read",
    ]
    written = sum(Path(thumbnail_name(str(p))).stat().st_size for p in images[:2])
    assert proc.stdout == f"{written} bytes\n"
    assert not Path(thumbnail_name(str(images[2]))).exists()  # not asked for


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_cli_skips_what_is_not_a_regular_file(images: list[Path], tmp_path: Path) -> None:
    # Opening a FIFO with no writer blocks for ever: the worker thread would never finish,
    # and neither would the program, even on Ctrl-C.
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    proc = run_cli(str(fifo), str(images[0]), str(tmp_path), timeout=30)
    assert proc.returncode == 1
    assert sorted(proc.stderr.splitlines()) == [
        f"thumbnail: {fifo}: not a regular file",
        f"thumbnail: {tmp_path}: not a regular file",
    ]
    assert proc.stdout == f"{Path(thumbnail_name(str(images[0]))).stat().st_size} bytes\n"


def test_cli_names_on_stdin(images: list[Path]) -> None:
    proc = run_cli(stdin="".join(f"{p}\n" for p in images) + "\n")  # blank line ignored
    assert (proc.returncode, proc.stderr) == (0, "")
    written = sum(Path(thumbnail_name(str(p))).stat().st_size for p in images)
    assert proc.stdout == f"{written} bytes\n"


def test_cli_empty_stdin() -> None:
    proc = run_cli()
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "0 bytes\n", "")


@pytest.mark.parametrize("jobs", ["0", "many"])
def test_cli_bad_jobs_is_a_usage_error(jobs: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        thumbnail.main(["-j", jobs, "x.jpg"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("thumbnail: error: argument -j")


def test_cli_closed_stdout(images: list[Path]) -> None:
    # stdout is a pipe whose reading end is already closed: the final print gets EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "gopl_trio.thumbnail", str(images[0])],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (1, "")
    assert Path(thumbnail_name(str(images[0]))).exists()  # the work was done all the same
