"""The loop-variable trap of §8.5, which Go 1.22 fixed and Python keeps.

A closure reads a variable when it runs, not when it is made. trio makes it certain: a
task's body starts only after the loop that started it has finished, so every task sees
the last value. Pass the value to `start_soon`, which evaluates its arguments at once
(ruff's B023 flags the closure). Guide: "Leaks and deadlocks".
"""

import trio

FILES = ["a.jpg", "b.jpg", "c.jpg"]


async def main() -> None:
    seen: list[str] = []
    async with trio.open_nursery() as nursery:
        for f in FILES:

            async def late() -> None:
                seen.append(f)  # noqa: B023 -- the trap being shown

            nursery.start_soon(late)
    assert seen == ["c.jpg"] * 3

    seen.clear()
    async with trio.open_nursery() as nursery:
        for f in FILES:

            async def bound(name: str) -> None:
                seen.append(name)

            nursery.start_soon(bound, f)
    assert sorted(seen) == FILES


if __name__ == "__main__":
    trio.run(main)
