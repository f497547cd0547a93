"""Reader processes for du3/du4: one per core, each running many reads at once in threads.

Reading directories on a warm cache is CPU-bound Python: threads only take turns on the GIL
(20 reader threads walk about twice as slowly as one), so the reads run in one worker
process per core. On slow storage a read spends nearly all its time waiting in a system
call, with the GIL released, so many reads wait at once -- as threads *inside* those
processes. How many jobs may run at once is :attr:`ReaderPool.limit`; it can change during
a walk (``_pace.py`` sets it from what the storage costs).

Why not threads in the program's own process, on slow storage? Because of a hung mount. A
thread stuck in an uninterruptible ``stat`` keeps its whole process alive: ``os._exit``
cannot finish and the shell waits for ever. A stuck *child* process can be left behind: the
program exits and the kernel hands the child to init. And why only one process per core?
Because ending a process costs about 0.6 ms of CPU here: twenty of them, killed together,
delayed du4's exit by 13 ms.

Why not ``trio_parallel``? When a call is cancelled it kills the worker *and waits for it to
die*; a process stuck in the kernel never dies. Here a cancelled call returns at once and
its job, bounded in time by the caller, runs out unheard. Leaving the pool kills every
worker and waits at most :data:`REAP_GRACE` for one that cannot go -- stuck in the kernel
(state D), where even SIGKILL waits for the call to return. Such a worker is left behind
and listed in :attr:`ReaderPool.stuck` with what its threads were reading
(:func:`note_writer`). That is the one exception to "nothing outlives main", taken knowingly:
the alternative is a program that cannot be stopped.

A job is ``function(*args)`` pickled over a pipe; the function must be importable by name
(a module-level function), since the workers are forked from this process.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import multiprocessing
import multiprocessing.connection
import os
import pickle
import select
import signal
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, TypeVarTuple

import attrs
import trio

__all__ = [
    "REAP_GRACE",
    "REAP_LIMIT",
    "ReaderPool",
    "Stuck",
    "WorkerDied",
    "job_pipe",
    "note_writer",
    "open_reader_pool",
]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
_fork = multiprocessing.get_context("fork")

#: How long leaving the pool waits for a killed worker that cannot go (seconds): one in an
#: uninterruptible kernel call. A killed worker normally goes in a millisecond or two.
REAP_GRACE = 0.010
#: ... and how long at most for one that is merely slow to go (a heavily loaded machine).
REAP_LIMIT = 1.0
#: The most jobs one worker process runs at once (its threads start on demand).
THREADS_PER_WORKER = 64
_NOTE_SIZE = 4096  # bytes of a thread's last note that the parent can read back

# In a worker process:
_notes: mmap.mmap | None = None  # one note per thread, which the parent reads if it hangs
_jobs: int | None = None  # the descriptor its jobs arrive on
_thread = threading.local()  # .note: this thread's note number


class WorkerDied(RuntimeError):
    """A reader process ended without answering (killed from outside, or out of memory)."""


@attrs.frozen
class Stuck:
    """A worker that was killed but had not gone when the pool closed."""

    pid: int
    notes: list[str]  # what its busy threads announced last, e.g. the directories they read


def note_writer() -> Callable[[str], None]:
    """In a worker: a function that records what this thread is doing now, e.g. the directory
    it reads (the parent reads the last note back if the thread hangs).

    A call costs a few tenths of a microsecond, little enough for once per directory: get
    the function once per job, not once per note. Outside a worker it does nothing.
    """
    notes = _notes
    if notes is None:
        return _no_note
    start = _thread.note * _NOTE_SIZE

    def write_note(note: str) -> None:
        # Cut to fit, and ended by a NUL, which no path contains.
        data = note.encode("utf-8", "surrogateescape")[: _NOTE_SIZE - 1] + b"\0"
        notes[start : start + len(data)] = data

    return write_note


def _no_note(note: str) -> None:
    pass


def job_pipe() -> int | None:
    """In a worker: the descriptor its jobs arrive on (end of file once the pool closes)."""
    return _jobs


def _read_notes(notes: mmap.mmap) -> list[str]:
    found = []
    for start in range(0, len(notes), _NOTE_SIZE):
        end = notes.find(b"\0", start, start + _NOTE_SIZE)
        if end > start:
            found.append(os.fsdecode(notes[start:end]))
    return found


_PF_EXITING = 0x4  # a task's flag (field 9 of /proc/PID/task/TID/stat): it is in do_exit


def _cannot_go(pid: int | None) -> bool:
    """True if a killed process will not go soon.

    Either a thread of it waits in the kernel (state D) and has not begun to exit: a read on
    a hung mount, which SIGKILL does not end until the call returns. Or the process has
    exited (only its zombie is left) but is not seen to go because something else holds its
    descriptors, as ``_slowfs``'s imitation of a hung mount does. A process that is merely
    slow to exit -- its threads tearing down, in state D too at times, on a loaded machine --
    is neither, and is waited for.
    """
    states = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
            states.append((fields[0], int(fields[6])))
    except (OSError, IndexError, ValueError):
        return True  # already reaped, or gone while we looked
    if any(state == b"D" and not flags & _PF_EXITING for state, flags in states):
        return True
    return [state for state, _ in states] == [b"Z"]


def _serve(jobs: multiprocessing.connection.Connection, notes: mmap.mmap, alive: int) -> None:
    """The worker: run each job (in turn on this thread, or in a thread of its own) and send
    back ``(job, ok, value)``.

    Ends when the pipe closes. *alive* is the write end of a pipe that the worker only holds:
    the parent sees the worker gone when its read end reports end of file.
    """
    global _notes, _jobs
    _notes, _jobs = notes, jobs.fileno()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's trio handler
    signal.set_wakeup_fd(-1)
    # A worker left stuck must hold nothing of the program's open: not its terminal or output
    # pipes (whose readers would wait for end of file), nor the other workers' pipes.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    low = 3
    for keep in sorted((_jobs, alive)):
        os.closerange(low, keep)
        low = keep + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))

    sending = threading.Lock()
    numbers = itertools.count()

    def run(job: int, function: Callable[..., object], args: tuple[object, ...]) -> None:
        if not hasattr(_thread, "note"):
            _thread.note = next(numbers)
        try:
            reply = (job, True, function(*args))
        except BaseException as exc:  # sent back and raised in the parent
            reply = (job, False, exc)
        note_writer()("")  # idle
        try:
            message = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            failure = RuntimeError(f"unpicklable reply: {exc!r}")
            message = pickle.dumps((job, False, failure))
        with sending:
            jobs.send_bytes(message)

    threads = ThreadPoolExecutor(THREADS_PER_WORKER)
    while True:
        try:
            job, function, args, in_turn = pickle.loads(jobs.recv_bytes())
        except EOFError:
            os._exit(0)
        if in_turn:  # after the job before it, with no hop to a thread
            run(job, function, args)
        else:
            threads.submit(run, job, function, args)


@attrs.define(eq=False)
class _Reply:
    done: trio.Event = attrs.Factory(trio.Event)
    ok: bool = False
    value: Any = None


@attrs.define(eq=False)
class _Worker:
    process: multiprocessing.process.BaseProcess
    pipe: multiprocessing.connection.Connection
    notes: mmap.mmap
    alive: int  # end of file once the worker has gone
    waiting: dict[int, _Reply] = attrs.Factory(dict)  # jobs sent, replies not yet read
    dead: bool = False  # its pipe reported end of file
    gone: bool = False  # reaped


class ReaderPool:
    """Worker processes started on demand, at most *processes*; at most :attr:`limit` jobs
    running at once, spread evenly over the processes. Made by :func:`open_reader_pool`.

    While there are no more jobs at once than processes (CPU-bound reading: one per core),
    each worker runs its jobs one after another on its main thread. When there are exactly as
    many, each is also sent its next job while it still runs one: that job waits in its pipe
    and starts the moment the one before ends, instead of after a round trip through this
    process (on a warm cache many of du's jobs take a millisecond or less, and the round trip
    after each left a core idle).
    """

    def __init__(self, nursery: trio.Nursery, processes: int, limit: int) -> None:
        self._nursery = nursery
        self.processes = processes
        self._limit = limit
        self._limiter = trio.CapacityLimiter(self._jobs_sent_at_most(limit))
        self._every: list[_Worker] = []
        self._ids = itertools.count()
        self.busy = 0  # jobs sent and not answered yet (running, or next in line)
        self.peak_running = 0  # the most jobs that ever ran at once
        self.stuck: list[Stuck] = []  # filled in when the pool closes

    @property
    def limit(self) -> int:
        """How many jobs may run at once; raise or lower it at any time."""
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._limit = value
        tokens = self._jobs_sent_at_most(value)
        if tokens != self._limiter.total_tokens:
            self._limiter.total_tokens = tokens  # running jobs keep their places

    @property
    def running(self) -> int:
        """Jobs running now (the rest of :attr:`busy` wait for the one before them)."""
        return min(self.busy, self._limit)

    def _jobs_sent_at_most(self, limit: int) -> int:
        return 2 * limit if limit == self.processes else limit  # (a next job for each)

    async def run_sync(self, function: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run ``function(*args)`` in a worker process and return its result.

        Cancelled, the call returns at once; the job runs out in its worker, unheard (bound
        its time if that matters), or ends with the pool.
        """
        async with self._limiter:
            worker = self._choose_worker()
            job = next(self._ids)
            # No more jobs at once than workers (CPU-bound reading): the worker runs them on
            # its main thread, one after another; otherwise in threads, all at once.
            in_turn = self._limit <= self.processes
            reply = worker.waiting[job] = _Reply()
            message = pickle.dumps((job, function, args, in_turn), pickle.HIGHEST_PROTOCOL)
            try:
                worker.pipe.send_bytes(message)
            except OSError:
                self._died(worker)
            self.busy += 1
            self.peak_running = max(self.peak_running, self.running)
            try:
                await reply.done.wait()
            finally:
                self.busy -= 1
        if not reply.ok:
            raise reply.value
        result: T = reply.value
        return result

    def _choose_worker(self) -> _Worker:
        """The live worker with the fewest jobs; a new one while some are busy and too few."""
        live = [worker for worker in self._every if not worker.dead]
        least = min(live, key=lambda worker: len(worker.waiting), default=None)
        if least is not None and (not least.waiting or len(live) >= self.processes):
            return least
        return self._start_worker()

    def _start_worker(self) -> _Worker:
        parent_end, child_end = _fork.Pipe()
        notes = mmap.mmap(-1, _NOTE_SIZE * THREADS_PER_WORKER)  # shared across fork
        alive, held = os.pipe()
        process = _fork.Process(target=_serve, args=(child_end, notes, held), daemon=True)
        process.start()
        child_end.close()
        os.close(held)
        worker = _Worker(process, parent_end, notes, alive)
        self._every.append(worker)
        self._nursery.start_soon(self._receive, worker)
        return worker

    async def _receive(self, worker: _Worker) -> None:
        """Hand each reply of *worker* to the call waiting for it, until the pipe closes."""
        while not worker.dead:
            await trio.lowlevel.wait_readable(worker.pipe.fileno())
            try:
                # Readable means a reply is being written; reading it does not wait long.
                job, ok, value = pickle.loads(worker.pipe.recv_bytes())
            except (EOFError, OSError):
                self._died(worker)
                return
            reply = worker.waiting.pop(job)
            reply.ok, reply.value = ok, value
            reply.done.set()

    def _died(self, worker: _Worker) -> None:
        worker.dead = True
        worker.process.kill()  # if it is not quite gone
        for reply in worker.waiting.values():
            reply.value = WorkerDied(f"reader process {worker.process.pid} died")
            reply.done.set()
        worker.waiting.clear()

    async def _close(self) -> None:
        """Kill every worker and reap them, leaving behind those that cannot go."""
        for worker in self._every:
            if not worker.dead:
                worker.process.kill()
        await self._reap()
        for worker in self._every:
            if not worker.gone:  # left behind: it dies when its kernel call returns
                self.stuck.append(Stuck(worker.process.pid or 0, _read_notes(worker.notes)))
                os.close(worker.alive)
            trio.lowlevel.notify_closing(worker.pipe.fileno())
            worker.pipe.close()
            worker.notes.close()

    async def _reap(self) -> None:
        """Wait for the killed workers to go, except for those that cannot go.

        A worker still there after REAP_GRACE is given up on if it cannot go (see
        :func:`_cannot_go`); one that is merely slow to go is waited for up to REAP_LIMIT.
        """
        started = trio.current_time()
        waiting = list(self._every)
        while waiting:
            ready, _, _ = select.select([w.alive for w in waiting], [], [], 0)
            for worker in [w for w in waiting if w.alive in ready]:
                worker.process.join()
                worker.process.close()
                os.close(worker.alive)
                worker.gone = True
                waiting.remove(worker)
            waited = trio.current_time() - started
            if not waiting or waited >= REAP_LIMIT:
                return
            if waited >= REAP_GRACE and all(_cannot_go(w.process.pid) for w in waiting):
                return
            await trio.sleep(0.0005)


@contextlib.asynccontextmanager
async def open_reader_pool(
    limit: int | None = None, processes: int | None = None
) -> AsyncIterator[ReaderPool]:
    """A :class:`ReaderPool` whose workers end with the block (or are left, stuck).

    *processes* defaults to one per core, *limit* (jobs at once) to the same number.
    """
    cores = os.cpu_count() or 1
    pool: ReaderPool | None = None
    try:
        async with trio.open_nursery() as nursery:  # the reply receivers
            pool = ReaderPool(nursery, processes or cores, limit or processes or cores)
            try:
                yield pool
            finally:
                nursery.cancel_scope.cancel()
    finally:
        if pool is not None:
            with trio.CancelScope(shield=True):
                await pool._close()
