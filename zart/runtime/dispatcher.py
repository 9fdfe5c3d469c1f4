"""A worker's dispatcher: claims due work for its idle threads and hands it to them.

It claims never more than there are idle threads, in one statement (``FOR UPDATE SKIP
LOCKED``), executions first, then parallel children. It sleeps until a NOTIFY arrives (new
work, an event, a barrier: the process's one listener wakes it), a thread frees up, or the
next known due time (a sleep, a retry, a lease expiry); polling at ``poll_interval`` is only
the fallback. Work that could not be handed back during an outage is returned as soon as the
database answers.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from ..errors import DatabaseUnavailable
from ..observe import notify, observers
from ..queues import Queue as ZartQueue
from ..store import ChildClaim, Claim
from ..store.records import WorkerInfo
from .holdings import Holdings
from .pauses import PauseCache
from .ticker import Ticker

__all__ = ["Dispatcher", "WorkQueue", "due_after_answer", "idle_wait"]

log = logging.getLogger(__name__)

WorkQueue = queue.SimpleQueue[Claim | ChildClaim | None]

_RECHECK_LOCKED = 0.1
"""Seconds before looking again at due work that another worker holds locked."""


_SEND_MARGIN = 0.0003
"""Seconds allowed for a query to reach the server: its clock is read when the statement
starts, not when it is sent. Waking a little late costs that much; waking early costs a claim
round that finds nothing."""


def due_after_answer(due: float | None, asked_for: float) -> float | None:
    """``due``, measured by the database from when its statement started, from now: that
    statement took ``asked_for`` seconds to answer (planning the next-due look-up alone is
    about a millisecond, which a sleep would otherwise oversleep by). Stays positive when
    positive: work due, however soon, is not work that is already due."""
    if due is None or due <= 0:
        return due
    return max(due - max(asked_for - _SEND_MARGIN, 0.0), 1e-6)


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


class Dispatcher:
    """The body of a worker's claim loop; runs until ``stopping`` is set."""

    def __init__(self, holdings: Holdings, info: WorkerInfo, steps: Sequence[str],
                 poll_interval: float, work: WorkQueue, wake: threading.Event,
                 stopping: threading.Event, supervise: Callable[[], None],
                 queues: Sequence[ZartQueue] = (), ticker: Ticker | None = None,
                 pauses: PauseCache | None = None) -> None:
        self.holdings = holdings
        self.info = info
        self.steps = list(steps)
        self.poll_interval = poll_interval
        self.work = work
        self.wake = wake
        self.stopping = stopping
        self.supervise = supervise
        self.queues = list(queues)
        self.queue_names = [q.name for q in self.queues]
        self.ticker = ticker
        self.pauses = pauses
        self._queues_stored = not self.queues
        # A rate limit refills one token every period / n: look again that often while queued
        # work waits (room freed by a finishing execution is announced, tokens are not).
        periods = {q.name: q.rate_period / q.rate_limit for q in self.queues
                   if q.rate_period is not None and q.rate_limit}
        self.rated_queues = list(periods)
        self.refill = min(periods.values()) if periods else None

    def run(self) -> None:
        """Claim, hand out, wait; never dies of an error (database faults back off)."""
        store = self.holdings.store
        backoff = 0.05
        while not self.stopping.is_set():
            self.wake.clear()
            self.supervise()
            try:
                self.holdings.return_unreturned()
                if not self._queues_stored:  # the limits this code declares
                    store.register_queues(self.queues)
                    self._queues_stored = True
                self._tick()
                full = self.claim_round()
                backoff = 0.05
                if full:
                    continue
                due = None
                if self.holdings.idle():
                    paused = self.pauses is None or self.pauses.any_active()
                    asked = time.monotonic()
                    due = due_after_answer(
                        store.next_due(self.info.workflows, self.steps, paused=paused),
                        time.monotonic() - asked)
                    # Only while rated work is due and unclaimed: an empty rate-limited
                    # queue would otherwise cost a claim round every period / n, forever.
                    if self.refill is not None and store.queued_due(self.info.workflows,
                                                                    self.rated_queues):
                        due = self.refill if due is None else min(due, self.refill)
                    if due is not None and due <= 0 and self.ticker is not None:
                        self.ticker.soon()  # the due work may be a schedule's tick
                wait = idle_wait(self.poll_interval, due)
            except DatabaseUnavailable as exc:
                log.warning("%s: %s; retrying in %.2fs", self.info.name, exc, backoff)
                store.purge_broken()
                wait, backoff = backoff, min(backoff * 2, 5.0)
            except BaseException:  # supervised: the claim loop never dies of a bug
                log.exception("%s: claim loop error", self.info.name)
                wait = self.poll_interval
            self.wake.wait(wait)

    def _tick(self) -> None:
        """Fire due schedule ticks; a failure other than the database's is logged and never
        keeps this worker from claiming its work."""
        if self.ticker is None:
            return
        try:
            self.ticker.tick()
        except DatabaseUnavailable:
            raise
        except Exception:
            log.exception("%s: a schedule tick round failed; claiming goes on", self.info.name)

    def claim_round(self) -> bool:
        """Claim for the idle threads; True if there may be more due work right now."""
        holdings = self.holdings
        idle = holdings.idle()
        if idle <= 0:
            return False
        store, info = holdings.store, self.info
        executions: list[Claim] = []
        if self.queue_names:
            executions = store.claim_queued(info.workflows, self.queue_names, idle, info.lease,
                                            worker=info.id)
            self._hand_out(executions)
        if len(executions) < idle:
            unqueued = store.claim_executions(info.workflows, idle - len(executions),
                                              info.lease, worker=info.id)
            self._hand_out(unqueued)  # before claiming children: a thread can start at once
            executions += unqueued
        children: list[ChildClaim] = []
        if len(executions) < idle:
            children = store.claim_children(self.steps, idle - len(executions), info.lease,
                                            worker=info.id)
            self._hand_out(children)
        claimed = len(executions) + len(children)
        if observers():
            notify("worker_threads", info.name, info.threads - holdings.idle(), info.threads)
        return claimed > 0 and claimed == idle and holdings.idle() > 0

    def _hand_out(self, claimed: Sequence[Claim | ChildClaim]) -> None:
        self.holdings.taken(claimed)
        for item in claimed:
            self.work.put(item)
