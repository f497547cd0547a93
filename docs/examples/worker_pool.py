"""Worker pools, fan-out and fan-in.

    jobs := make(chan int); results := make(chan int)
    for w := 0; w < 3; w++ { go worker(jobs, results) }       // fan-out
    go func() { for _, j := range input { jobs <- j }; close(jobs) }()
    go func() { wg.Wait(); close(results) }()                   // fan-in: close when all done
    for r := range results { ... }

In trio each worker holds its own clone of the results channel and closes it when it
returns; `results` ends when the last clone is closed. No WaitGroup, no closer goroutine,
and a worker that fails cancels the pool instead of leaving the collector waiting.
Guide: "Worker pools".
"""

import trio
import trio.testing


async def worker(
    jobs: trio.MemoryReceiveChannel[int], results: trio.MemorySendChannel[tuple[int, int]]
) -> None:
    with results:
        async for job in jobs:
            await trio.sleep(1)  # the work
            if job < 0:
                raise ValueError(f"bad job {job}")
            await results.send((job, job * job))


async def feed(jobs: trio.MemorySendChannel[int], items: list[int]) -> None:
    with jobs:
        for item in items:
            await jobs.send(item)


async def pool(items: list[int], workers: int) -> dict[int, int]:
    jobs_send, jobs = trio.open_memory_channel[int](0)
    results_send, results = trio.open_memory_channel[tuple[int, int]](0)
    out: dict[int, int] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed, jobs_send, items)
        with results_send, jobs:  # our copies: only the workers' clones stay open
            for _ in range(workers):
                nursery.start_soon(worker, jobs.clone(), results_send.clone())
        async for job, square in results:  # fan-in: ends when every worker has returned
            out[job] = square
    return out


async def main() -> None:
    start = trio.current_time()
    assert await pool(list(range(9)), workers=3) == {i: i * i for i in range(9)}
    assert trio.current_time() - start == 3  # 9 one-second jobs on 3 workers
    assert await pool([], workers=3) == {}

    # A failing worker cancels the others and the feeder; the collector is not left waiting.
    start = trio.current_time()
    try:
        await pool([1, 2, -3, 4, 5, 6, 7], workers=3)
    except* ValueError as group:
        assert [str(e) for e in group.exceptions] == ["bad job -3"]
    else:
        raise AssertionError("no error")
    assert trio.current_time() - start == 1


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
