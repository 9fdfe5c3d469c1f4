"""The threaded worker: its threads, their lifecycle, and the graceful stop.

A worker runs a dispatcher (:mod:`.dispatcher`) that claims due work for its idle threads, a
heartbeat (:mod:`.upkeep`) that keeps its leases, and ``threads`` worker threads that run what
is claimed (:mod:`.executor`), each on a connection of its own (:mod:`.lanes`). New work wakes
the dispatcher through the process's one LISTEN connection (:mod:`zart.store.listener`). A
thread that finishes a parallel child may bring back a sibling claimed in the same commit and
run it at once, without a claim round.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import TypeGuard

from .. import __version__
from ..durations import Duration, parse_duration
from ..errors import ConfigurationError, DatabaseUnavailable
from ..faults import SimulatedCrash
from ..queues import Queue, get_queue, registered_queues
from ..store import ChildClaim, Claim, Store
from ..store.listener import listener_for
from ..store.records import WorkerInfo
from ..workflow import registered_workflows
from .children import known_refs
from .dispatcher import Dispatcher, WorkQueue
from .executor import Executor
from .holdings import Holdings, Item, describe
from .lanes import Lane
from .pauses import PauseCache
from .retention import Retention
from .ticker import Ticker
from .upkeep import Heartbeat

__all__ = ["Worker"]

log = logging.getLogger(__name__)

_LISTEN_WAIT = 5.0
"""Seconds start() waits for the process's listener to listen for new work."""


