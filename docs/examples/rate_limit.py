"""Rate limiting with a ticker: time.Tick, and a bursty limiter.

    limiter := time.Tick(200 * time.Millisecond)
    for req := range requests { <-limiter; handle(req) }

A ticker goroutine is not needed: keep the next slot's time and `sleep_until` it. The
bursty limiter (a buffered channel of tokens refilled by a ticker) is a task that puts
tokens into a channel with `send_nowait`, dropping ticks when it is full, as Go's Ticker
does. The ticker task ends with its nursery (time.Tick never stops). Guide: "Rate limiting".
"""

import contextlib

import trio
import trio.testing


async def steady(requests: list[str], period: float) -> list[float]:
    handled: list[float] = []
    next_slot = trio.current_time()
    for _ in requests:
        next_slot += period
        await trio.sleep_until(next_slot)  # <-limiter
        handled.append(trio.current_time())
    return handled


async def ticker(
    tokens: trio.MemorySendChannel[None], period: float
) -> None:  # go func() { for range time.Tick(period) { limiter <- ... } }()
    next_tick = trio.current_time()
    while True:
        next_tick += period
        await trio.sleep_until(next_tick)
        with contextlib.suppress(trio.WouldBlock):  # full: the tick is dropped
            tokens.send_nowait(None)


async def bursty(requests: list[str], period: float, burst: int) -> list[float]:
    tokens_send, tokens = trio.open_memory_channel[None](burst)
    for _ in range(burst):
        tokens_send.send_nowait(None)  # start with a full bucket
    handled: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker, tokens_send, period)
        for _ in requests:
            await tokens.receive()
            handled.append(trio.current_time())
        nursery.cancel_scope.cancel()  # stop the ticker
    return handled


async def main() -> None:
    start = trio.current_time()
    times = await steady(["r"] * 5, 0.2)
    assert [round(t - start, 6) for t in times] == [0.2, 0.4, 0.6, 0.8, 1.0]

    start = trio.current_time()
    times = await bursty(["r"] * 5, 0.2, burst=3)
    assert [round(t - start, 6) for t in times] == [0, 0, 0, 0.2, 0.4]


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
