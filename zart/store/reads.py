"""The read model: what inspection, the CLI and the HTTP API read. Never the hot path's
statements; a description is read in one repeatable-read transaction, so its parts agree."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from .. import serde
from ..errors import ConfigurationError, ExecutionNotFound
from ..views import (
    ActionView,
    Activity,
    ActivityBucket,
    AttemptView,
    CommandView,
    ExecutionDetail,
    ExecutionSummary,
    Page,
    PauseRule,
    RunView,
    Stats,
    WorkerView,
)
from .base import Connection, StoreBase, translate_errors
from .records import ExecutionState
from .waiting import explain

__all__ = ["ReadModel", "decode_cursor", "encode_cursor"]

PREVIEW = 200
"""Characters of a stored value shown in a history (the full value is in the database)."""


def encode_cursor(created_at: datetime, execution_id: str) -> str:
    """The opaque cursor of a page: where the next one starts."""
    raw = orjson.dumps([created_at.isoformat(), execution_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Inverse of :func:`encode_cursor`; a cursor that is not one is a clear error."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, execution_id = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(at), str(execution_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise ConfigurationError(f"cursor {cursor[:40]!r} is not one a page of executions "
                                 f"returned") from None


def _summary(r: Sequence[Any]) -> ExecutionSummary:
    return ExecutionSummary(*r[:11])


def _loads(text: str | None) -> Any:
    return None if text is None else serde.loads(text)


class ReadModel(StoreBase):
    """Lists, descriptions, counts, workers and pause rules, for people."""

    def list_executions(self, *, statuses: Sequence[str] | None, workflow: str | None,
                        created_after: datetime | None, created_before: datetime | None,
                        id_prefix: str | None, limit: int,
                        cursor: str | None) -> Page[ExecutionSummary]:
        """A page of executions, newest first; filters None mean any."""
        at, last_id = decode_cursor(cursor) if cursor else (None, None)
        prefix = None
        if id_prefix:
            prefix = id_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            prefix += "%"
        with self.connection() as c:
            rows = c.execute(self.sql.LIST_EXECUTIONS, {
                "statuses": list(statuses) if statuses else None, "workflow": workflow,
                "after": created_after, "before": created_before, "prefix": prefix,
                "at": at, "id": last_id, "limit": limit + 1}).fetchall()
        items = [_summary(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1].created_at, items[-1].id) if more else None)

    def describe(self, execution_id: str) -> ExecutionDetail:
        """Everything about one execution, from one consistent snapshot."""
        with self.connection() as c, translate_errors(), c.transaction():
            c.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            found = c.execute(self.sql.EXECUTION, {"id": execution_id}).fetchone()
            if found is None:
                raise ExecutionNotFound(f"no execution {execution_id!r}")
            row = ExecutionState(*found)
            runs = self._runs(c, execution_id, row)
            actions = [ActionView(a, by, at, _loads(d)) for a, by, at, d in c.execute(
                self.sql.ACTIONS, {"id": execution_id}).fetchall()]
            waiting = explain(self, c, row, runs[-1].history)
            children = [_summary(r) for r in c.execute(self.sql.CHILDREN_OF,
                                                       {"id": execution_id}).fetchall()]
        return ExecutionDetail(
            row.id, row.workflow, row.status, _loads(row.input_text), _loads(row.result_text),
            _loads(row.error_text), row.attempt, row.max_attempts, row.lost_leases,
            row.created_at, row.updated_at, row.finished_at, row.deadline, row.run, runs,
            actions, waiting, row.parent_id, children)

    def _runs(self, c: Connection, execution_id: str, row: ExecutionState) -> list[RunView]:
        args = {"id": execution_id, "preview": PREVIEW}
        attempts: dict[tuple[int, int], list[AttemptView]] = {}
        for run, seq, attempt, started, finished, error in c.execute(
                self.sql.ATTEMPTS, args).fetchall():
            attempts.setdefault((run, seq), []).append(
                AttemptView(attempt, started, finished, False, _loads(error)))
        archived: dict[int, list[CommandView]] = {}
        for r in c.execute(self.sql.ARCHIVED_HISTORY, args).fetchall():
            archived.setdefault(r[0], []).append(_command(r[1:], attempts.get((r[0], r[1]))))
        current_run = row.run
        runs: list[RunView] = []
        began_by, rerun_from = "start", None
        for run, started, ended, status, result, error, reason, from_step in c.execute(
                self.sql.RUNS, args).fetchall():
            runs.append(RunView(run, started, ended, status, began_by, rerun_from,
                                _loads(result), _loads(error), archived.get(run, [])))
            began_by, rerun_from = reason, from_step
        history = [_command(r, attempts.get((current_run, r[0])))
                   for r in c.execute(self.sql.HISTORY, args).fetchall()]
        runs.append(RunView(current_run, row.run_started_at, row.finished_at, row.status,
                            began_by, rerun_from, _loads(row.result_text),
                            _loads(row.error_text), history))
        return runs

    def stats(self) -> Stats:
        """Counts by status and by workflow, the oldest due execution's age, live workers."""
        with self.connection() as c:
            by_status: dict[str, int] = {}
            by_workflow: dict[str, dict[str, int]] = {}
            for workflow, status, count in c.execute(self.sql.STATS_BY_WORKFLOW).fetchall():
                by_status[status] = by_status.get(status, 0) + count
                by_workflow.setdefault(workflow, {})[status] = count
            due = c.execute(self.sql.DUE_BACKLOG).fetchone()
            live = c.execute(self.sql.STATS_LIVE_WORKERS).fetchone()
        assert due is not None
        return Stats(by_status, by_workflow, due[1], 0 if live is None else int(live[0]),
                     int(due[0]))

    def due_backlog(self) -> tuple[int, float | None]:
        """How many executions are due and unclaimed, and the oldest one's age in seconds."""
        with self.connection() as c:
            row = c.execute(self.sql.DUE_BACKLOG).fetchone()
        assert row is not None
        return int(row[0]), row[1]

    def activity(self, span_seconds: float, bucket_seconds: float) -> Activity:
        """Executions started and finished per ``bucket_seconds`` over the last
        ``span_seconds`` (by the database's clock), every bucket listed, oldest first."""
        with self.connection() as c:
            row = c.execute(self.sql.CLOCK_NOW).fetchone()
            assert row is not None
            now: datetime = row[0]
            # Buckets aligned on the epoch, so two reads a moment apart share their edges.
            origin = datetime(2000, 1, 1, tzinfo=now.tzinfo)
            step = timedelta(seconds=bucket_seconds)
            first = origin + ((now - timedelta(seconds=span_seconds) - origin) // step) * step
            counts = {r[0]: r[1:] for r in c.execute(self.sql.ACTIVITY, {
                "bucket": bucket_seconds, "origin": origin, "since": first}).fetchall()}
        buckets = []
        start = first
        while start <= now:
            started, completed, failed, cancelled = counts.get(start, (0, 0, 0, 0))
            buckets.append(ActivityBucket(start, started, completed, failed, cancelled))
            start += step
        return Activity(first, now, bucket_seconds, buckets)

    def workers(self, include_stopped: bool = False) -> list[WorkerView]:
        """The workers the heartbeat keeps, newest first (stopped ones too, if asked)."""
        with self.connection() as c:
            rows = c.execute(self.sql.WORKERS, {"all": include_stopped}).fetchall()
        return [WorkerView(str(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], list(r[7]), r[8], r[9],
                           r[10], r[11]) for r in rows]

    def active_pause_rules(self) -> list[tuple[int, str | None, str | None, str | None,
                                               float | None, datetime | None]]:
        """The active rules as workers check them: id, workflow, execution, step pattern,
        seconds until they lift by themselves (None: never) and when."""
        with self.connection() as c:
            return [tuple(r) for r in
                    c.execute(self.sql.ACTIVE_PAUSE_RULES).fetchall()]

    def pause_rules(self, active_only: bool = True) -> list[PauseRule]:
        """The pause rules: the active ones, or all of them."""
        with self.connection() as c:
            rows = c.execute(self.sql.PAUSE_RULES, {"active": active_only}).fetchall()
        return [PauseRule(*r) for r in rows]


def _command(r: Sequence[Any], failed: list[AttemptView] | None) -> CommandView:
    """A history row (shaped like queries.reads.HISTORY) with its failed attempts, and its
    last attempt when that one succeeded or is still running."""
    (seq, kind, name, status, ok, child, created, started, finished, wake_at, attempt,
     preview, error, child_execution) = r
    attempts = list(failed or [])
    if kind == "step" and status == "done" and ok:  # failed ones are all in step_attempts
        attempts.append(AttemptView(attempt, started, finished, True, None))
    elif kind == "step" and status == "running" and not any(
            (a.attempt, a.started_at) == (attempt, started) for a in attempts):
        attempts.append(AttemptView(attempt, started, None, None, None))
    return CommandView(seq, kind, name, status, ok, child, created, started, finished, wake_at,
                       attempts, preview if ok else None, _loads(error) if ok is False else None,
                       child_execution)