class Worker:
    """Worker threads that run the workflows registered in this process.

    ``threads`` bounds how many executions (or parallel children) run at once; ``lease`` is how
    long a claim survives without a heartbeat (another worker takes over after it);
    ``poll_interval`` is the fallback polling period when no NOTIFY arrives; ``pool_size``
    the most connections the worker opens (by default one per thread, one for the dispatcher
    and the heartbeat, and room for timed transactional attempts abandoned at their timeout).
    With ``purge_after``, finished executions older than that are purged every
    ``purge_every`` (one worker at a time).
    """

    def __init__(self, dsn: str, schema: str, *, threads: int = 8, lease: float = 30.0,
                 poll_interval: float = 5.0, workflows: Sequence[str] | None = None,
                 max_lease_losses: int = 10, name: str | None = None,
                 pool_size: int | None = None, purge_after: Duration | None = None,
                 purge_every: Duration = "1h",
                 queues: Sequence[Queue | str] | None = None) -> None:
        _check_options(threads, lease, poll_interval, max_lease_losses, pool_size)
        self.purge_after = (None if purge_after is None
                            else parse_duration(purge_after, what="purge_after"))
        self.purge_every = parse_duration(purge_every, what="purge_every")
        if self.purge_every <= 0:
            raise ConfigurationError(f"purge_every must be more than 0, got {purge_every!r}")
        self.name = name or f"zart-worker-{uuid.uuid4().hex[:8]}"
        self.threads = threads
        self.lease = float(lease)
        self.poll_interval = float(poll_interval)
        names = list(workflows) if workflows is not None else sorted(registered_workflows())
        unknown = [n for n in names if n not in registered_workflows()]
        if unknown:
            raise ConfigurationError(f"worker asked to run unregistered workflow(s) {unknown}")
        self.workflows = names
        # Parallel children are claimed by the steps this process knows, whatever workflow
        # they belong to (and never by a worker that could not run them).
        self.steps = known_refs()
        # The queues served: those named, else every queue this process declares or its
        # workflows use. Their declared limits are stored when the worker starts.
        self.declared_queues = _queues(queues, names)
        self.queues = [q.name for q in self.declared_queues]
        self.store = Store(dsn, schema, min_size=1, max_size=pool_size or 2 * threads + 3,
                           name=self.name)
        self.info = WorkerInfo(uuid.uuid4(), self.name, socket.gethostname(), os.getpid(),
                               __version__, threads, self.lease, tuple(names))
        self.holdings = Holdings(self.store, threads)
        self.pauses = PauseCache(self.store)
        self.executor = Executor(self.store, max_lease_losses=max_lease_losses,
                                 should_stop=self._stopping_now, on_suspend=self._poke,
                                 lease=self.lease, claim_siblings=True,
                                 on_lost=self.holdings.lost, worker=self.info.id,
                                 pauses=self.pauses)
        self._queue: WorkQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._workers: list[threading.Thread] = []
        self._started = False
        self._stopping = threading.Event()
        self._hurry = threading.Event()
        self._threads_done = threading.Event()
        self._wake = threading.Event()

    def _stopping_now(self) -> bool:
        return self._stopping.is_set()

    def _poke(self) -> None:
        self._wake.set()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Worker:
        """Start the threads in the background (for WSGI apps and services); returns self."""
        if self._started:
            raise ConfigurationError(f"{self.name} is already started")
        self._started = True
        # Listening before the first claim round: work created after it is announced, work
        # created before it is found by it (if the database is down, polling covers it).
        listener = listener_for(self.store.dsn)
        self._subscriptions = [
            listener.subscribe(self.store.channel_work, lambda _: self._wake.set(),
                               wait=_LISTEN_WAIT),
            listener.subscribe(self.store.channel_pause, self.pauses.changed)]
        dispatcher = Dispatcher(self.holdings, self.info, self.steps, self.poll_interval,
                                self._queue, self._wake, self._stopping, self._supervise,
                                self.declared_queues,
                                Ticker(self.store, self.workflows, self.poll_interval),
                                self.pauses)
        self._dispatcher = self._spawn(dispatcher.run, "dispatcher")
        self._spawn(Heartbeat(self.holdings, self.info, self._threads_done, self.pauses).run,
                    "heartbeat")
        self._workers = [self._spawn(self._work, f"thread-{i}") for i in range(self.threads)]
        if self.purge_after is not None:
            self._spawn(Retention(self.store, self.purge_after, self.purge_every,
                                  self._threads_done).run, "retention")
        log.info("%s started: %d threads, lease %.1fs, workflows %s", self.name, self.threads,
                 self.lease, self.workflows)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully: nothing is claimed after, in-flight steps finish and checkpoint.

        Executions in the middle of a workflow are handed back between steps, so another
        worker continues them at once. Threads still busy after ``timeout`` (or when
        :meth:`hurry` is called) are left behind, and what they hold is handed back.
        """
        if not self._started or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        for subscription in self._subscriptions:
            listener_for(self.store.dsn).unsubscribe(subscription)
        deadline = time.monotonic() + timeout
        # The dispatcher first: a claim it has in flight must land in the queue before the
        # queue is drained, or it would be stranded until its lease expired.
        self._join([self._dispatcher], deadline)
        for _ in self._workers:
            self._queue.put(None)
        self._join(self._workers, deadline)
        self._release_unstarted()
        still = [t for t in self._workers if t.is_alive()]
        if still:  # hand back what they hold: their next write is refused
            for item in self.holdings.snapshot():
                self._hand_back(item)
        with contextlib.suppress(DatabaseUnavailable):  # still down: the leases run out
            self.holdings.return_unreturned()
        self._threads_done.set()
        self._join([t for t in self._threads if t not in self._workers], deadline)
        with contextlib.suppress(DatabaseUnavailable):
            self.store.worker_stopped(self.info)
        if still:
            log.warning("%s: %d thread(s) still busy after the stop; what they held was "
                        "handed back", self.name, len(still))
        else:
            self.store.close()
        log.info("%s stopped", self.name)

    def hurry(self) -> None:
        """Make a graceful stop in progress stop at once (a second Ctrl-C): threads still
        running steps are left behind and what they hold is handed back."""
        self._hurry.set()

    def _join(self, threads: list[threading.Thread], deadline: float) -> None:
        for thread in threads:
            while thread.is_alive() and not self._hurry.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                thread.join(min(left, 0.05))

    def run(self) -> None:
        """Run in the foreground until SIGINT or SIGTERM, then stop gracefully; a second
        signal during the stop stops at once, handing back what is still held."""
        done = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if done.is_set():
                log.warning("%s: signal %d again, stopping now; unfinished work is handed "
                            "back", self.name, signum)
                self.hurry()
                return
            log.info("%s: signal %d, stopping (again to stop at once)", self.name, signum)
            done.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while not done.wait(1.0):
                pass
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def busy(self) -> int:
        """How many threads are running work right now."""
        return self.threads - self.holdings.idle()

    def _spawn(self, target: Callable[[], None], role: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"{self.name}-{role}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def _supervise(self) -> None:
        """Replace a worker thread that died (it never should: every exception is caught), so
        the claim loop never hands work to a thread that is not there."""
        for index, thread in enumerate(self._workers):
            if not thread.is_alive() and not self._stopping.is_set():
                log.error("%s: %s died; starting a new one", self.name, thread.name)
                self._threads.remove(thread)
                self._workers[index] = self._spawn(self._work, f"thread-{index}")

    # -- worker threads ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._stopping.is_set():
                self._queue.put(item)  # released by stop()
                return
            current: Item | None = item
            while current is not None:  # a child's completion may bring a sibling to run next
                current = self._run(current)

    def _run(self, item: Item) -> ChildClaim | None:
        """Run one claimed item; a sibling child claimed with its outcome, to run next."""
        following: ChildClaim | None = None
        try:
            with Lane(self.store) as lane:
                if isinstance(item, Claim):
                    self.executor.run_execution(item, lane)
                else:
                    following = self.executor.run_child(item, lane)
        except DatabaseUnavailable as exc:
            # Infrastructure, not the workflow's fault: never fail the execution for it.
            # Hand it back if the database is reachable again, else its lease expires.
            log.warning("%s: %s; handing %s back", self.name, exc, describe(item),
                        extra={"execution_id": item.execution_id})
            self.store.purge_broken()
            self._hand_back(item)
        except SimulatedCrash as crash:
            # zart.testing's crash_at: this thread "died" here. What it held is left as a dead
            # worker leaves it, to be taken over once its lease runs out.
            log.info("%s: %s", self.name, crash, extra={"execution_id": item.execution_id})
        except BaseException:
            # A bug, not a fault of the infrastructure (user code's own exceptions, system
            # exits included, are recorded by the executor): this thread lives on. Do not hand
            # the work back for an instant retry (a hot loop): its lease expires, another claim
            # tries again, and repeated losses end the execution as failed (max_lease_losses).
            log.exception("%s: unexpected error running %s", self.name, describe(item),
                          extra={"execution_id": item.execution_id})
        finally:
            self._done(item, following)
        if following is not None and self._stopping.is_set():
            self._hand_back(following)  # claimed as the stop began: not ours to start
            self._done(following, None)
            return None
        return following

    def _hand_back(self, item: Item) -> None:
        """Make unfinished work claimable again now; if the database is unreachable, keep it
        for the dispatcher to return once it answers (its lease, meanwhile, runs out as usual,
        and another worker may take it over: the return then changes nothing)."""
        self.holdings.lost(item)  # if another worker took it over meanwhile, that was no crash
        try:
            self.holdings.release(item)
        except DatabaseUnavailable:
            log.info("%s: cannot hand %s back yet; will once the database answers", self.name,
                     describe(item))
            self.holdings.keep_unreturned(item)

    def _release_unstarted(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is None:
                continue
            self._hand_back(item)
            self._done(item)

    def _done(self, item: Item, following: ChildClaim | None = None) -> None:
        """``item`` is finished; its thread goes on with ``following`` (still busy, its lease
        renewed from now on) or is idle again."""
        if self.holdings.finished(item, following):
            self._wake.set()


def _queues(given: Sequence[Queue | str] | None, workflows: list[str]) -> list[Queue]:
    """The queues a worker serves, as declared (a name never declared: no limits)."""
    if given is not None:
        found = [get_queue(q) for q in given]
        return [q for q in found if q is not None]
    served = {q.name: q for q in registered_queues().values()}
    for name in workflows:
        queue = registered_workflows()[name].queue
        if queue is not None:
            served.setdefault(queue.name, queue)
    return list(served.values())


def _check_options(threads: object, lease: object, poll_interval: object,
                   max_lease_losses: object, pool_size: object) -> None:
    """Refuse settings that cannot work, naming the setting and the value."""
    if not _is_int(threads) or not 1 <= threads <= 512:
        raise ConfigurationError(f"threads must be between 1 and 512, got {threads!r} "
                                 f"(an int is expected)")
    if not _is_number(lease) or not 0.5 <= lease <= 86400:
        raise ConfigurationError(f"lease must be between 0.5 s and a day, got {lease!r}")
    if not _is_number(poll_interval) or not 0 < poll_interval <= 3600:
        raise ConfigurationError(f"poll_interval must be more than 0 and at most 3600 s, "
                                 f"got {poll_interval!r}")
    if not _is_int(max_lease_losses) or max_lease_losses < 0:
        raise ConfigurationError(f"max_lease_losses must be an int >= 0, got "
                                 f"{max_lease_losses!r}")
    if pool_size is not None and (not _is_int(pool_size) or pool_size < 2):
        raise ConfigurationError(f"pool_size must be an int >= 2 (or None for the default), "
                                 f"got {pool_size!r}")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))
