"""A cache owned by a monitor task: gopl.io/ch9/memo5, §9.7.

The same entries and ``ready`` broadcast as memo4, but the map belongs to one task, the
server: ``get`` sends it a request holding the key and a channel for the reply, and the
server starts a task that calls ``f`` for a new key and one that delivers the entry's result
to each request. No critical sections at all: the map is confined to the server's loop.

Go's ``New`` starts the server goroutine itself; a trio task needs a nursery, so the caller
starts it: ``nursery.start_soon(memo.server)`` -- and ``close()`` (Go's ``Close``) ends the
server's loop; the server returns once the calls and deliveries in flight are done.

Cancellation, which Go's program does not face: a caller cancelled while it waits for its
reply just stops waiting. The call belongs to the server's nursery, not to the caller, so it
runs to the end for everyone else -- ``f`` is called exactly once per key -- and the reply
channel has room for one answer and is closed by the caller, so a delivery to a caller that
gave up neither blocks nor fails (``BrokenResourceError`` is expected and ignored).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TextIO, TypeVar

import trio

from gopl_trio import _memotest
from gopl_trio._memotest import Func, Result

V = TypeVar("V")


@dataclass(frozen=True)
class Request(Generic[V]):
    key: str
    response: trio.MemorySendChannel[Result[V]]  # where the one answer goes


@dataclass(eq=False)
class Entry(Generic[V]):
    ready: trio.Event = field(default_factory=trio.Event)  # set when res is ready
    res: Result[V] | None = None

    async def call(self, f: Func[V], key: str) -> None:
        self.res = await Result.of(f, key)
        self.ready.set()  # wake every delivery waiting for this entry

    async def deliver(self, response: trio.MemorySendChannel[Result[V]]) -> None:
        with response:
            await self.ready.wait()
            assert self.res is not None
            # Hand the result over, unless the caller has stopped waiting.
            with contextlib.suppress(trio.BrokenResourceError):
                response.send_nowait(self.res)  # room for one: never blocks


class Memo(Generic[V]):
    """Caches the results of calling *f*; run :meth:`server` in a nursery, then ``get``."""

    def __init__(self, f: Func[V]) -> None:
        self.f = f
        self._requests, self._incoming = trio.open_memory_channel[Request[V]](0)

    async def get(self, key: str) -> V:
        response_tx, response = trio.open_memory_channel[Result[V]](1)
        with response:
            await self._requests.send(Request(key, response_tx))
            try:
                res = await response.receive()
            except trio.EndOfChannel:  # the delivery was cancelled: so was the server
                raise trio.BrokenResourceError("the memo's server stopped") from None
        return res.get()

    def close(self) -> None:
        self._requests.close()

    async def server(self) -> None:
        cache: dict[str, Entry[V]] = {}
        with self._incoming:  # once the server has stopped, get raises at once
            async with trio.open_nursery() as nursery:
                async for req in self._incoming:
                    e = cache.get(req.key)
                    if e is None:
                        # A key never asked for: start its call.
                        e = cache[req.key] = Entry()
                        nursery.start_soon(e.call, self.f, req.key)  # call f(key)
                    # Each request gets its answer from a task of its own, once e is ready.
                    nursery.start_soon(e.deliver, req.response)


async def memotest(f: Func[bytes], keys: Sequence[str], at_once: bool, out: TextIO) -> None:
    memo = Memo(f)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(memo.server)
        try:
            await _memotest.drive(memo, keys, at_once, out)
        finally:
            memo.close()


def main(argv: list[str] | None = None) -> int:
    return _memotest.main("memo5", "Memoize a slow function (a monitor task).", memotest, argv)


if __name__ == "__main__":
    sys.exit(main())
