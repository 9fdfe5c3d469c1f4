"""Why is it waiting? Every open execution answers in words and in data: sleeping until T;
waiting for event E (deadline D); waiting for k of n children; retrying step S at T; paused
by rule R; due but no live worker has registered its workflow; held by worker host:pid since
T, lease until T."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..constants import FINAL_STATUSES, ExecutionStatus, WaitKind
from ..views import CommandView, Waiting
from .base import Connection
from .records import ExecutionState

if TYPE_CHECKING:
    from .reads import ReadModel

__all__ = ["explain"]


def _at(when: datetime | None) -> str:
    return "(no time)" if when is None else when.isoformat(timespec="seconds")


def explain(store: ReadModel, c: Connection, row: ExecutionState,
            history: list[CommandView]) -> Waiting:
    """The answer for an execution as the read model read it."""
    if row.status in FINAL_STATUSES:
        return Waiting("finished", f"{row.status} at {_at(row.finished_at)}; waits on nothing")
    if row.status == ExecutionStatus.RUNNING:
        return _held(store, c, row)
    # Suspended until its time, or on something without one (an event, children); once its
    # time has come (a sleep is over, a deadline passed) it is due, waiting for a worker.
    if (row.wake_at > row.now if row.wake_at is not None
            else row.status == ExecutionStatus.WAITING):
        explained = _suspended(store, c, row, history)
        if explained is not None:
            return explained
    return _due(store, c, row)


def _held(store: ReadModel, c: Connection, row: ExecutionState) -> Waiting:
    worker_id, claimed_at, lease_until = row.worker_id, row.claimed_at, row.lease_until
    found = None if worker_id is None else c.execute(store.sql.WORKER,
                                                     {"id": worker_id}).fetchone()
    who = f"{found[0]}:{found[1]}" if found else "a worker (claimed by hand)"
    text = (f"held by worker {who} since {_at(claimed_at)}, lease until {_at(lease_until)}")
    if lease_until is not None and lease_until < row.now:
        text += " (expired: another worker will take it over)"
    return Waiting("held", text, worker=who, since=claimed_at, lease_until=lease_until)


def _suspended(store: ReadModel, c: Connection, row: ExecutionState,
               history: list[CommandView]) -> Waiting | None:
    wait_kind, waiting_for, wake_at = row.wait_kind, row.waiting_for, row.wake_at
    pending = next((h for h in reversed(history) if h.status != "done" and not h.child), None)
    if wait_kind == WaitKind.SLEEP:
        name = pending.name if pending else "?"
        return Waiting("sleeping", f"sleeping ({name!r}) until {_at(wake_at)}", until=wake_at,
                       step=name)
    if wait_kind == WaitKind.EVENT:
        deadline = pending.wake_at if pending else None
        text = f"waiting for event {waiting_for!r}"
        text += f" (deadline {_at(deadline)})" if deadline else " (no deadline)"
        return Waiting("event", text, event=waiting_for, deadline=deadline)
    if wait_kind == WaitKind.CHILDREN:
        open_children = row.open_children
        group = [h for h in history if h.child]
        total = len(group)
        done = total - open_children
        return Waiting("children", f"waiting for {open_children} of {total} parallel "
                       f"children ({done} done)", open_children=open_children, children=total)
    if wait_kind == WaitKind.RETRY:
        if waiting_for:
            attempt = pending.attempts[-1].attempt + 1 if pending and pending.attempts else None
            return Waiting("retrying", f"retrying step {waiting_for!r} at {_at(wake_at)}"
                           + (f" (attempt {attempt})" if attempt else ""),
                           step=waiting_for, until=wake_at, attempt=attempt)
        return Waiting("retrying", f"retrying the workflow's body at {_at(wake_at)} "
                       f"(attempt {row.attempt})", until=wake_at, attempt=row.attempt)
    if wait_kind == WaitKind.CHILD:
        return Waiting("child", f"waiting for child workflow execution {waiting_for!r}",
                       child=waiting_for)
    if wait_kind == WaitKind.BACKOFF:
        return Waiting("backing_off", f"step {waiting_for!r} asked to run again later; backing "
                       f"off until {_at(wake_at)}", step=waiting_for, until=wake_at)
    if wait_kind == WaitKind.PAUSED:
        rule = row.paused_by
        found = None if rule is None else c.execute(store.sql.PAUSE_RULE,
                                                    {"id": rule}).fetchone()
        reason = f": {found[4]}" if found and found[4] else ""
        step = waiting_for
        text = f"paused by rule {rule}{reason}, in front of step {step!r}"
        text += f", until {_at(wake_at)}" if wake_at else " (until lifted)"
        return Waiting("paused", text, rule=rule, step=step, until=wake_at)
    return None


def _due(store: ReadModel, c: Connection, row: ExecutionState) -> Waiting:
    workflow, wake_at, now = row.workflow, row.wake_at, row.now
    if wake_at is not None and wake_at > now:
        return Waiting("due", f"due at {_at(wake_at)}", until=wake_at)
    rules = [r for r in store_rules(store, c) if _holds(r, row)]
    if rules:
        rule = rules[0]
        return Waiting("paused", f"paused by rule {rule[0]}" + (f": {rule[4]}" if rule[4] else "")
                       + " (not claimed while it is active)", rule=int(rule[0]))
    found = c.execute(store.sql.LIVE_WORKERS_FOR, {"workflow": workflow}).fetchone()
    if not found or not found[0]:
        return Waiting("no_worker", f"due since {_at(wake_at)}, but no live worker has "
                       f"registered workflow {workflow!r}", since=wake_at)
    if row.queue is not None:
        held = _queue_limit(store, c, row)
        if held is not None:
            return Waiting("queued", f"due since {_at(wake_at)}, queued in {row.queue!r}: "
                           f"{held}", since=wake_at)
    return Waiting("due", f"due since {_at(wake_at)}; {found[0]} live worker(s) run "
                   f"{workflow!r} and will claim it", since=wake_at)


def _queue_limit(store: ReadModel, c: Connection, row: ExecutionState) -> str | None:
    """The limit of its queue that holds a due execution back, in words (None: none is
    reached; a worker claims it next)."""
    found = c.execute(store.sql.QUEUE_STATE, {"queue": row.queue, "key": row.queue_key,
                                              "id": row.id}).fetchone()
    if found is None:
        return None
    concurrency, per_key, rate_limit, rate_period, running, key_running, tokens, start = found
    if concurrency is not None and running >= concurrency:
        return f"{running} of its {concurrency} running at once already"
    if per_key is not None and key_running is not None and key_running >= per_key:
        return (f"{key_running} of the {per_key} allowed per key run for key "
                f"{row.queue_key!r} already")
    if rate_limit is not None and tokens is not None and tokens < 1 and start:
        return f"its rate limit ({rate_limit} per {rate_period:g}s) is spent for now"
    return None


def store_rules(store: ReadModel, c: Connection) -> list[Sequence[Any]]:
    """The active pause rules, as rows shaped like ``queries.reads.PAUSE_RULES``."""
    return list(c.execute(store.sql.PAUSE_RULES, {"active": True}).fetchall())


def _holds(rule: Sequence[Any], row: ExecutionState) -> bool:
    """Whether an execution-wide rule (no step pattern) holds this execution."""
    return rule[3] is None and rule[1] in (None, row.workflow) and rule[2] in (None, row.id)
