"""A constructor that starts a goroutine: NewX() becomes an async context manager.

    func NewHeartbeat(d time.Duration) *Heartbeat { h := &Heartbeat{}; go h.loop(d); return h }
    func (h *Heartbeat) Close() { close(h.done) }   // if the caller remembers

A task needs a nursery, and an object that starts one must not outlive it. So
`NewX()` + `defer x.Close()` becomes `async with open_x() as x:`, whose nursery holds the
background task and whose exit cancels it. Safe because `@asynccontextmanager` runs its
`yield` in the caller's task and the caller's block is lexically inside the nursery; the
same `yield` in an async generator used as an iterator is not (trio #264, PEP 789).
The catch: the caller's block runs *inside* the hidden nursery, so its own exceptions
come out wrapped in an ExceptionGroup (trio #2929). Unwrap the lone exception in the
helper (below), or pass the caller's nursery in (`Heartbeat(nursery)`) and let the caller
own the lifetime. Guide: "Constructors that start a goroutine".
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing


class Heartbeat:
    def __init__(self) -> None:
        self.beats = 0

    async def _run(self, period: float) -> None:
        while True:
            await trio.sleep(period)
            self.beats += 1


@asynccontextmanager
async def open_heartbeat_wrapping(period: float) -> AsyncIterator[Heartbeat]:
    async with trio.open_nursery() as nursery:
        heartbeat = Heartbeat()
        nursery.start_soon(heartbeat._run, period)
        yield heartbeat
        nursery.cancel_scope.cancel()  # Close(): the block is over


@asynccontextmanager
async def open_heartbeat(period: float) -> AsyncIterator[Heartbeat]:
    try:
        async with open_heartbeat_wrapping(period) as heartbeat:
            yield heartbeat
    except BaseExceptionGroup as group:
        # Exactly one error (the caller's, or the background task's): raise it as itself.
        if len(group.exceptions) == 1 and isinstance(group.exceptions[0], Exception):
            raise group.exceptions[0] from None
        raise


async def main() -> None:
    async with open_heartbeat(1) as heartbeat:
        await trio.sleep(3.5)
    assert heartbeat.beats == 3  # and the task is gone: the block waited for it

    try:
        async with open_heartbeat_wrapping(1):
            raise KeyError("the caller's own error")
    except* KeyError:
        pass  # `except KeyError` would not have caught it
    try:
        async with open_heartbeat(1):
            raise KeyError("the caller's own error")
    except KeyError:
        pass
    else:
        raise AssertionError("no KeyError")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
