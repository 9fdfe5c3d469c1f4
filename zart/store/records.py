"""What the store hands back: claims held by workers, children's outcomes, execution rows."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import serde
from ..retry import RetryPolicy

__all__ = ["ChildClaim", "ChildOutcome", "Claim", "ExecutionRow", "ExecutionState", "WorkerInfo",
           "child_claim", "error_text"]


@dataclass(slots=True)
class Claim:
    """An execution held by a worker: ``owner`` is the claim's token, checked by every write."""

    execution_id: str
    workflow: str
    input_text: str | None
    owner: uuid.UUID
    attempt: int
    max_attempts: int
    retry: RetryPolicy
    lost_leases: int
    expired: bool
    remaining: float | None
    has_history: bool = True
    expires: float = math.inf
    """When the lease runs out by this process's monotonic clock: taken before the claim
    statement was sent, so never later than the database's own expiry; renewed by the
    worker's heartbeat."""

    run: int = 1
    """The execution's current run (a restart or a rerun begins a new one)."""

    trace_text: str | None = None
    """What observers stored when it was started (JSON), for its runs' spans."""

    age: float = 0.0
    """Seconds from its creation to this claim (the database's clock)."""

    def lease_expiry(self) -> float:
        """The current :attr:`expires` (read at call time: the heartbeat moves it)."""
        return self.expires


@dataclass(slots=True)
class ChildClaim:
    """A parallel child step held by a worker."""

    execution_id: str
    seq: int
    name: str
    fn: str
    args_text: str
    options: dict[str, Any]
    attempt: int
    owner: uuid.UUID
    lost_leases: int
    workflow: str
    input_text: str | None
    remaining: float | None
    backoffs: int = 0
    """How often in a row it asked to run again later (zart.RetryAfter)."""
    expires: float = math.inf
    """As :attr:`Claim.expires`."""
    trace_text: str | None = None
    """As :attr:`Claim.trace_text` (its execution's)."""

    def lease_expiry(self) -> float:
        """The current :attr:`expires` (read at call time: the heartbeat moves it)."""
        return self.expires


@dataclass(slots=True)
class ChildOutcome:
    """A parallel child's outcome, to record: a value (``ok``) or an error dict."""

    child: ChildClaim
    ok: bool
    value_text: str | None
    error: dict[str, Any] | None


@dataclass(slots=True)
class ExecutionRow:
    """What the client reads of an execution."""

    id: str
    workflow: str
    status: str
    input_text: str | None
    result_text: str | None
    error: dict[str, Any] | None
    attempt: int
    max_attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def child_claim(r: Sequence[Any], expires: float) -> ChildClaim:
    """A claimed child from a row shaped like ``queries._CHILD_CLAIM_RETURNING``."""
    return ChildClaim(r[0], r[1], r[2], r[3], r[4], serde.loads(r[5]) or {}, r[6], r[7], r[8],
                      r[9], r[10], r[11], r[12], expires, r[13])


def error_text(error: dict[str, Any] | None) -> str | None:
    """The stored JSON text of an error dict (None stays None)."""
    return None if error is None else serde.dumps(error)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What a worker process records about itself in the workers table."""

    id: uuid.UUID
    name: str
    host: str
    pid: int
    version: str
    threads: int
    lease: float
    workflows: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExecutionState:
    """An execution's row as the read model reads it (``queries.reads.EXECUTION``)."""

    id: str
    workflow: str
    status: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    attempt: int
    run: int
    wait_kind: str | None
    waiting_for: str | None
    wake_at: datetime | None
    input_text: str | None
    result_text: str | None
    error_text: str | None
    max_attempts: int
    lost_leases: int
    deadline: datetime | None
    owner: uuid.UUID | None
    lease_until: datetime | None
    worker_id: uuid.UUID | None
    claimed_at: datetime | None
    open_children: int
    run_started_at: datetime
    now: datetime
    """The database's clock when it was read."""
    paused_by: int | None
    parent_id: str | None
    queue: str | None = None
    queue_key: str | None = None
