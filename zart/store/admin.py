"""Operator transitions: each one transaction that locks the execution's row first (ordering it
against a worker's fenced writes: a worker that held the execution writes nothing after), is
refused with the reason from a state where it makes no sense, and leaves an audit record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from .. import serde
from ..constants import FINAL_STATUSES, ExecutionStatus
from ..errors import ActionRefused, ExecutionNotFound, PauseRuleNotFound
from ..views import PauseRule, PurgeResult
from .base import Connection, StoreBase, translate_errors

__all__ = ["AdminTransitions", "glob_to_like"]

T = TypeVar("T")

CANCELLED_ERROR = {"type": "Cancelled", "module": "zart", "message": "the execution was cancelled"}
CANCELLED_PARENT_ERROR = {"type": "Cancelled", "module": "zart",
                          "message": "its parent execution was cancelled"}


def glob_to_like(pattern: str) -> str:
    """A step-name glob (``*`` any run, ``?`` one character) as a LIKE pattern."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


class AdminTransitions(StoreBase):
    """Retry, restart, rerun, resume, cancel, pause rules and purge."""

    def _transition(self, execution_id: str, action: str, by: str | None,
                    act: Callable[[Connection, str, int, tuple[Any, ...]], dict[str, Any]],
                    ) -> dict[str, Any]:
        """Lock the execution, let ``act`` check its status and change it (raising
        ActionRefused to refuse), and record the action with the details ``act`` returns."""
        def run(c: Connection) -> dict[str, Any]:
            with translate_errors(), c.transaction():
                row = c.execute(self.sql.LOCK_EXECUTION, {"id": execution_id}).fetchone()
                if row is None:
                    raise ExecutionNotFound(f"no execution {execution_id!r} to {action}")
                details = act(c, row[0], row[1], tuple(row))
                c.execute(self.sql.RECORD_ACTION, {
                    "id": execution_id, "action": action, "by": by,
                    "details": serde.dumps(details)})
                return details
        return self.idempotent(run)

    def retry_execution(self, execution_id: str, by: str | None) -> dict[str, Any]:
        """A failed execution carries on from where it failed (its last failed outcomes
        forgotten, so they run again with fresh attempts); completed steps replay."""
        def act(c: Connection, status: str, run: int, row: tuple[Any, ...]) -> dict[str, Any]:
            _refuse_unless(execution_id, "retry", status, {ExecutionStatus.FAILED},
                           "only a failed execution is retried (restart or rerun one that "
                           "finished otherwise)")
            forgotten = c.execute(self.sql.FORGET_LAST_FAILURES, {"id": execution_id}).fetchall()
            c.execute(self.sql.SET_GOING, {"id": execution_id})
            return {"run": run, "forgotten": [name for _, name in sorted(forgotten)],
                    "error": serde.loads(row[4])}
        return self._transition(execution_id, "retry", by, act)

    def restart_execution(self, execution_id: str, by: str | None, replace_input: bool,
                          input_text: str | None) -> dict[str, Any]:
        """A finished execution runs again from the beginning as a new run (with a new input,
        if given); the earlier run's history is kept."""
        def act(c: Connection, status: str, run: int, row: tuple[Any, ...]) -> dict[str, Any]:
            _refuse_unless(execution_id, "restart", status, FINAL_STATUSES,
                           "cancel it first, or use retry for a failed one")
            self._new_run(c, execution_id, "restart", None, 0, replace_input, input_text)
            return {"ended_run": run, "run": run + 1, "new_input": replace_input}
        return self._transition(execution_id, "restart", by, act)

    def rerun_execution(self, execution_id: str, from_step: str,
                        by: str | None) -> dict[str, Any]:
        """A finished execution runs again as a new run that keeps its history before
        ``from_step`` and runs that command and everything after it again."""
        def act(c: Connection, status: str, run: int, row: tuple[Any, ...]) -> dict[str, Any]:
            _refuse_unless(execution_id, "rerun", status, FINAL_STATUSES,
                           "cancel it first: a run in progress is not rewritten under a worker")
            found = c.execute(self.sql.FIND_COMMAND, {"id": execution_id,
                                                      "name": from_step}).fetchone()
            if found is None or found[0] is None:
                names = [n for (n,) in c.execute(self.sql.COMMAND_NAMES,
                                                 {"id": execution_id}).fetchall()]
                raise ActionRefused(
                    f"execution {execution_id!r} has no command {from_step!r} in its current "
                    f"run's history to rerun from (it has: {', '.join(names) or 'none'})",
                    execution_id=execution_id, action="rerun", status=status)
            self._new_run(c, execution_id, "rerun", from_step, int(found[0]), False, None)
            return {"ended_run": run, "run": run + 1, "from_step": from_step,
                    "from_position": int(found[0])}
        return self._transition(execution_id, "rerun", by, act)

    def _new_run(self, c: Connection, execution_id: str, reason: str, from_step: str | None,
                 from_seq: int, replace_input: bool, input_text: str | None) -> None:
        args = {"id": execution_id, "reason": reason, "from_step": from_step}
        c.execute(self.sql.END_RUN, args)
        c.execute(self.sql.FORGET_HISTORY_FROM, {"id": execution_id, "from_seq": from_seq})
        c.execute(self.sql.NEW_RUN, {"id": execution_id, "replace": replace_input,
                                     "input": input_text})
        c.execute(self.sql.SET_GOING, {"id": execution_id})

    def resume_execution(self, execution_id: str, by: str | None) -> dict[str, Any]:
        """A cancelled execution goes on where it stopped (cancelled children too)."""
        def act(c: Connection, status: str, run: int, row: tuple[Any, ...]) -> dict[str, Any]:
            _refuse_unless(execution_id, "resume", status, {ExecutionStatus.CANCELLED},
                           "only a cancelled execution is resumed")
            c.execute(self.sql.RESUME_CHILDREN, {"id": execution_id})
            c.execute(self.sql.SET_GOING, {"id": execution_id})
            return {"run": run}
        return self._transition(execution_id, "resume", by, act)

    def cancel_execution(self, execution_id: str, by: str | None) -> bool:
        """Cancel an execution that has not finished (its children too): it stops at its next
        checkpoint. False if it had finished (nothing changes, no audit record)."""
        def act(c: Connection, status: str, run: int, row: tuple[Any, ...]) -> dict[str, Any]:
            if status in FINAL_STATUSES:
                raise _AlreadyFinished()
            return {"was": status, "run": run,
                    "child_workflows_cancelled": self._cancelled(c, execution_id)}
        try:
            self._transition(execution_id, "cancel", by, act)
        except _AlreadyFinished:
            return False
        return True

    def _cancelled(self, c: Connection, execution_id: str) -> int:
        """Cancel an open execution, its children and its child workflows (recursively), in
        the caller's transaction; how many child workflows were cancelled."""
        c.execute(self.sql.SET_CANCELLED, {"id": execution_id,
                                           "error": serde.dumps(CANCELLED_ERROR)})
        c.execute(self.sql.CANCEL_CHILDREN, {"id": execution_id})
        descendants = c.execute(self.sql.CANCEL_DESCENDANTS, {
            "id": execution_id, "error": serde.dumps(CANCELLED_PARENT_ERROR)}).fetchone()
        return 0 if descendants is None else int(descendants[0])

    def cancel_in(self, c: Connection, execution_id: str, by: str) -> None:
        """Cancel an open execution inside the caller's transaction, with an audit record
        (a schedule cancelling its previous run)."""
        row = c.execute(self.sql.LOCK_EXECUTION, {"id": execution_id}).fetchone()
        if row is None or row[0] in FINAL_STATUSES:
            return
        cancelled = self._cancelled(c, execution_id)
        c.execute(self.sql.RECORD_ACTION, {
            "id": execution_id, "action": "cancel", "by": by,
            "details": serde.dumps({"was": row[0], "child_workflows_cancelled": cancelled})})

    # -- pause rules ----------------------------------------------------------------------

    def create_pause_rule(self, workflow: str | None, execution_id: str | None,
                          step_pattern: str | None, reason: str | None, by: str | None,
                          seconds: float | None, until: datetime | None) -> PauseRule:
        """Record a pause rule (active at once: claims and workers enforce it)."""
        with self.connection() as c, translate_errors(), c.transaction():
            row = c.execute(self.sql.INSERT_PAUSE_RULE, {
                "workflow": workflow, "execution": execution_id, "pattern": step_pattern,
                "like": None if step_pattern is None else glob_to_like(step_pattern),
                "reason": reason, "by": by, "seconds": seconds, "until": until}).fetchone()
            assert row is not None
            rule = PauseRule(*row)
            if execution_id is not None:
                c.execute(self.sql.RECORD_ACTION, {
                    "id": execution_id, "action": "pause", "by": by,
                    "details": serde.dumps({"rule": rule.id, "step": step_pattern,
                                            "reason": reason})})
        return rule

    def lift_pause_rule(self, rule_id: int, by: str | None) -> tuple[PauseRule, int]:
        """Lift an active rule and wake, at once, what it held; the rule and how many
        suspended executions woke."""
        with self.connection() as c, translate_errors(), c.transaction():
            row = c.execute(self.sql.LIFT_PAUSE_RULE, {"id": rule_id, "by": by}).fetchone()
            if row is None:
                found = c.execute(self.sql.PAUSE_RULE, {"id": rule_id}).fetchone()
                if found is None:
                    raise PauseRuleNotFound(f"no pause rule {rule_id}")
                rule = PauseRule(*found)
                at = rule.lifted_at or rule.until
                when = "(no time)" if at is None else at.isoformat(timespec="seconds")
                raise ActionRefused(
                    f"pause rule {rule_id} is no longer active: "
                    + (f"lifted at {when} by {rule.lifted_by or 'someone'}" if rule.lifted_at
                       else f"it expired at {when}"), action="unpause")
            rule = PauseRule(*row)
            woken = c.execute(self.sql.WAKE_PAUSED, {"rule": rule_id,
                                                     "channel": self.channel_work}).fetchone()
            if rule.execution_id is not None:
                c.execute(self.sql.RECORD_ACTION, {
                    "id": rule.execution_id, "action": "unpause", "by": by,
                    "details": serde.dumps({"rule": rule.id})})
        return rule, 0 if woken is None else int(woken[0])

    # -- retention ------------------------------------------------------------------------

    def purge(self, older_than: float, statuses: Sequence[str], workflow: str | None,
              batch_size: int, progress: Callable[[PurgeResult], None] | None = None
              ) -> PurgeResult:
        """Delete finished executions older than ``older_than`` seconds (by finish time), in
        batches of their own transactions; one purge at a time per schema."""
        result = PurgeResult()
        key = {"key": f"zart-purge:{self.schema}"}
        with self.connection() as c, translate_errors():
            locked = c.execute(self.sql.PURGE_LOCK, key).fetchone()
            if not locked or not locked[0]:
                raise ActionRefused("another purge of this schema is running", action="purge")
            try:
                while True:
                    with c.transaction():
                        rows = c.execute(self.sql.PURGE_BATCH, {
                            "statuses": list(statuses), "older": older_than,
                            "workflow": workflow, "batch": batch_size}).fetchall()
                    deleted = sum(int(n) for _, n in rows)
                    if not deleted:
                        return result
                    result.batches += 1
                    result.executions += deleted
                    for status, n in rows:
                        result.by_status[status] = result.by_status.get(status, 0) + int(n)
                    if progress is not None:
                        progress(result)
            finally:
                if not c.broken:
                    c.execute(self.sql.PURGE_UNLOCK, key)


class _AlreadyFinished(Exception):
    """A cancel found the execution finished: roll back, report False."""


def _refuse_unless(execution_id: str, action: str, status: str, allowed: set[str] | frozenset[str],
                   hint: str) -> None:
    if status not in allowed:
        raise ActionRefused(f"cannot {action} execution {execution_id!r}: it is {status}; {hint}",
                            execution_id=execution_id, action=action, status=status)
