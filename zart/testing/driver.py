"""``run_until_idle(app)``: run every due execution in the test's own thread, no worker.

It fires the due ticks of the cron schedules of the workflows registered here (as a worker's
dispatcher does), claims one due execution (or parallel child) at a time, as a worker thread
would, runs it until it completes, fails or suspends, and goes on until nothing is due, so a
test reads like a script: start, run until idle, assert, send an event or move the clock, run
until idle...
An execution that a simulated crash (:func:`zart.testing.crash_at`) killed is left as a dead
worker leaves it, and the run goes on with the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..client import Zart
from ..durations import Duration, parse_duration
from ..faults import SimulatedCrash
from ..runtime.children import known_refs
from ..runtime.executor import Executor
from ..runtime.lanes import Lane
from ..runtime.pauses import PauseCache
from ..runtime.ticker import Ticker
from ..runtime.worker import _queues as served_queues  # what a worker serves, the same rule
from ..store import ChildClaim, Claim
from ..workflow import registered_workflows

__all__ = ["DEFAULT_LEASE", "Idle", "run_until_idle"]

DEFAULT_LEASE = 30.0
"""Seconds a run's claim holds an execution (a worker's default): after a simulated crash,
``advance(app, "30s")`` lets the next run take the execution over."""


@dataclass(slots=True)
class Idle:
    """What :func:`run_until_idle` did before nothing was due any more."""

    runs: int = 0
    """Executions and parallel children it ran (each up to its next suspension)."""
    crashed: list[str] = field(default_factory=list)
    """Ids of the executions whose run died of a simulated crash, in order."""
    scheduled: int = 0
    """Executions the schedules' due ticks started."""


def run_until_idle(app: Zart, *, lease: Duration = DEFAULT_LEASE,
                   max_runs: int = 10_000) -> Idle:
    """Run ``app``'s due executions of the workflows registered in this process, one at a
    time in this thread, until none is due; what it did.

    ``max_runs`` stops a workflow that never settles (a zero-delay retry loop, an execution
    that keeps waking another) with a clear error instead of a hanging test.
    """
    if not isinstance(app, Zart):
        raise TypeError(f"run_until_idle() takes a zart.Zart app, got {type(app).__name__} "
                        f"{app!r}")
    seconds = parse_duration(lease, what="run_until_idle() lease")
    if seconds < 0.5:
        raise ValueError(f"run_until_idle(): lease must be at least 0.5 s, got {lease!r}")
    if not isinstance(max_runs, int) or isinstance(max_runs, bool) or max_runs < 1:
        raise ValueError(f"run_until_idle(): max_runs must be an int >= 1, got {max_runs!r}")
    store = app.store
    workflows = sorted(registered_workflows())
    steps = known_refs()
    queues = served_queues(None, workflows)
    if queues:
        store.register_queues(queues)
    executor = Executor(store, lease=seconds, pauses=PauseCache(store))
    ticker = Ticker(store, workflows, poll_interval=0.0)  # a tick round before every claim
    idle = Idle()
    while True:
        idle.scheduled += ticker.tick()
        item = _claim_one(app, workflows, steps, seconds)
        if item is None:
            return idle
        idle.runs += 1
        if idle.runs > max_runs:
            raise RuntimeError(
                f"run_until_idle() ran {max_runs} executions and children and work is still "
                f"due (last: execution {item.execution_id!r}); a workflow that never settles? "
                f"(raise max_runs if this is expected)")
        try:
            with Lane(store) as lane:
                if isinstance(item, Claim):
                    executor.run_execution(item, lane)
                else:
                    executor.run_child(item, lane)
        except SimulatedCrash:
            idle.crashed.append(item.execution_id)


def _claim_one(app: Zart, workflows: list[str], steps: list[str],
               lease: float) -> Claim | ChildClaim | None:
    """One due execution (queued ones first, within their queue's limits, as a worker claims
    them), else one due child."""
    store = app.store
    if workflows:
        claimed = store.claim_queued(workflows, None, 1, lease)
        if claimed:
            return claimed[0]
        executions = store.claim_executions(workflows, 1, lease)
        if executions:
            return executions[0]
    if steps:
        children = store.claim_children(steps, 1, lease)
        if children:
            return children[0]
    return None
