"""What inspection returns: plain, immutable records of executions, their histories, why they
wait, workers, pause rules and counts. Each has ``to_json()``: the form the CLI prints with
``--json`` and the HTTP API serves (times as ISO 8601 strings)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

__all__ = [
    "ActionView",
    "Activity",
    "ActivityBucket",
    "AttemptView",
    "CommandView",
    "ExecutionDetail",
    "ExecutionSummary",
    "Page",
    "PauseRule",
    "PurgeResult",
    "RunView",
    "ScheduleView",
    "Stats",
    "Waiting",
    "WorkerView",
]

T = TypeVar("T")


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


class _JSON:
    """``to_json()`` for the dataclasses below."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        """This record as JSON-ready data (datetimes as ISO 8601 strings)."""
        data: dict[str, Any] = _json(self)
        return data


@dataclass(frozen=True, slots=True)
class ExecutionSummary(_JSON):
    """One line of a list of executions."""

    id: str
    workflow: str
    status: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    attempt: int
    run: int
    wait_kind: str | None
    """What it waits on (see :class:`zart.constants.WaitKind`), if waiting."""
    waiting_for: str | None
    """The event, step or pause rule it waits on, if any."""
    wake_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page(_JSON, Generic[T]):
    """A page of a list, newest first; pass ``cursor`` back for the next one (None: last)."""

    items: list[T]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class AttemptView(_JSON):
    """One attempt of a step: when it ran and, if it failed, why."""

    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    ok: bool | None
    error: dict[str, Any] | None
    """The stored error: type, module, message, traceback, attributes."""


@dataclass(frozen=True, slots=True)
class CommandView(_JSON):
    """One command of a history, in order."""

    seq: int
    kind: str
    name: str
    status: str
    ok: bool | None
    child: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    wake_at: datetime | None
    """A sleep's or a retry's due time, an event wait's deadline."""
    attempts: list[AttemptView]
    preview: str | None
    """The start of the stored value (JSON text), if it succeeded."""
    error: dict[str, Any] | None
    child_execution: str | None = None
    """A child workflow's execution id (kind ``child``, current run only)."""


@dataclass(frozen=True, slots=True)
class RunView(_JSON):
    """A run of an execution: the first one, or one a restart or a rerun began."""

    run: int
    started_at: datetime
    ended_at: datetime | None
    status: str
    began_by: str
    """start, restart or rerun."""
    rerun_from: str | None
    result: Any
    error: dict[str, Any] | None
    history: list[CommandView]


@dataclass(frozen=True, slots=True)
class ActionView(_JSON):
    """An operator's action on an execution, from its audit trail."""

    action: str
    by: str | None
    at: datetime
    details: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Waiting(_JSON):
    """Why an execution is where it is, in words (``text``) and in data.

    ``state``: ``sleeping``, ``event``, ``children``, ``child``, ``retrying``,
    ``backing_off``, ``paused``, ``due``, ``queued`` (due, held back by a queue's limit),
    ``no_worker``, ``held``, ``finished``. The other
    fields are set as they apply.
    """

    state: str
    text: str
    until: datetime | None = None
    event: str | None = None
    deadline: datetime | None = None
    step: str | None = None
    attempt: int | None = None
    open_children: int | None = None
    children: int | None = None
    rule: int | None = None
    child: str | None = None
    worker: str | None = None
    since: datetime | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExecutionDetail(_JSON):
    """Everything about one execution: what ``handle.describe()`` returns."""

    id: str
    workflow: str
    status: str
    input: Any
    result: Any
    error: dict[str, Any] | None
    attempt: int
    max_attempts: int
    lost_leases: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    deadline: datetime | None
    run: int
    runs: list[RunView]
    """Every run, the current one last."""
    actions: list[ActionView]
    waiting: Waiting
    parent_id: str | None = None
    """The execution that started this one as a child workflow, if any."""
    children: list[ExecutionSummary] = field(default_factory=list)
    """The child workflows this one started."""

    @property
    def history(self) -> list[CommandView]:
        """The current run's history."""
        return self.runs[-1].history


@dataclass(frozen=True, slots=True)
class WorkerView(_JSON):
    """A worker process as its heartbeat keeps it."""

    id: str
    name: str
    host: str
    pid: int
    version: str
    threads: int
    lease: float
    workflows: list[str]
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    alive: bool
    """Stopped cleanly or silent for more than two leases: not alive."""


@dataclass(frozen=True, slots=True)
class PauseRule(_JSON):
    """A pause rule: what it holds (workflow, execution, step pattern; None: any), why, until
    when, and whether it is still active."""

    id: int
    workflow: str | None
    execution_id: str | None
    step_pattern: str | None
    reason: str | None
    created_by: str | None
    created_at: datetime
    until: datetime | None
    lifted_at: datetime | None
    lifted_by: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class ScheduleView(_JSON):
    """A stored cron schedule: its timetable and policies, where it came from (``code``: a
    worker keeps it as the code declares; ``api``: created at run time), and its progress."""

    name: str
    workflow: str
    expression: str
    tz: str
    data: Any
    overlap: str
    catchup: str
    catchup_limit: int
    source: str
    paused: bool
    next_tick: datetime
    last_tick: datetime | None
    last_execution_id: str | None
    fired: int
    """Executions started by its ticks (not by trigger or backfill)."""
    skipped: int
    """Ticks skipped: missed during downtime beyond the catch-up policy, or while the
    previous execution was still open (overlap ``skip``)."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Stats(_JSON):
    """Counts: by status, by workflow and status; the oldest due execution's age; live
    workers; the due backlog."""

    by_status: dict[str, int]
    by_workflow: dict[str, dict[str, int]]
    oldest_due_seconds: float | None
    live_workers: int
    due: int = 0
    """Executions due and not claimed yet (the backlog oldest_due_seconds is the age of)."""


@dataclass(frozen=True, slots=True)
class ActivityBucket(_JSON):
    """Executions started and finished (by how they ended) in one span of time."""

    start: datetime
    started: int
    completed: int
    failed: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class Activity(_JSON):
    """Executions started and finished over time: one bucket per ``bucket_seconds`` from
    ``since`` to ``until`` (the database's clock), empty buckets included."""

    since: datetime
    until: datetime
    bucket_seconds: float
    buckets: list[ActivityBucket]


@dataclass(slots=True)
class PurgeResult(_JSON):
    """What a purge deleted."""

    executions: int = 0
    batches: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
