"""errgroup.Group: first error cancels the rest, SetLimit, and one error vs an ExceptionGroup.

    g, ctx := errgroup.WithContext(ctx)
    g.SetLimit(2)
    for _, url := range urls { g.Go(func() error { return fetch(ctx, url) }) }
    err := g.Wait()                   // the first error; the others are dropped

A nursery is the group (and the context): the first exception cancels the siblings and
leaves the block inside an `ExceptionGroup`, which holds *every* exception raised before the
siblings stopped. `SetLimit(n)` is a `trio.Semaphore(n)` acquired by the caller before
`start_soon` and released by the task: `g.Go` blocks in the caller just so. Guide: "errgroup".
"""

import trio
import trio.testing


class FetchError(Exception):
    pass


async def fetch(name: str, seconds: float, log: list[str]) -> None:
    try:
        if seconds:
            await trio.sleep(seconds)
    except trio.Cancelled:
        log.append(f"{name} cancelled")
        raise
    if name.startswith("bad"):
        raise FetchError(name)
    log.append(f"{name} ok")


async def group(jobs: dict[str, float], log: list[str], limit: int | None = None) -> None:
    slots = trio.Semaphore(limit if limit is not None else len(jobs) or 1)

    async def run(name: str, seconds: float) -> None:
        try:
            await fetch(name, seconds, log)
        finally:
            slots.release()  # a Semaphore may be released by another task; a CapacityLimiter not

    async with trio.open_nursery() as nursery:
        for name, seconds in jobs.items():
            await slots.acquire()  # g.Go waits for a free slot, in the caller
            log.append(f"{name} started at {trio.current_time():g}")
            nursery.start_soon(run, name, seconds)


async def main() -> None:
    # The first error cancels the rest and arrives wrapped in an ExceptionGroup.
    log: list[str] = []
    try:
        await group({"a": 1, "bad1": 2, "c": 3}, log)
    except* FetchError as errors:
        assert [str(e) for e in errors.exceptions] == ["bad1"]
    else:
        raise AssertionError("no error")
    assert [entry for entry in log if "started" not in entry] == ["a ok", "c cancelled"]

    # Errors raised before the cancellation reaches a checkpoint all arrive (here both jobs
    # fail in their first step); Go's Wait would return one of them.
    log = []
    try:
        await group({"bad1": 0, "bad2": 0}, log)
    except* FetchError as errors:
        assert sorted(str(e) for e in errors.exceptions) == ["bad1", "bad2"]
    else:
        raise AssertionError("no error")

    # SetLimit(2): the third job starts when the first slot frees up.
    log = []
    start = trio.current_time()
    await group({"a": 1, "b": 2, "c": 1}, log, limit=2)
    started = [entry for entry in log if "started" in entry]
    assert started == [
        f"a started at {start:g}",
        f"b started at {start:g}",
        f"c started at {start + 1:g}",  # when a's slot was released
    ]

    # A CapacityLimiter refuses to be released by a task other than the one that acquired it.
    limiter = trio.CapacityLimiter(1)
    await limiter.acquire()

    async def release_elsewhere() -> None:
        limiter.release()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(release_elsewhere)
    except* RuntimeError:
        pass
    else:
        raise AssertionError("CapacityLimiter released by another task")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
