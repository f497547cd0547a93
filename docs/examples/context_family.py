"""The rest of the context package: timeouts, deadlines, values, AfterFunc, Err, Cause.

In trio none of it is passed as an argument: a cancel scope covers everything that runs
inside its block, however deep, and context variables travel with the task.
WithCancel of one subtree is cancel_subtree.py. Guide: "context".
"""

import contextvars
import math
from collections.abc import Callable

import trio
import trio.testing

request_id = contextvars.ContextVar("request_id", default="-")  # context.WithValue's key


async def slow(seconds: float) -> str:
    await trio.sleep(seconds)
    return "done"


async def after_func(
    f: Callable[[], None],
    *,
    task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
) -> None:
    """context.AfterFunc(ctx, f): call f when the enclosing scope is cancelled.

    Start it with `stop = await nursery.start(after_func, f)`; `stop.cancel()` is
    AfterFunc's `stop()`: it ends the watcher without calling f.
    """
    with trio.CancelScope() as stop:
        task_status.started(stop)
        try:
            await trio.sleep_forever()
        finally:
            if not stop.cancel_called:
                f()


async def main() -> None:
    # WithTimeout + ctx.Err() == DeadlineExceeded: fail_after raises TooSlowError ...
    try:
        with trio.fail_after(1):
            await slow(2)
    except trio.TooSlowError:
        pass
    else:
        raise AssertionError("no timeout")
    # ... move_on_after gives up quietly and says so afterwards.
    with trio.move_on_after(1) as scope:
        await slow(2)
    assert scope.cancelled_caught  # ctx.Err() != nil, and it was this scope's deadline

    # WithDeadline, and ctx.Deadline(): an absolute time on trio's clock.
    assert trio.current_effective_deadline() == math.inf  # context.Background()
    deadline = trio.current_time() + 5
    with trio.move_on_at(deadline):  # noqa: ASYNC100 -- only reading the deadline
        assert trio.current_effective_deadline() == deadline
        with trio.move_on_after(60):  # noqa: ASYNC100 -- a child cannot extend its parent's deadline
            assert trio.current_effective_deadline() == deadline

    # ctx.Err() after the fact: cancel_called (requested) vs cancelled_caught (it landed).
    with trio.CancelScope() as scope:  # noqa: ASYNC100 -- on purpose
        scope.cancel()  # cancelled after its last checkpoint: nothing lands
    assert scope.cancel_called and not scope.cancelled_caught

    # WithCancelCause / context.Cause: a reason on the scope, read from the Cancelled.
    with trio.CancelScope() as scope:
        scope.cancel(reason="user pressed Enter")
        try:
            await trio.sleep(1)
        except trio.Cancelled as exc:
            assert exc.reason == "user pressed Enter"
            raise  # never swallow Cancelled

    # WithoutCancel: a shielded scope (bound it with its own deadline).
    with trio.move_on_after(1) as outer:
        outer.cancel()
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            assert await slow(0.5) == "done"  # a goodbye still gets sent
    assert outer.cancelled_caught is False  # nothing inside the shield saw the cancel

    # WithValue: a ContextVar. A task starts with a copy of the context of the task that
    # called start_soon, as it was at the call; what a child sets stays in the child.
    seen: list[str] = []

    async def handle() -> None:
        seen.append(request_id.get())
        request_id.set("changed by the child")

    token = request_id.set("req-42")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handle)
    assert seen == ["req-42"] and request_id.get() == "req-42"
    request_id.reset(token)

    # AfterFunc: f runs when the scope around the watcher is cancelled ...
    calls: list[str] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(after_func, lambda: calls.append("after"))
        nursery.cancel_scope.cancel()
    assert calls == ["after"]
    # ... and not after stop().
    async with trio.open_nursery() as nursery:
        stop = await nursery.start(after_func, lambda: calls.append("again"))
        stop.cancel()
    assert calls == ["after"]


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # virtual time
