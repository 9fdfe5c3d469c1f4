"""Child workflows: a parent starts a child execution as a durable command and waits for it.
The child's finishing trigger (schema.sql: child_finished) records its outcome into the
parent's command and wakes the parent, in the child's own finishing transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import serde
from ..constants import ExecutionStatus
from ..errors import WorkflowDefinitionError
from ..interpreter import Record
from .base import Connection, StoreBase
from .records import Claim

__all__ = ["ChildStart", "FamilyTransitions"]

ChildStart = dict[str, Any]
"""A child workflow to start: name, child (its id), workflow, input, max_attempts, retry
(JSON text), timeout (seconds or None)."""


class FamilyTransitions(StoreBase):
    """Starting child workflows and reading a parent's children."""

    def _start_children(self, c: Connection, claim: Claim, seq: int,
                        children: Sequence[tuple[int, ChildStart]], in_parallel: bool) -> None:
        """Record each child's command in the parent's history and create its execution,
        inside the caller's fenced transaction."""
        for position, child in children:
            args = {"parent": claim.execution_id, "seq": position, "in_parallel": in_parallel,
                    **child}
            c.execute(self.sql.RECORD_CHILD_COMMAND, args)
            c.execute(self.sql.START_CHILD, args)
            state = c.execute(self.sql.CHILD_STATE, args).fetchone()
            assert state is not None
            parent_id, parent_seq, status, result, error, attempt, done = state[:7]
            if (parent_id, parent_seq) != (claim.execution_id, position):
                raise WorkflowDefinitionError(
                    f"child workflow {child['name']!r} cannot use execution id "
                    f"{child['child']!r}: it is already another execution's")
            if done != "done" and status in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED,
                                             ExecutionStatus.CANCELLED):
                ok = status == ExecutionStatus.COMPLETED
                c.execute(self.sql.RECORD_CHILD_OUTCOME, {
                    **args, "ok": ok, "value": result if ok else None,
                    "error": None if ok else serde.dumps(_child_error(
                        serde.loads(error) or {}, child["child"], status, attempt))})

    def start_child(self, claim: Claim, seq: int, child: ChildStart,
                    conn: Connection) -> Record | bool | None:
        """Start a child workflow (once) and suspend until it finishes: its outcome's record
        if it has finished already, True when the parent now waits, None when fenced out."""
        base = {"id": claim.execution_id, "owner": claim.owner}
        with conn.transaction():
            if conn.execute(self.sql.LOCK_FENCE, base).fetchone() is None:
                return None
            self._start_children(conn, claim, seq, [(seq, child)], in_parallel=False)
            state = conn.execute(self.sql.CHILD_STATE, {
                "child": child["child"], "parent": claim.execution_id, "seq": seq}).fetchone()
            assert state is not None
            if state[6] == "done":
                return Record(seq, "child", child["name"], ok=bool(state[7]), value=state[8],
                              error=serde.loads(state[9]))
            conn.execute(self.sql.SUSPEND_ON_CHILD, {"parent": claim.execution_id,
                                                     "owner": claim.owner,
                                                     "child": child["child"]})
            return True


def _child_error(error: dict[str, Any], child_id: str, status: str,
                 attempt: int) -> dict[str, Any]:
    """The error a parent records for a child that failed or was cancelled (as the trigger
    builds it)."""
    return {"type": error.get("type", "Error"), "module": error.get("module"),
            "message": error.get("message", ""), "traceback": error.get("traceback"),
            "attributes": error.get("attributes"), "attempts": attempt, "kind": "ChildFailed",
            "child": child_id, "status": status}
