"""The threaded worker pool: claim loop, leases and heartbeats, NOTIFY listener, graceful stop.

One dispatcher thread claims due work, never more than there are idle threads, in one
statement (``FOR UPDATE SKIP LOCKED``), and hands it to the worker threads. It sleeps until a
NOTIFY arrives (new work, an event, a barrier), a thread frees up, or the next known due time
(a sleep, a retry, a lease expiry); polling at ``poll_interval`` is only the fallback. A
thread that finishes a parallel child may bring back a sibling claimed in the same commit and
run it at once, without a claim round. A heartbeat thread renews the leases of everything
held, in one statement per table. Work that could not be handed back during an outage is
returned by the dispatcher as soon as the database answers.
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
from collections.abc import Sequence
from types import FrameType, TracebackType
from typing import Any

from .. import __version__
from ..errors import ConfigurationError, DatabaseUnavailable
from ..store import ChildClaim, Claim, Store, translate_errors
from ..store.records import WorkerInfo
from ..workflow import registered_workflows
from .children import known_refs
from .executor import Executor
from .lanes import Lane

__all__ = ["Worker"]

log = logging.getLogger("zart")

_Item = Claim | ChildClaim | None

_RECHECK_LOCKED = 0.1
"""Seconds before looking again at due work that another worker holds locked."""


def idle_wait(poll_interval: float, due: float | None) -> float:
    """How long an idle dispatcher waits before its next claim round, given ``due``: seconds
    until the next known due work (negative or zero: already due), None if none is known.

    Due in the future, however soon: exactly that long (a sleep due in half a millisecond must
    not wait out the recheck), at least half a millisecond. Already due but not claimed:
    another worker holds it locked (mid-claim or mid-checkpoint), so look again a little later
    rather than spin. Never longer than the poll interval (the fallback to NOTIFY).
    """
    if due is None:
        return poll_interval
    return min(poll_interval, max(due, 0.0005) if due > 0 else _RECHECK_LOCKED)


class Worker:
    """Worker threads that run the workflows registered in this process.

    ``threads`` bounds how many executions (or parallel children) run at once; ``lease`` is how
    long a claim survives without a heartbeat (another worker takes over after it);
    ``poll_interval`` is the fallback polling period when no NOTIFY arrives.
    """

    def __init__(self, dsn: str, schema: str, *, threads: int = 8, lease: float = 30.0,
                 poll_interval: float = 5.0, workflows: Sequence[str] | None = None,
                 max_lease_losses: int = 10, name: str | None = None) -> None:
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
        # One connection per thread, the dispatcher's and the heartbeat's, and room for the
        # connections of timed transactional attempts abandoned at their timeout (each keeps
        # its own until it ends; see zart.lanes).
        self.store = Store(dsn, schema, min_size=1, max_size=2 * threads + 3, name=self.name)
        self.info = WorkerInfo(uuid.uuid4(), self.name, socket.gethostname(), os.getpid(),
                               __version__, threads, self.lease, tuple(names))
        self.executor = Executor(self.store, max_lease_losses=max_lease_losses,
                                 should_stop=self._stop_flag, on_suspend=self._poke,
                                 lease=self.lease, claim_siblings=True, on_lost=self._lost,
                                 worker=self.info.id)
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._held: dict[uuid.UUID, Claim | ChildClaim] = {}
        # Work a thread gave up on because the database was unreachable even for the hand-back
        # (an outage longer than the pool's timeout): returned as soon as it answers again, so
        # the outage costs neither a lease's wait nor a counted lost lease.
        self._unreturned: list[Claim | ChildClaim] = []
        # Work taken over from this worker while it was alive: the lost leases the takeovers
        # counted are given back by the heartbeat (retried until the database answers).
        self._refunds: dict[uuid.UUID, Claim | ChildClaim] = {}
        self._lock = threading.Lock()
        self._busy = 0
        self._started = False
        self._stopping = threading.Event()
        self._threads_done = threading.Event()
        self._wake = threading.Event()
        self._workers: list[threading.Thread] = []

    def _stop_flag(self) -> bool:
        return self._stopping.is_set()

    def _poke(self) -> None:
        self._wake.set()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Worker:
        """Start the threads in the background (for WSGI apps and services); returns self."""
        if self._started:
            raise ConfigurationError(f"{self.name} is already started")
        self._started = True
        self._dispatcher = self._spawn(self._dispatch, "dispatcher")
        self._spawn(self._listen, "listener")
        self._spawn(self._heartbeat, "heartbeat")
        self._workers = [self._spawn(self._work, f"thread-{i}") for i in range(self.threads)]
        log.info("%s started: %d threads, lease %.1fs, workflows %s", self.name, self.threads,
                 self.lease, self.workflows)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully: nothing is claimed after, in-flight steps finish and checkpoint.

        Executions in the middle of a workflow are handed back between steps, so another
        worker continues them at once. Threads still busy after ``timeout`` are left behind;
        their leases expire and other workers take their work over.
        """
        if not self._started or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        # The dispatcher first: a claim it has in flight must land in the queue before the
        # queue is drained, or it would be stranded until its lease expired.
        self._dispatcher.join(max(0.0, deadline - time.monotonic()))
        for _ in self._workers:
            self._queue.put(None)
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._release_unstarted()
        with contextlib.suppress(DatabaseUnavailable):  # still down: the leases run out
            self._return_unreturned()
        self._threads_done.set()
        for thread in self._threads:
            if thread not in self._workers:
                thread.join(max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(DatabaseUnavailable):
            self.store.worker_stopped(self.info)
        still = [t.name for t in self._workers if t.is_alive()]
        if still:
            log.warning("%s: %d thread(s) still busy after %.1fs; their leases will expire",
                        self.name, len(still), timeout)
        else:
            self.store.close()
        log.info("%s stopped", self.name)

    def run(self) -> None:
        """Run in the foreground until SIGINT or SIGTERM, then stop gracefully."""
        done = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("%s: signal %d, stopping", self.name, signum)
            done.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while not done.wait(1.0):
                pass
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
        with self._lock:
            return self._busy

    def _spawn(self, target: Any, role: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"{self.name}-{role}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    # -- dispatcher -------------------------------------------------------------------------

    def _dispatch(self) -> None:
        backoff = 0.05
        while not self._stopping.is_set():
            self._wake.clear()
            self._supervise()
            try:
                self._return_unreturned()
                full = self._claim_round()
                backoff = 0.05
                if full:
                    continue
                due = (self.store.next_due(self.workflows, self.steps) if self._idle()
                       else None)
                wait = idle_wait(self.poll_interval, due)
            except DatabaseUnavailable as exc:
                log.warning("%s: %s; retrying in %.2fs", self.name, exc, backoff)
                self.store.purge_broken()
                wait, backoff = backoff, min(backoff * 2, 5.0)
            except BaseException:  # supervised: the claim loop never dies of a bug
                log.exception("%s: claim loop error", self.name)
                wait = self.poll_interval
            self._wake.wait(wait)

    def _supervise(self) -> None:
        """Replace a worker thread that died (it never should: every exception is caught), so
        the claim loop never hands work to a thread that is not there."""
        for index, thread in enumerate(self._workers):
            if not thread.is_alive() and not self._stopping.is_set():
                log.error("%s: %s died; starting a new one", self.name, thread.name)
                self._threads.remove(thread)
                self._workers[index] = self._spawn(self._work, f"thread-{index}")

    def _idle(self) -> int:
        with self._lock:
            return self.threads - self._busy

    def _claim_round(self) -> bool:
        """Claim for the idle threads; True if there may be more due work right now."""
        idle = self._idle()
        if idle <= 0:
            return False
        executions = self.store.claim_executions(self.workflows, idle, self.lease,
                                                 worker=self.info.id)
        self._hand_out(executions)  # before claiming children: a thread can start at once
        children: list[ChildClaim] = []
        if len(executions) < idle:
            children = self.store.claim_children(self.steps, idle - len(executions),
                                                 self.lease, worker=self.info.id)
            self._hand_out(children)
        claimed = len(executions) + len(children)
        return claimed > 0 and claimed == idle and self._idle() > 0

    def _hand_out(self, claimed: Sequence[Claim | ChildClaim]) -> None:
        with self._lock:
            self._busy += len(claimed)
            for item in claimed:
                self._held[item.owner] = item
        for item in claimed:
            self._queue.put(item)

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

    # -- worker threads ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item: _Item = self._queue.get()
            if item is None:
                return
            if self._stopping.is_set():
                self._queue.put(item)  # released by stop()
                return
            while item is not None:  # a child's completion may bring a sibling to run next
                item = self._run(item)

    def _run(self, item: Claim | ChildClaim) -> ChildClaim | None:
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
            log.warning("%s: %s; handing %s back", self.name, exc, _describe(item))
            self.store.purge_broken()
            self._hand_back(item)
        except BaseException:
            # A bug, not a fault of the infrastructure (user code's own exceptions, system
            # exits included, are recorded by the executor): this thread lives on. Do not hand
            # the work back for an instant retry (a hot loop): its lease expires, another claim
            # tries again, and repeated losses end the execution as failed (max_lease_losses).
            log.exception("%s: unexpected error running %s", self.name, _describe(item))
        finally:
            self._done(item, following)
        if following is not None and self._stopping.is_set():
            self._hand_back(following)  # claimed as the stop began: not ours to start
            self._done(following, None)
            return None
        return following

    def _hand_back(self, item: Claim | ChildClaim) -> None:
        """Make unfinished work claimable again now; if the database is unreachable, keep it
        for the dispatcher to return once it answers (its lease, meanwhile, runs out as usual,
        and another worker may take it over: the return then changes nothing)."""
        self._lost(item)  # if another worker took it over meanwhile, that was no crash
        try:
            self._release(item)
        except DatabaseUnavailable:
            log.info("%s: cannot hand %s back yet; will once the database answers", self.name,
                     _describe(item))
            with self._lock:
                self._unreturned.append(item)

    def _lost(self, item: Claim | ChildClaim) -> None:
        """``item`` was taken over (or may have been) while this worker was alive."""
        with self._lock:
            self._refunds[item.owner] = item

    def _release(self, item: Claim | ChildClaim) -> None:
        if isinstance(item, Claim):
            self.store.release(item)
        else:
            self.store.release_child(item)

    def _return_unreturned(self) -> None:
        """Hand back what could not be handed back during an outage (DatabaseUnavailable
        propagates, with what is left kept for the next round)."""
        with self._lock:
            pending, self._unreturned = self._unreturned, []
        try:
            while pending:
                self._release(pending[0])
                pending.pop(0)
        finally:
            if pending:
                with self._lock:
                    self._unreturned[:0] = pending

    def _done(self, item: Claim | ChildClaim, following: ChildClaim | None = None) -> None:
        """``item`` is finished; its thread goes on with ``following`` (still busy, its lease
        renewed from now on) or is idle again."""
        with self._lock:
            self._held.pop(item.owner, None)
            if following is not None:
                self._held[following.owner] = following
                return
            self._busy -= 1
        self._wake.set()

    # -- listener and heartbeat -------------------------------------------------------------

    def _listen(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                with self.store.connect() as conn, translate_errors():
                    self.store.listen(conn, self.store.channel_work)
                    backoff = 0.1
                    self._wake.set()  # anything announced while we were not listening
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake.set()
            except DatabaseUnavailable as exc:
                log.warning("%s: listener: %s; reconnecting in %.1fs", self.name, exc, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except BaseException:  # supervised: polling alone would still find the work
                log.exception("%s: listener error; reconnecting in %.1fs", self.name, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _heartbeat(self) -> None:
        # Its own event, set by stop() once the worker threads are done: leases of steps still
        # finishing during a graceful stop must keep being renewed.
        interval = self.lease / 3
        missed_before: set[uuid.UUID] = set()
        first = True  # the first beat at once: the worker shows in the workers table
        while first or not self._threads_done.wait(interval):
            first = False
            try:
                missed_before = self._beat(missed_before)
            except DatabaseUnavailable as exc:
                log.warning("%s: heartbeat: %s", self.name, exc)
            except BaseException:  # supervised: the heartbeat never dies of a bug
                log.exception("%s: heartbeat error", self.name)
        with contextlib.suppress(DatabaseUnavailable):
            self._flush_refunds()

    def _beat(self, missed_before: set[uuid.UUID]) -> set[uuid.UUID]:
        """Renew every lease held, give back lost leases; the tokens missed this time."""
        self._flush_refunds()
        with self._lock:
            held = list(self._held.values())
        executions = [(h.execution_id, h.owner) for h in held if isinstance(h, Claim)]
        children = [(h.execution_id, h.seq, h.owner) for h in held
                    if isinstance(h, ChildClaim)]
        started = time.monotonic()
        alive = self.store.heartbeat(self.info, executions, children)
        for item in held:
            if item.owner in alive:
                item.expires = started + self.lease
        # A token the heartbeat did not renew is usually work that just finished (its
        # last transaction committed before the thread let go of it): only one still held
        # has really been lost, to a takeover or a cancel, while this worker is alive.
        with self._lock:
            missed = {h.owner for h in held if h.owner not in alive and h.owner in self._held}
        for item in held:
            if item.owner in missed:
                self._lost(item)
                if item.owner in missed_before:
                    log.warning("%s: lease of %s lost; its next write will be refused",
                                self.name, _describe(item))
        return missed

    def _flush_refunds(self) -> None:
        with self._lock:
            refunds, self._refunds = self._refunds, {}
        if not refunds:
            return
        try:
            self.store.refund_lost(list(refunds.values()))
        except BaseException:
            with self._lock:
                self._refunds = {**refunds, **self._refunds}
            raise


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _describe(item: Claim | ChildClaim) -> str:
    if isinstance(item, Claim):
        return f"execution {item.execution_id}"
    return f"step {item.name!r} of execution {item.execution_id}"
