"""A worker's schedule ticker: fires the due ticks of the schedules of the workflows it runs.

It runs on the dispatcher's thread, between claim rounds, at most once per poll interval
unless a schedule is known to be due sooner: one short transaction, never on a step's path.
Which tick runs is decided in that transaction under each schedule's row lock (another worker
ticking it is skipped, not waited for), and the database refuses a tick's execution id twice,
so a worker killed mid-tick leaves either nothing (rolled back: the next round fires it) or
everything (committed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ..errors import ConfigurationError
from ..schedules import Schedule, plan_ticks, tick_id, tick_input
from ..serde import dumps
from ..store import Store
from ..store.schedules import DueSchedule, TickAction
from ..workflow import get_workflow, registered_workflows

__all__ = ["Ticker", "decide_ticks"]

log = logging.getLogger(__name__)

_BROKEN_RETRY = timedelta(hours=1)
"""How long a stored schedule that no longer parses waits before it is looked at again."""


def decide_ticks(due: DueSchedule) -> TickAction:
    """What one tick round does with a due schedule: its catch-up and overlap policies
    applied to the ticks due by the database's clock."""
    try:
        schedule = Schedule(due.expression, due.tz, due.name, due.data, due.overlap,  # type: ignore[arg-type]
                            due.catchup, due.catchup_limit, due.workflow)  # type: ignore[arg-type]
    except ConfigurationError as exc:
        # Stored by an older release, or its zone left the tz database: said loudly, and
        # looked at again later rather than on every round.
        log.error("schedule %r cannot tick: %s", due.name, exc)
        return TickAction([], False, due.now + _BROKEN_RETRY, None, 0)
    plan = plan_ticks(schedule, due.next_tick, due.now)
    fire = plan.fire
    skipped = plan.skipped
    if fire and due.previous_open and schedule.overlap == "skip":
        skipped += len(fire)
        fire = []
    starts = [_execution(due, tick) for tick in fire]
    return TickAction(starts, bool(fire) and schedule.overlap == "cancel", plan.next_tick,
                      fire[-1] if fire else None, skipped)


def _execution(due: DueSchedule, tick: datetime) -> dict[str, Any]:
    """The ``create_execution`` arguments of one tick's execution (a worker ticks only the
    schedules of workflows it runs, so the workflow is registered here)."""
    definition = get_workflow(due.workflow)
    return {"execution_id": tick_id(due.name, tick), "workflow": due.workflow,
            "input_text": dumps(tick_input(due.name, tick, due.data)),
            "max_attempts": definition.retry.max_attempts, "retry": definition.retry,
            "timeout": definition.timeout,
            "queue": definition.queue.name if definition.queue is not None else None}


class Ticker:
    """Stores the schedules the code declares when the worker starts, then ticks them."""

    def __init__(self, store: Store, workflows: Sequence[str], poll_interval: float) -> None:
        self.store = store
        self.workflows = list(workflows)
        self.poll_interval = poll_interval
        self.declared = [s for name in self.workflows
                         for s in registered_workflows()[name].schedules]
        self._stored = False
        self._next_check = 0.0
        self._retry_at = 0.0  # after a failed round: not before then, however soon is due

    def store_declared(self) -> None:
        """Create or update the code's schedules, once per worker (retried while the
        database is down): a schedule changed in a new release takes effect here. One that
        clashes with a schedule created at run time is said loudly and left out; the
        worker's other schedules and work go on."""
        if self._stored:
            return
        now = self.store.clock_now()
        rows = [s.stored(next(s.ticks_after(now))) for s in self.declared]
        changed, clashes = self.store.store_code_schedules(self.workflows, rows)
        for clash in clashes:
            log.error("a schedule declared in the code was not stored: %s", clash)
        if changed:
            log.info("schedules stored from the code: %s", ", ".join(sorted(changed)))
        self._stored = True

    def soon(self) -> None:
        """Look at the schedules on the next round (something may be due), unless the last
        round failed: that one waits out the poll interval (the dispatcher calls this at
        every recheck while anything is due, and a failing schedule stays due)."""
        self._next_check = self._retry_at

    def tick(self) -> int:
        """One tick round when one is due; the executions started."""
        if time.monotonic() < self._next_check:
            return 0
        # Not again before the poll interval if this round fails (the dispatcher logs it and
        # claims on): a broken schedule must not cost a statement per claim round.
        self._next_check = self._retry_at = time.monotonic() + self.poll_interval
        self.store_declared()
        started, next_in = self.store.tick_schedules(self.workflows, decide_ticks,
                                                     self.store.cancel_in)
        self._retry_at = 0.0
        wait = self.poll_interval if next_in is None else min(max(next_in, 0.0),
                                                              self.poll_interval)
        self._next_check = time.monotonic() + wait
        return started
