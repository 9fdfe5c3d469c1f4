"""Parallel children: their outcomes (the barrier decided in the same statement), their
retries and their hand-backs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from .. import serde
from .base import Connection, StoreBase
from .records import ChildClaim, ChildOutcome, child_claim, error_text

__all__ = ["ChildTransitions"]


class ChildTransitions(StoreBase):
    """A worker's transitions on a parallel child it holds."""

    def complete_child(self, child: ChildClaim, ok: bool, value_text: str | None,
                       error: dict[str, Any] | None, conn: Connection) -> bool:
        """Record a child's outcome and, if it was the last open one, wake the parent: one
        statement (:meth:`complete_children` for one child). False if the child's claim no
        longer holds it."""
        accepted, _ = self.complete_children(
            child.execution_id, [ChildOutcome(child, ok, value_text, error)], conn)
        return child.seq in accepted

    def complete_children(self, execution_id: str, outcomes: Sequence[ChildOutcome],
                          conn: Connection, *, claim: int = 0, lease: float = 30.0,
                          worker: uuid.UUID | None = None, steps: Sequence[str] = ()
                          ) -> tuple[set[int], list[ChildClaim]]:
        """Record several children's outcomes of one parent in one statement (and wake the
        parent if they were its last open ones), claiming up to ``claim`` more of its due
        children in the same commit. Returns the positions accepted (the others' claims no
        longer hold them) and the children claimed."""
        expires = time.monotonic() + lease
        with self.connection(conn) as c:
            rows = c.execute(self.sql.COMPLETE_CHILDREN, {
                "id": execution_id, "seqs": [o.child.seq for o in outcomes],
                "owners": [o.child.owner for o in outcomes], "oks": [o.ok for o in outcomes],
                "values": [o.value_text for o in outcomes],
                "errors": [error_text(o.error) for o in outcomes], "claim": claim,
                "lease": lease, "worker": worker, "steps": list(steps)}).fetchall()
        accepted = set(rows[0][0] or ()) if rows else set()
        return accepted, [child_claim(r[1:], expires) for r in rows if r[1] is not None]

    def retry_child_later(self, child: ChildClaim, error: dict[str, Any], delay: float,
                          conn: Connection | None = None, *, backoff: bool = False) -> bool:
        """Record a child's failed attempt; it becomes claimable again after ``delay``."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.RETRY_CHILD_LATER, {
                "id": child.execution_id, "seq": child.seq, "owner": child.owner,
                "error": serde.dumps(error), "delay": delay, "backoff": backoff}).fetchone()
        return row is not None

    def release_child(self, child: ChildClaim, conn: Connection | None = None) -> None:
        """Hand a child back unrun (graceful stop)."""
        with self.connection(conn) as c:
            c.execute(self.sql.RELEASE_CHILD, {"id": child.execution_id, "seq": child.seq,
                                               "owner": child.owner})
