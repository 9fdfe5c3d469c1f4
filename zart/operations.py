"""Operating zart from Python: list, describe, explain, count, repair, pause, purge.

The CLI (:mod:`zart.cli`) and the HTTP API call these and nothing else. Every input is checked
before it reaches the database, with an error that names it; every repair is one transaction,
refused with the reason from a state where it makes no sense, and recorded in the execution's
audit trail with ``by`` (free text: who or what did it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from . import serde
from .commands import validate_name
from .constants import FINAL_STATUSES, ExecutionStatus
from .durations import Duration, parse_duration
from .errors import ConfigurationError
from .store import Store
from .views import Activity, ExecutionSummary, Page, PauseRule, PurgeResult, Stats, WorkerView

__all__ = ["KEEP_INPUT", "Operations", "by_text"]

MAX_PAGE = 1000
"""The most executions one page lists."""

MAX_ACTIVITY_BUCKETS = 1000
"""The most buckets one activity read returns."""

MAX_BY = 200
"""The longest ``by`` (who did it) accepted."""


class _KeepInput:
    """The default of ``restart(data=...)``: the execution's input stays as it was."""

    def __repr__(self) -> str:
        return "KEEP_INPUT"


KEEP_INPUT: Any = _KeepInput()


def by_text(by: object) -> str | None:
    """``by`` (who or what did it) if it is a short text, else a clear error."""
    if by is None:
        return None
    if not isinstance(by, str) or not by.strip() or len(by) > MAX_BY or not storable(by):
        raise ConfigurationError(f"by must be a non-empty text of at most {MAX_BY} "
                                 f"characters (who or what did it), without NUL or lone "
                                 f"surrogates, got {by!r}")
    return by


