"""Telling the observers (:mod:`zart.observe`) what a worker does.

Every function here starts with one check of the (usually empty) observer list and does
nothing else when nobody observes: metrics and traces cost no statement and, switched off,
next to no time on a step's path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from ..context import ExecutionContext
from ..observe import RunEvent, StepEvent, notify, observers
from ..store import Claim

__all__ = ["attempt", "lease_lost", "observed_run", "run_ends_as", "step_outcome"]

_current = threading.local()


class _Run:
    """A run being observed on this thread, and how it ends (set by the executor)."""

    __slots__ = ("event", "started", "status")

    def __init__(self, event: RunEvent) -> None:
        self.event = event
        self.started = time.monotonic()
        self.status = "suspended"


def _context(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


@contextmanager
def observed_run(claim: Claim) -> Iterator[None]:
    """Around one run of a claimed execution: run_started, then run_ended (and
    execution_finished when it completed or failed), in the thread that runs it."""
    if not observers():
        yield
        return
    run = _Run(RunEvent(claim.execution_id, claim.workflow, claim.attempt,
                        _context(claim.trace_text)))
    _current.run = run
    notify("run_started", run.event)
    try:
        yield
    finally:
        _current.run = None
        seconds = time.monotonic() - run.started
        notify("run_ended", run.event, run.status, seconds)
        if run.status in ("completed", "failed"):
            notify("execution_finished", claim.execution_id, claim.workflow, run.status,
                   claim.age + seconds)


def run_ends_as(status: str) -> None:
    """How the run on this thread ends: ``completed``, ``failed``, ``released`` or ``lost``
    (a run that ends otherwise suspended)."""
    if not observers():
        return
    run: _Run | None = getattr(_current, "run", None)
    if run is not None:
        run.status = status
    if status == "lost" and run is not None:
        notify("lease_lost", run.event.execution_id)


def lease_lost(execution_id: str) -> None:
    """A parallel child this worker ran was taken over (its outcome is dropped)."""
    if observers():
        notify("lease_lost", execution_id)


def attempt(ctx: ExecutionContext, fn: Callable[..., Any], args: Sequence[Any],
            kwargs: Mapping[str, Any], trace: str | None) -> Any:
    """Call a step's function for one attempt, between attempt_started and attempt_finished
    (in this thread: a span an observer opens is current for the step's code); ``trace``:
    what observers stored with the execution at its start."""
    if not observers():
        return fn(*args, **kwargs)
    event = StepEvent(ctx.execution_id, ctx.workflow, ctx.step or "", ctx.attempt,
                      _context(trace))
    notify("attempt_started", event)
    started = time.monotonic()
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:
        notify("attempt_finished", event, False, time.monotonic() - started,
               {"type": type(exc).__name__, "message": str(exc)})
        raise
    notify("attempt_finished", event, True, time.monotonic() - started, None)
    return value


def step_outcome(ctx: ExecutionContext, ok: bool, error: Mapping[str, Any] | None,
                 backoff: float | None, delay: float | None) -> None:
    """What came of an attempt: ``ok``, ``backoff``, ``retry``, ``timeout`` or ``failed``."""
    if not observers():
        return
    if ok:
        outcome = "ok"
    elif backoff is not None:
        outcome = "backoff"
    elif delay is not None:
        outcome = "retry"
    elif error is not None and error.get("type") == "StepTimeout":
        outcome = "timeout"
    else:
        outcome = "failed"
    notify("step_outcome", StepEvent(ctx.execution_id, ctx.workflow, ctx.step or "",
                                     ctx.attempt), outcome)
