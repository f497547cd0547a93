"""Thumbnails in parallel: makeThumbnails 1-6 (gopl.io/ch8/thumbnail, §8.5).

`image_file` is the book's `thumbnail.ImageFile`: it reads an image and writes a copy at most
128 pixels wide and high next to it (`foo.jpg` -> `foo.thumb.jpg`). The decoding and scaling
run in a worker thread (`trio.to_thread.run_sync`), never on the event loop; Pillow releases
the GIL while it works, so the threads really run in parallel.

The six `make_thumbnails` versions follow the section: sequential, two broken attempts at
parallelism, and three correct ones. Go's broken versions are kept as counter-examples, and
trio changes what their bugs do:

* version 2 (returns before the work is done) cannot be written without a nursery, which
  must come from the caller -- so the work is still finished before the caller moves on;
* version 4 (returns at the first error and leaks the goroutines still trying to send their
  result) raises `trio.BrokenResourceError` from those senders instead of leaking them.

The command line is version 6 with a bounded number of threads:

    python -m gopl_trio.thumbnail [-j N] FILE...     # or one file name per line on stdin

It prints the total number of bytes written. A file that cannot be read or is not an image
gets one line on stderr; the others are still done, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

import PIL
import trio
from PIL import Image

from gopl_trio._args import positive_int
from gopl_trio._run import run
from gopl_trio._stdio import StdinStream

__all__ = [
    "MAX_SIZE",
    "ThumbnailError",
    "image_file",
    "main",
    "make_thumbnails1",
    "make_thumbnails2",
    "make_thumbnails3",
    "make_thumbnails4",
    "make_thumbnails5",
    "make_thumbnails6",
    "scale_file",
    "thumbnail_name",
]

MAX_SIZE = 128  # pixels, the larger of width and height


class ThumbnailError(Exception):
    """A file could not be read as an image or its thumbnail could not be written."""


# ---- the thumbnail package: one image, blocking -------------------------------------------


def thumbnail_name(infile: str) -> str:
    """foo.jpg -> foo.thumb.jpg (the extension stays last)."""
    root, ext = os.path.splitext(infile)
    return f"{root}.thumb{ext}"


def scale_file(infile: str) -> str:
    """Write the thumbnail of `infile` and return its name. Blocks: run it in a thread.

    Unlike Go's version, which always writes JPEG whatever the name says, the output format
    follows the extension (JPEG when Pillow cannot write that one); only regular files are
    read; nothing is written unless the input decodes; and the file appears whole or not at
    all.
    """
    outfile = thumbnail_name(infile)
    try:
        if not stat.S_ISREG(os.stat(infile).st_mode):
            # Opening a FIFO or a terminal can block for ever, and a worker thread that
            # cannot finish would hold up Ctrl-C as well (image_file does not abandon it).
            raise ThumbnailError(f"{infile}: not a regular file")
        with Image.open(infile) as img:
            img.thumbnail((MAX_SIZE, MAX_SIZE))  # decodes; keeps the aspect; never enlarges
            thumb = img.copy()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        # Pillow reports some corrupt files with SyntaxError, ValueError or EOFError.
        raise ThumbnailError(f"{infile}: {_cause(exc)}") from exc
    fmt = Image.registered_extensions().get(os.path.splitext(outfile)[1].lower(), "JPEG")
    if fmt not in Image.SAVE:
        fmt = "JPEG"
    if fmt == "JPEG" and thumb.mode not in ("RGB", "L", "CMYK"):
        thumb = thumb.convert("RGB")  # JPEG has no alpha channel or palette
    # Write a temporary file and rename it: nobody ever sees half a thumbnail, not even a
    # concurrent worker that was asked to thumbnail the thumbnail.
    tmp = f"{outfile}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        with open(tmp, "xb") as f:
            thumb.save(f, format=fmt)
        os.replace(tmp, outfile)
    except (OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise ThumbnailError(f"{outfile}: {_cause(exc)}") from exc
    return outfile


def _cause(exc: BaseException) -> str:
    if isinstance(exc, PIL.UnidentifiedImageError):
        return "not an image Pillow can read"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror  # "No such file or directory", without repeating the name
    return str(exc) or type(exc).__name__


async def image_file(infile: str, limiter: trio.CapacityLimiter | None = None) -> str:
    """Go's thumbnail.ImageFile, off the event loop.

    The thread is not abandoned on cancellation: a cancelled call waits for the image in
    hand (milliseconds), so no thread is still writing files after we return.
    """
    return await trio.to_thread.run_sync(scale_file, infile, limiter=limiter)


def _log(err: ThumbnailError) -> None:
    print(f"thumbnail: {err}", file=sys.stderr)


async def _image_file_or_log(infile: str) -> None:
    try:
        await image_file(infile)
    except ThumbnailError as err:
        _log(err)


# ---- makeThumbnails: many images ----------------------------------------------------------


async def make_thumbnails1(filenames: Iterable[str]) -> None:
    """Make thumbnails of the files, one after another."""
    for f in filenames:
        await _image_file_or_log(f)


def make_thumbnails2(nursery: trio.Nursery, filenames: Iterable[str]) -> None:
    """COUNTER-EXAMPLE: start every thumbnail and return before any is made.

    Go's version starts a goroutine per file and returns at once; its caller carries on as
    if the work were done, and if the program then exits the work is simply lost. trio has
    no `go` statement: a task can only be started in a nursery, and a function that does
    not wait for its tasks has to borrow its caller's (hence the `nursery` parameter, and
    no `async`). The early return survives, but visibly, and the work cannot be lost: the
    caller's `async with` block does not end until every thumbnail is made.
    """
    for f in filenames:
        nursery.start_soon(_image_file_or_log, f)  # NOTE: incorrect, as in the book: no wait


async def make_thumbnails3(filenames: Iterable[str]) -> None:
    """Make thumbnails of the files in parallel.

    Go sends one message per file on a channel and counts them to know when all are done;
    the nursery does that waiting, so there is nothing to count.
    """
    async with trio.open_nursery() as nursery:
        for f in filenames:
            nursery.start_soon(_image_file_or_log, f)


async def make_thumbnails4(filenames: Sequence[str]) -> ThumbnailError | None:
    """COUNTER-EXAMPLE: return the first error, still owing the other workers a receive.

    Go's version returns at the first error, leaving every worker that has not yet sent its
    result blocked forever on the unbuffered channel: a goroutine leak, silent until memory
    runs out. Here the function cannot return while its workers live, and on the way out
    it closes the receiving end, so the first worker that tries to send fails with
    BrokenResourceError, the nursery cancels the rest, and the call raises an ExceptionGroup
    instead of returning. (Without closing it the call would hang instead -- a deadlock
    that shows up in the first test, not a leak in production.)
    """
    errors_send, errors_receive = trio.open_memory_channel[ThumbnailError | None](0)

    async def worker(f: str) -> None:
        try:
            await image_file(f)
        except ThumbnailError as err:
            await errors_send.send(err)
        else:
            await errors_send.send(None)

    async with trio.open_nursery() as nursery:
        with errors_receive:
            for f in filenames:
                nursery.start_soon(worker, f)
            for _ in filenames:
                err = await errors_receive.receive()
                if err is not None:
                    return err  # NOTE: incorrect, as in the book: the others still want to send
    return None


async def make_thumbnails5(filenames: Sequence[str]) -> list[str]:
    """Make thumbnails in parallel and return their names, in the order of `filenames`.

    Go fixes version 4 by giving the channel a buffer with room for every result, so that
    the workers it stops listening to can still send and exit (they also keep working after
    the function has returned). Here no channel is needed: the first ThumbnailError
    propagates, the nursery cancels the other workers, and the caller gets the error in an
    ExceptionGroup (`except* ThumbnailError`) once every worker has stopped.
    """
    thumbfiles = [""] * len(filenames)

    async def worker(i: int, f: str) -> None:
        thumbfiles[i] = await image_file(f)

    async with trio.open_nursery() as nursery:
        for i, f in enumerate(filenames):
            nursery.start_soon(worker, i, f)  # arguments, not a closure over the loop variable
    return thumbfiles


async def make_thumbnails6(
    filenames: trio.MemoryReceiveChannel[str],
    *,
    limiter: trio.CapacityLimiter | None = None,
    on_error: Callable[[ThumbnailError], None] = _log,
) -> int:
    """Make a thumbnail of each file name received; return the total bytes written.

    The names arrive on a channel, so their number is not known in advance. Go counts the
    workers with a sync.WaitGroup and needs an extra "closer" goroutine that waits on it and
    then closes the sizes channel, so that the loop summing the sizes can end. Here every
    worker holds its own clone of the sending end and closes it when done: the channel ends
    when the last clone is closed. No counter, no closer. `limiter` bounds the threads.
    """
    sizes_send, sizes_receive = trio.open_memory_channel[int](0)

    async def worker(f: str, sizes: trio.MemorySendChannel[int]) -> None:
        with sizes:
            try:
                thumb = await image_file(f, limiter)
            except ThumbnailError as err:
                on_error(err)
                return
            await sizes.send((await trio.Path(thumb).stat()).st_size)

    async def start_workers(nursery: trio.Nursery) -> None:
        with sizes_send:
            async for f in filenames:
                nursery.start_soon(worker, f, sizes_send.clone())

    total = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(start_workers, nursery)
        async for size in sizes_receive:
            total += size
    return total


# ---- the command ---------------------------------------------------------------------------


async def _stdin_lines() -> AsyncIterator[str]:
    """File names from standard input, one per line, as they arrive. Empty lines are skipped.

    Read through `gopl_trio.stdin.StdinStream`: no thread to abandon on Ctrl-C and no change
    to the descriptor's flags.
    """
    pending = b""
    stdin = StdinStream()
    while chunk := await stdin.receive_some():
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if name := line.removesuffix(b"\r"):
                yield os.fsdecode(name)
    if name := pending.removesuffix(b"\r"):
        yield os.fsdecode(name)


async def _send_names(files: list[str], names: trio.MemorySendChannel[str]) -> None:
    with names:
        if files:
            for f in files:
                await names.send(f)
        else:
            async for f in _stdin_lines():
                await names.send(f)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="thumbnail",
        description="Write a thumbnail (at most 128x128) next to each image: foo.jpg -> "
        "foo.thumb.jpg. Prints the total bytes written.",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="images (default: names on stdin)")
    p.add_argument(
        "-j", "--jobs", type=positive_int, default=os.cpu_count() or 1, help="threads (CPU count)"
    )
    args = p.parse_args(argv)
    errors = 0

    def report(err: ThumbnailError) -> None:
        nonlocal errors
        errors += 1
        _log(err)

    async def make_all() -> None:
        names_send, names_receive = trio.open_memory_channel[str](0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_send_names, args.files, names_send)
            total = await make_thumbnails6(
                names_receive, limiter=trio.CapacityLimiter(args.jobs), on_error=report
            )
        print(f"{total} bytes")

    run("thumbnail", make_all)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
