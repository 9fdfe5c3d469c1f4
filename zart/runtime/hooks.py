"""What the executor and the children's runner share: the store, the worker's callbacks and
settings, and the rules for letting work go and for retrying a failed attempt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import RetryAfter
from ..retry import RetryPolicy
from ..store import ChildClaim, Claim, Store
from .lanes import Lane
from .pauses import ActiveRule, PauseCache

__all__ = ["Held", "Hooks", "backoff_delay", "failure", "fields", "log_failed_attempt",
           "retry_delay"]

log = logging.getLogger("zart.runtime.steps")


def fields(execution_id: str, workflow: str, step: str | None = None,
           attempt: int | None = None) -> dict[str, Any]:
    """The structured fields of a log record about an execution (``extra=``): a log handler
    or formatter can read ``record.execution_id``, ``.workflow``, ``.step``, ``.attempt``."""
    return {"execution_id": execution_id, "workflow": workflow, "step": step,
            "attempt": attempt}


def log_failed_attempt(execution_id: str, workflow: str, step: str, attempt: int,
                       max_attempts: int, error: dict[str, Any], delay: float | None) -> None:
    """Log a step's failed attempt as a warning, saying what happens next."""
    if delay is not None:
        then = f"retrying in {delay:.1f}s"
    elif error.get("retryable") is False:
        then = "not retried"
    else:
        then = "no attempt left"
    log.warning("step %r of execution %s failed on attempt %d of %d: %s: %s; %s", step,
                execution_id, attempt, max_attempts, error.get("type"), error.get("message"),
                then, extra=fields(execution_id, workflow, step, attempt))

Held = Claim | ChildClaim
"""Work a worker thread holds: an execution or a parallel child."""


def failure(name: str, kind: str, message: str, attempts: int) -> dict[str, Any]:
    """The stored form of a failure zart itself decides (a timeout, lost leases)."""
    return {"type": kind, "kind": kind, "module": "zart.errors", "message": message,
            "attempts": attempts, "step": name}


def backoff_delay(error: dict[str, Any], backoffs: int) -> float | None:
    """Seconds before running a step again that asked for it (zart.RetryAfter), or None: it
    did not ask, or it asked too often in a row (``error`` then says so: a final failure)."""
    delay = error.get("retry_after")
    if delay is None:
        return None
    if backoffs < RetryAfter.MAX_BACKOFFS:
        return float(delay)
    error.pop("retry_after")
    error["retryable"] = False
    error["message"] = (f"{error.get('message')}: the step asked to run again later "
                        f"{RetryAfter.MAX_BACKOFFS} times in a row; giving up")
    return None


def retry_delay(retry: RetryPolicy, attempt: int, error: dict[str, Any],
                scope: str) -> float | None:
    """Seconds before the next attempt of a failed step, or None: its failure is final."""
    if error.get("retry_after") is not None:
        return None
    if error.get("retryable") is False:
        return None
    if error.get("kind") == "StepTimeout" and scope == "global":
        return None  # the one deadline of every attempt has passed
    return retry.delay_before(attempt + 1)


@dataclass(slots=True)
class Hooks:
    """The store and the worker's callbacks: ``should_stop`` (a graceful stop has begun),
    ``on_suspend`` (a thread freed up), ``on_lost`` (work let go of unfinished, see
    :meth:`let_go`)."""

    store: Store
    max_lease_losses: int
    should_stop: Callable[[], bool]
    on_suspend: Callable[[], None]
    on_lost: Callable[[Held], None]
    pauses: PauseCache | None = None
    """The active pause rules (None: not checked, as when driven by hand)."""

    def holding(self, workflow: str, execution_id: str, step: str, *,
                fresh: bool = False) -> ActiveRule | None:
        """The pause rule that holds this step now, if rules are checked and one does
        (``fresh``: read the rules again first)."""
        if self.pauses is None:
            return None
        if fresh:
            self.pauses.refresh()
        return self.pauses.holding(workflow, execution_id, step)

    def let_go(self, held: Held, lane: Lane) -> None:
        """Give up ``held`` unfinished: a write was refused, or this worker's lease is over
        by its own clock.

        Still ours (a stale view of the history, or a lease only this worker's clock thinks is
        over): it is handed back, claimable at once with its full history. Not ours: the
        release changes nothing, and the loss is reported so that a takeover of a live worker
        is not held against the work.
        """
        if isinstance(held, Claim):
            self.store.release(held, lane.conn)
        else:
            self.store.release_child(held, lane.conn)
        self.on_lost(held)
