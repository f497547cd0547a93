"""Replicated search with a global timeout: first answer from each service, within a deadline.

    c := make(chan Result)
    go func() { c <- First(query, Web1, Web2) }()
    go func() { c <- First(query, Image1, Image2) }()
    timeout := time.After(80 * time.Millisecond)
    for i := 0; i < 2; i++ {
        select { case r := <-c: results = append(results, r); case <-timeout: return results }
    }

`First` asks every replica and keeps the quickest (mirroredQuery of §8.4.4, whose trio port
cancels the losers). The global timeout is one `move_on_after` around the whole search: the
services still running when it fires are cancelled, replicas included, and the results
gathered so far are returned. Go leaves the slow goroutines running after the function
returned. Guide: "errgroup" (first result wins) and "context" (the timeout).
"""

import trio
import trio.testing


async def replica(service: str, name: str, delay: float) -> str:
    await trio.sleep(delay)  # the request
    return f"{service} result from {name}"


async def first(service: str, replicas: dict[str, float]) -> str:
    """Ask every replica at once; the quickest answer wins and the others are cancelled."""
    winner = ""

    async def ask(name: str, delay: float) -> None:
        nonlocal winner
        answer = await replica(service, name, delay)
        if not winner:
            winner = answer
            nursery.cancel_scope.cancel()  # the others stop wherever they are

    async with trio.open_nursery() as nursery:
        for name, delay in replicas.items():
            nursery.start_soon(ask, name, delay)
    return winner


# ruff's ASYNC109 prefers that the caller wraps the call in a timeout; here the deadline is
# part of the result (whatever arrived by then), as in the Go function, so it is a parameter.
async def search(services: dict[str, dict[str, float]], timeout: float) -> list[str]:  # noqa: ASYNC109
    results: list[str] = []

    async def one(service: str, replicas: dict[str, float]) -> None:
        results.append(await first(service, replicas))

    with trio.move_on_after(timeout):  # time.After(timeout) for the whole search
        async with trio.open_nursery() as nursery:
            for service, replicas in services.items():
                nursery.start_soon(one, service, replicas)
    return results


async def main() -> None:
    services = {
        "web": {"web1": 0.03, "web2": 0.01},
        "image": {"image1": 0.05, "image2": 0.02},
        "video": {"video1": 0.2, "video2": 0.1},  # too slow for the deadline
    }
    start = trio.current_time()
    results = await search(services, timeout=0.08)
    assert sorted(results) == ["image result from image2", "web result from web2"]
    assert round(trio.current_time() - start, 6) == 0.08  # returned at the deadline
    before = trio.lowlevel.current_statistics().tasks_living
    assert await search(services, timeout=1) == [
        "web result from web2",
        "image result from image2",
        "video result from video2",
    ]
    assert trio.lowlevel.current_statistics().tasks_living == before  # nothing left running


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
