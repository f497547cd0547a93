"""An in-memory stand-in for a TCP listener, so that servers can run on a virtual clock.

trio documents `MockClock(autojump_threshold=0)` for tests without real I/O, so the timed
tests of the servers connect through memory streams instead of loopback sockets.
"""

from __future__ import annotations

import math

import trio
import trio.testing


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """`connect()` hands the server one end of a memory stream pair; `accept()` takes it.

    Connections wait in an unbounded queue, as in a kernel's accept queue: a client is
    "connected" before the server accepts it. `lockstep=True` gives streams without any
    buffer, so a client that never reads stalls the server's writes, as a full socket would.
    """

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](math.inf)

    async def connect(
        self, *, lockstep: bool = False
    ) -> trio.StapledStream[trio.abc.SendStream, trio.abc.ReceiveStream]:
        pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
        client, server = pair()
        await self._send.send(server)
        return client

    async def accept(self) -> trio.abc.Stream:
        return await self._receive.receive()

    async def aclose(self) -> None:
        self._receive.close()
        await trio.lowlevel.checkpoint()