def storable(text: str) -> bool:
    """Whether PostgreSQL can store ``text``: no NUL character, valid UTF-8 (no lone
    surrogate)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _statuses(status: str | Sequence[str] | None) -> list[str] | None:
    if status is None:
        return None
    wanted = [status] if isinstance(status, str) else list(status)
    unknown = [s for s in wanted if s not in set(ExecutionStatus)]
    if unknown or not wanted:
        raise ConfigurationError(f"unknown status {unknown or wanted!r}; the statuses are "
                                 f"{', '.join(ExecutionStatus)}")
    return wanted


def _aware(value: object, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigurationError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value


class Operations:
    """The operator's API, mixed into :class:`zart.Zart`."""

    store: Store

    # -- reading --------------------------------------------------------------------------

    def executions(self, *, status: str | Sequence[str] | None = None,
                   workflow: str | None = None, created_after: datetime | None = None,
                   created_before: datetime | None = None, id_prefix: str | None = None,
                   limit: int = 50, cursor: str | None = None) -> Page[ExecutionSummary]:
        """A page of executions, newest first, filtered by status (one or several), workflow,
        creation time (``created_after`` inclusive, ``created_before`` exclusive) and id
        prefix; pass the page's ``cursor`` back for the next one."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise ConfigurationError(f"limit must be an int from 1 to {MAX_PAGE}, got {limit!r}")
        if workflow is not None:
            validate_name(workflow, "workflow name")
        if id_prefix is not None:
            validate_name(id_prefix, "id prefix")
        if cursor is not None and not isinstance(cursor, str):
            raise ConfigurationError(f"cursor must be the text a page returned, got {cursor!r}")
        return self.store.list_executions(
            statuses=_statuses(status), workflow=workflow,
            created_after=_aware(created_after, "created_after"),
            created_before=_aware(created_before, "created_before"),
            id_prefix=id_prefix, limit=limit, cursor=cursor)

    def stats(self) -> Stats:
        """Counts by status and workflow, the oldest due execution's age, live workers."""
        return self.store.stats()

    def activity(self, *, span: Duration = "24h", bucket: Duration = "1h") -> Activity:
        """Executions started and finished (completed, failed, cancelled) per ``bucket`` over
        the last ``span``: what a dashboard charts. At most 1000 buckets."""
        span_seconds = parse_duration(span, what="span")
        bucket_seconds = parse_duration(bucket, what="bucket")
        if bucket_seconds < 1:
            raise ConfigurationError(f"bucket must be at least 1s, got {bucket!r}")
        if not 0 < span_seconds <= 366 * 86400:
            raise ConfigurationError(f"span must be more than 0s and at most 366 days, got "
                                     f"{span!r}")
        if span_seconds / bucket_seconds > MAX_ACTIVITY_BUCKETS:
            raise ConfigurationError(f"a span of {span!r} in buckets of {bucket!r} makes more "
                                     f"than {MAX_ACTIVITY_BUCKETS} buckets; choose larger ones")
        return self.store.activity(span_seconds, bucket_seconds)

    def workers(self, *, include_stopped: bool = False) -> list[WorkerView]:
        """The worker processes the heartbeats keep (newest first)."""
        return self.store.workers(include_stopped)

    def pauses(self, *, active_only: bool = True) -> list[PauseRule]:
        """The pause rules (by default only the active ones)."""
        return self.store.pause_rules(active_only)

    # -- repairing ------------------------------------------------------------------------

    def retry(self, execution_id: str, *, by: str | None = None) -> dict[str, Any]:
        """A failed execution carries on from where it failed: its last failed step gets a
        fresh set of attempts, completed steps replay. Refused unless it failed."""
        return self.store.retry_execution(validate_name(execution_id, "execution id"), by_text(by))

    def restart(self, execution_id: str, *, data: Any = KEEP_INPUT,
                by: str | None = None) -> dict[str, Any]:
        """A finished execution runs again from the beginning, as a new run (with ``data`` as
        its new input, if given). Its earlier runs are kept. Refused unless it finished."""
        replace = data is not KEEP_INPUT
        text = serde.dumps(data, what="the new input") if replace else None
        return self.store.restart_execution(validate_name(execution_id, "execution id"),
                                            by_text(by), replace, text)

    def rerun(self, execution_id: str, *, from_step: str,
              by: str | None = None) -> dict[str, Any]:
        """A finished execution runs again as a new run that keeps its history before
        ``from_step`` and runs that command and everything after it again (Temporal's reset,
        DBOS's fork). Refused unless it finished, or without such a command."""
        return self.store.rerun_execution(validate_name(execution_id, "execution id"),
                                          validate_name(from_step, "step name"), by_text(by))

    def resume(self, execution_id: str, *, by: str | None = None) -> dict[str, Any]:
        """A cancelled execution goes on where it stopped. Refused unless it was cancelled."""
        return self.store.resume_execution(validate_name(execution_id, "execution id"),
                                           by_text(by))

    # -- pausing --------------------------------------------------------------------------

    def pause(self, *, workflow: str | None = None, execution: str | None = None,
              step: str | None = None, reason: str | None = None,
              until: datetime | Duration | None = None, by: str | None = None) -> PauseRule:
        """Pause what matches (every given criterion; none given: everything): without
        ``step``, matching executions are not claimed; with a step name pattern (``*`` and
        ``?`` wildcards), they run up to a matching step and suspend in front of it. Steps in
        flight finish. ``until`` (a time, or a duration from now) lifts it by itself."""
        if workflow is not None:
            validate_name(workflow, "workflow name")
        if execution is not None:
            validate_name(execution, "execution id")
        if step is not None:
            validate_name(step, "step pattern")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 1000
                                   or not storable(reason)):
            raise ConfigurationError(f"reason must be a text of at most 1000 characters, "
                                     f"without NUL or lone surrogates, got {reason!r}")
        seconds = None
        at = None
        if isinstance(until, datetime):
            at = _aware(until, "until")
        elif until is not None:
            seconds = parse_duration(until, what="until")
        return self.store.create_pause_rule(workflow, execution, step, reason, by_text(by),
                                            seconds, at)

    def unpause(self, rule_id: int, *, by: str | None = None) -> PauseRule:
        """Lift a pause rule: what it held wakes at once. Refused if it is no longer active."""
        if not isinstance(rule_id, int) or isinstance(rule_id, bool) or rule_id < 1:
            raise ConfigurationError(f"a pause rule id is a positive int, got {rule_id!r}")
        rule, _ = self.store.lift_pause_rule(rule_id, by_text(by))
        return rule

    # -- retention ------------------------------------------------------------------------

    def purge(self, *, older_than: Duration,
              statuses: Sequence[str] = ("completed", "failed", "cancelled"),
              workflow: str | None = None, batch_size: int = 1000,
              progress: Callable[[PurgeResult], None] | None = None) -> PurgeResult:
        """Delete finished executions (and everything they own) that finished more than
        ``older_than`` ago, in batches of their own transactions (no long locks). Open
        executions are never purged; ``progress`` is told after each batch."""
        seconds = parse_duration(older_than, what="older_than")
        wanted = _statuses(list(statuses)) or []
        open_ones = [s for s in wanted if s not in FINAL_STATUSES]
        if open_ones:
            raise ConfigurationError(f"only finished executions are purged "
                                     f"({', '.join(sorted(FINAL_STATUSES))}), not {open_ones}")
        if workflow is not None:
            validate_name(workflow, "workflow name")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or \
                not 1 <= batch_size <= 100_000:
            raise ConfigurationError(f"batch_size must be an int from 1 to 100000, got "
                                     f"{batch_size!r}")
        return self.store.purge(seconds, wanted, workflow, batch_size, progress)
