"""A clock wall (exercise 8.1's shape): one reader task per server, one shared table, a ticker.

    for _, arg := range os.Args[1:] { go watch(name, addr) }   // each updates its column
    for range time.Tick(time.Second) { print the table }

One task per connection reads lines (line_reader.py) into a dict: no lock, since each update
is one step between checkpoints. A ticker task prints the table. A server that hangs up
ends its reader only; the others go on. The connections here are memory streams standing in
for `await trio.open_tcp_stream(host, port)`. Guide: "Common program shapes".
"""

import trio
import trio.testing
from line_reader import LineReader


async def fake_clock_server(stream: trio.abc.SendStream, offset_hours: int, ticks: int) -> None:
    async with stream:
        for second in range(ticks):
            await stream.send_all(f"{(9 + offset_hours) % 24:02}:00:{second:02}\n".encode())
            await trio.sleep(1)


async def watch(name: str, stream: trio.abc.ReceiveStream, table: dict[str, str]) -> None:
    async for line in LineReader(stream):
        table[name] = line
    table[name] = "(gone)"


async def wall(servers: dict[str, int], seconds: int) -> list[str]:
    table = dict.fromkeys(servers, "--:--:--")
    printed: list[str] = []
    async with trio.open_nursery() as nursery:
        for i, (name, offset) in enumerate(servers.items()):
            server_end, client_end = trio.testing.memory_stream_pair()
            nursery.start_soon(fake_clock_server, server_end, offset, 2 + 2 * i)
            nursery.start_soon(watch, name, client_end, table)
        next_tick = trio.current_time() + 0.5
        for _ in range(seconds):
            await trio.sleep_until(next_tick)
            next_tick += 1
            printed.append("  ".join(f"{name} {table[name]}" for name in servers))
        nursery.cancel_scope.cancel()  # the user closes the wall
    return printed


async def main() -> None:
    printed = await wall({"NewYork": 0, "Tokyo": 14, "London": 5}, seconds=6)
    assert printed == [
        "NewYork 09:00:00  Tokyo 23:00:00  London 14:00:00",
        "NewYork 09:00:01  Tokyo 23:00:01  London 14:00:01",
        "NewYork (gone)  Tokyo 23:00:02  London 14:00:02",
        "NewYork (gone)  Tokyo 23:00:03  London 14:00:03",
        "NewYork (gone)  Tokyo (gone)  London 14:00:04",
        "NewYork (gone)  Tokyo (gone)  London 14:00:05",
    ]


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
