"""A function that returns a channel fed by its own goroutine: `func gen() <-chan T`.

    func count(n int) <-chan int {
        ch := make(chan int)
        go func() { defer close(ch); for i := 0; i < n; i++ { ch <- i } }()
        return ch
    }

If the caller stops reading early, Go's goroutine blocks on `ch <-` for ever. In trio write
an async generator and decorate it with `@trio.as_safe_channel` (new in recent trio): the
generator runs in a task of its own, the caller reads from a channel inside an `async with`,
and leaving that block early cancels the producer. A bare async generator must not `yield`
inside a nursery or a cancel scope (PEP 789); this one may.
Guide: "Generators".
"""

from collections.abc import AsyncGenerator

import trio
import trio.testing


@trio.as_safe_channel
async def count(n: int, log: list[str]) -> AsyncGenerator[int, None]:
    try:
        for i in range(n):
            with trio.move_on_after(
                10
            ):  # a scope around `yield`: fine here, a trap without the decorator
                yield i
    finally:
        log.append("producer stopped")


async def main() -> None:
    log: list[str] = []
    async with count(3, log) as numbers:
        assert [i async for i in numbers] == [0, 1, 2]
    assert log == ["producer stopped"]

    log.clear()
    async with count(1_000_000, log) as numbers:
        async for i in numbers:
            if i == 2:
                break  # the consumer stops early ...
    assert log == ["producer stopped"]  # ... and the producer is gone, not blocked for ever


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
