"""A small pool of forked reader processes for du3/du4, cancellable at once.

Reading directories on a warm cache is CPU-bound Python: threads only take turns on the GIL
(20 reader threads walk about twice as slowly as one). Worker processes read in parallel.

Why not ``trio_parallel``? It is good, but when a call is cancelled it kills the worker *and
waits for it to die* before the cancellation completes, and tearing down a process takes
several milliseconds here, too slow for du4's target of a few milliseconds from Enter to
totals. This pool kills a cancelled worker and returns at once; dead workers are reaped when
the pool closes, which is still inside ``main``: no process outlives the program.

A job is ``function(*args)`` pickled over a pipe; the function must be importable by name
(a module-level function), since the workers are forked from this process.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import attrs
import trio

__all__ = ["ReaderPool", "WorkerDied"]

T = TypeVar("T")
_fork = multiprocessing.get_context("fork")


class WorkerDied(RuntimeError):
    """A reader process ended without answering (killed from outside, or out of memory)."""


def _serve(jobs: multiprocessing.connection.Connection) -> None:
    """The worker's loop: run each job and send back ``(ok, value)`` until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            function, args = pickle.loads(jobs.recv_bytes())
        except EOFError:
            os._exit(0)
        try:
            reply = (True, function(*args))
        except BaseException as exc:  # sent back and raised in the parent
            reply = (False, exc)
        try:
            message = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            message = pickle.dumps((False, RuntimeError(f"unpicklable reply: {exc!r}")))
        jobs.send_bytes(message)


@attrs.define(eq=False)
class _Worker:
    process: multiprocessing.process.BaseProcess
    pipe: multiprocessing.connection.Connection
    exitcode: int | None = None  # known once the pool has reaped it


class ReaderPool:
    """At most *size* worker processes, started on demand and reused.

    Use as ``async with ReaderPool(2) as readers: await readers.run_sync(f, x)``.
    """

    def __init__(self, size: int | None = None) -> None:
        self.size = size or os.cpu_count() or 1
        self._limiter = trio.CapacityLimiter(self.size)
        self._idle: list[_Worker] = []
        self._every: list[_Worker] = []

    async def __aenter__(self) -> ReaderPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with trio.CancelScope(shield=True):
            for worker in self._every:
                if worker.process.exitcode is None:
                    worker.process.kill()
            for worker in self._every:
                await trio.lowlevel.wait_readable(worker.process.sentinel)
                worker.process.join()
                worker.exitcode = worker.process.exitcode
                # Tell trio before closing descriptors it has watched, so a reused number
                # cannot inherit the old registration.
                trio.lowlevel.notify_closing(worker.process.sentinel)
                worker.process.close()
                trio.lowlevel.notify_closing(worker.pipe.fileno())
                worker.pipe.close()

    def _start_worker(self) -> _Worker:
        parent_end, child_end = _fork.Pipe()
        process = _fork.Process(target=_serve, args=(child_end,), daemon=True)
        process.start()
        child_end.close()
        worker = _Worker(process, parent_end)
        self._every.append(worker)
        return worker

    def _take_worker(self) -> _Worker:
        """An idle worker that is still alive (one may have been killed meanwhile), or a new one."""
        while self._idle:
            worker = self._idle.pop()
            if worker.process.is_alive():
                return worker
        return self._start_worker()

    async def run_sync(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` in a worker process and return its result.

        On cancellation the worker is killed at once and the call raises ``Cancelled``
        without waiting for the process to go away.
        """
        async with self._limiter:
            worker = self._take_worker()
            job = pickle.dumps((function, args), pickle.HIGHEST_PROTOCOL)
            try:
                worker.pipe.send_bytes(job)
                await trio.lowlevel.wait_readable(worker.pipe.fileno())
                # Readable means the reply is being written; reading it does not wait long.
                ok, value = pickle.loads(worker.pipe.recv_bytes())
            except (EOFError, OSError):
                worker.process.kill()
                raise WorkerDied(f"reader process {worker.process.pid} died") from None
            except BaseException:  # cancelled: kill now, reap in __aexit__
                worker.process.kill()
                raise
            self._idle.append(worker)
        if not ok:
            raise value
        result: T = value
        return result
