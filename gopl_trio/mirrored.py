"""Ask every mirror, keep the quickest answer: mirroredQuery of §8.4.4 (gopl.io/ch8, no program).

The book's function starts one goroutine per mirror, each sending its response on a channel
with room for all three, and returns the first value received. The buffer is what keeps the
two slower goroutines from leaking: with an unbuffered channel they would block forever on a
send that nobody receives. Here the requests are tasks in a nursery, and the nursery is
cancelled as soon as the first answer arrives, so the slower requests stop at once, wherever
they are -- still waiting for the mirror, or waiting to send -- and the channel can stay
unbuffered. The nursery does not return until they are gone, so no task outlives the query.

The mirrors are simulated: each answers after a random delay (``--seed``, ``--max-delay``).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Mapping

import trio

from gopl_trio._args import seconds
from gopl_trio._run import run

MIRRORS = ("asia.gopl.io", "europe.gopl.io", "americas.gopl.io")


async def request(hostname: str, delay: float) -> str:
    """Pretend to fetch from *hostname*, which takes *delay* seconds to answer."""
    await trio.sleep(delay)
    return f"response from {hostname}"


async def mirrored_query(delays: Mapping[str, float]) -> str:
    """Query every mirror in *delays* at once; return the quickest response."""
    responses_tx, responses = trio.open_memory_channel[str](0)  # unbuffered is enough: see above

    async def ask(hostname: str, delay: float) -> None:
        await responses_tx.send(await request(hostname, delay))

    async with trio.open_nursery() as nursery:
        for hostname, delay in delays.items():
            nursery.start_soon(ask, hostname, delay)  # arguments bound now: no loop-variable trap
        response = await responses.receive()  # return the quickest response...
        nursery.cancel_scope.cancel()  # ...after stopping the others
    return response


async def query(delays: Mapping[str, float]) -> None:
    for hostname, delay in delays.items():
        print(f"{hostname} would answer in {delay:.3f} s")
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    start = trio.current_time()
    response = await mirrored_query(delays)
    elapsed = trio.current_time() - start
    left = trio.lowlevel.current_statistics().tasks_living - tasks_before
    print(f"{response} after {elapsed:.3f} s; tasks left behind: {left}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mirrored", description="Query simulated mirrors at once; print the quickest answer."
    )
    parser.add_argument("mirrors", nargs="*", default=list(MIRRORS), metavar="HOST")
    parser.add_argument("--seed", type=int, default=None, help="seed for the mirrors' delays")
    parser.add_argument(
        "--max-delay",
        type=seconds,
        default=1.0,
        metavar="SECONDS",
        help="each mirror answers after a random delay up to this (default 1.0)",
    )
    args = parser.parse_args(argv)
    if len(set(args.mirrors)) < len(args.mirrors):
        parser.error("a mirror is named twice")
    rng = random.Random(args.seed)
    delays = {hostname: rng.uniform(0, args.max_delay) for hostname in args.mirrors}
    run("mirrored", query, delays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
