"""context.WithCancel for one subtree: cancel the server, keep its sibling handlers.

A goroutine tree in Go is cancelled by the `cancel` function of the context it was given;
its siblings, given other contexts, run on. A nursery's own cancel scope covers *every*
task in it, so cancelling it to stop one task stops them all. Give the one task a scope of
its own: create a `trio.CancelScope` outside and enter it inside the task, or let the task
hand its scope back through `task_status.started`. Guide: "context".
"""

from functools import partial

import trio
import trio.testing


async def handler(name: str, log: list[str]) -> None:
    try:
        await trio.sleep(1)  # a client connection still being served
        log.append(f"{name} done")
    except trio.Cancelled:
        log.append(f"{name} cancelled")
        raise


async def accept_loop(log: list[str]) -> None:
    try:
        await trio.sleep_forever()  # stands for `while True: await listener.accept()`
    finally:
        log.append("server stopped")


# Form 1: the scope is created by the caller and entered by the task.
async def serve_in(scope: trio.CancelScope, log: list[str]) -> None:
    with scope:
        await accept_loop(log)


# Form 2: the task makes its own scope and hands it back, as `ctx, cancel := ...` returns cancel.
async def serve(
    log: list[str], *, task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.CancelScope() as scope:
        task_status.started(scope)
        await accept_loop(log)


async def main() -> None:
    # Wrong: cancelling the nursery to stop the server also cancels the handlers.
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept_loop, log)
        nursery.start_soon(handler, "a", log)
        await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    assert sorted(log) == ["a cancelled", "server stopped"]

    # Form 1.
    log = []
    async with trio.open_nursery() as nursery:
        server_scope = trio.CancelScope()
        nursery.start_soon(serve_in, server_scope, log)
        nursery.start_soon(handler, "a", log)
        await trio.sleep(0.5)
        server_scope.cancel()  # Go: cancel()
    assert log == ["server stopped", "a done"]

    # Form 2 (and `start` passes no keyword arguments: bind them with functools.partial).
    log = []
    async with trio.open_nursery() as nursery:
        server_scope = await nursery.start(partial(serve, log=log))
        nursery.start_soon(handler, "b", log)
        await trio.sleep(0.5)
        server_scope.cancel()
    assert log == ["server stopped", "b done"]

    # The scope is still inside the nursery: cancelling the parent reaches it, as cancelling
    # a parent context reaches its children.
    log = []
    with trio.move_on_after(0.5):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(serve, log=log))
    assert log == ["server stopped"]

    # A scope can be cancelled before the task enters it (the task stops at its first
    # checkpoint), but it can be entered only once.
    early = trio.CancelScope()
    early.cancel()
    log = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_in, early, log)
    assert log == ["server stopped"]
    try:
        with early:
            pass
    except RuntimeError:
        pass
    else:
        raise AssertionError("a CancelScope entered twice")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
