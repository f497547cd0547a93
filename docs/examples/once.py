"""sync.Once / sync.OnceValue when the initialisation awaits.

If the initialisation has no checkpoint, a flag is enough: nothing else runs in between
(`functools.cache` on a plain function works too). If it awaits, the caller that starts it
may be cancelled half-way. A lock-based Once then lets the next caller start it again: the
initialisation runs twice (and its first, half-done run may have left state behind).
`Once` below runs the initialisation in a task of a nursery that outlives the callers; a
cancelled caller only stops waiting. Like `sync.OnceValue`, an error is kept and re-raised
to every caller. Guide: "sync.Once".
"""

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import trio
import trio.testing

T = TypeVar("T")


class LockedOnce(Generic[T]):
    """The trap: correct until the first caller is cancelled."""

    def __init__(self, init: Callable[[], Awaitable[T]]) -> None:
        self._init, self._lock = init, trio.Lock()
        self._done = False
        self._value: T | None = None

    async def get(self) -> T:
        async with self._lock:
            if not self._done:
                self._value = await self._init()
                self._done = True
        return self._value  # type: ignore[return-value]


class Once(Generic[T]):
    def __init__(self, nursery: trio.Nursery, init: Callable[[], Awaitable[T]]) -> None:
        self._nursery, self._init = nursery, init
        self._started, self._done = False, trio.Event()
        self._value: T | None = None
        self._error: Exception | None = None

    async def _run(self) -> None:
        try:
            self._value = await self._init()
        except Exception as exc:
            self._error = exc
        finally:
            self._done.set()

    async def get(self) -> T:
        if not self._started:
            self._started = True
            self._nursery.start_soon(self._run)
        await self._done.wait()  # cancellable; the initialisation goes on without us
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


async def main() -> None:
    runs = 0

    async def connect() -> str:
        nonlocal runs
        runs += 1
        await trio.sleep(1)
        return f"connection {runs}"

    once = LockedOnce(connect)
    with trio.move_on_after(0.5):
        await once.get()  # the first caller gives up half-way ...
    assert await once.get() == "connection 2"  # ... so the next one connects again
    assert runs == 2

    runs = 0
    async with trio.open_nursery() as nursery:
        good = Once(nursery, connect)
        with trio.move_on_after(0.5):
            await good.get()
        assert await good.get() == "connection 1"
        assert await good.get() == "connection 1"
    assert runs == 1

    async def fail() -> str:
        raise OSError("unreachable")

    async with trio.open_nursery() as nursery:
        failing = Once(nursery, fail)
        for _ in range(2):  # every caller sees the one error, as with sync.OnceValue's panic
            try:
                await failing.get()
            except OSError as exc:
                assert str(exc) == "unreachable"
            else:
                raise AssertionError("no error")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
