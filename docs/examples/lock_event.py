"""sync.Mutex and a reusable signal: what trio.Lock and trio.Event will not do.

* Go lets any goroutine `Unlock` a Mutex another one locked (a hand-off). trio.Lock and
  trio.CapacityLimiter belong to the task that acquired them: releasing from another task
  raises `RuntimeError`. For a hand-off use `trio.Semaphore(1)`, which has no owner.
* A Go `chan struct{}` that is closed is closed for good, like trio.Event; but code ported
  from `threading.Event` or a `sync.Cond` wants to clear and wait again. trio.Event has no
  `clear()` (deprecated in trio 0.12 and since removed, trio #637): make a new Event for each round
  (`Changed` in select_send.py). Guide: "sync.Mutex".
"""

import trio


async def main() -> None:
    lock = trio.Lock()
    await lock.acquire()

    async def unlock_elsewhere() -> None:
        lock.release()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(unlock_elsewhere)
    except* RuntimeError:
        pass
    else:
        raise AssertionError("a trio.Lock released by another task")
    lock.release()

    # The hand-off, with a semaphore: one task takes it, another gives it back.
    token = trio.Semaphore(1)
    await token.acquire()

    async def give_back() -> None:
        token.release()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(give_back)
    assert token.value == 1

    # An Event is set once.
    event = trio.Event()
    event.set()
    assert event.is_set() and not hasattr(event, "clear")

    # A Lock does not make an await-free section any safer: it is already atomic. Hold one
    # only across awaits, and never expect it to be re-entrant (Go's Mutex is not either).
    try:
        async with lock:
            await lock.acquire()
    except RuntimeError:  # trio detects the self-deadlock instead of hanging
        pass
    else:
        raise AssertionError("a trio.Lock taken twice by one task")


if __name__ == "__main__":
    trio.run(main)
