"""The hot path: a worker's transitions on an execution it holds, each one transaction (most
of them one statement), each fenced by the claim: a worker that lost its lease, or an execution
that was cancelled, writes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq

from .. import serde
from ..constants import WaitKind
from ..interpreter import Record
from .base import Connection, translate_errors
from .family import FamilyTransitions
from .records import Claim, error_text

__all__ = ["ExecutionTransitions"]

_IDLE = pq.TransactionStatus.IDLE


class ExecutionTransitions(FamilyTransitions):
    """Checkpoints, suspensions, completions of a claimed execution."""

    def load_history(self, execution_id: str, conn: Connection | None = None) -> list[Record]:
        """Every recorded command of the execution, in order: one query."""
        with self.connection(conn) as c:
            rows = c.execute(self.sql.LOAD_HISTORY, {"id": execution_id}).fetchall()
        return [Record(r[0], r[1], r[2], r[3], r[4], r[5], serde.loads(r[6]), r[7], r[8], r[9],
                       r[10]) for r in rows]

    def checkpoint(self, claim: Claim, record: Record, conn: Connection | None = None, *,
                   fresh: bool = False, elapsed: float = 0.0) -> bool:
        """Store a command's outcome; False if the claim no longer holds the execution.

        ``fresh``: nothing was recorded at this position yet, so a success takes the plain
        insert of the hot path; anything else takes the general upsert. ``elapsed``: seconds
        the command took (its start is recorded on the database's clock).
        """
        with self.connection(conn) as c:
            # The hot path: a raw prepared statement, outside any transaction only. Inside a
            # transactional step's, a rollback of a savepoint could have deallocated it, and
            # a failure there would abort the step's writes; psycopg's own path knows.
            if (fresh and record.ok and record.value is not None
                    and c.pgconn.transaction_status == _IDLE):
                try:
                    result = self._checkpoint_new_ok.execute(c, (
                        claim.execution_id.encode(), str(claim.owner).encode(),
                        str(record.seq).encode(), record.kind.encode(), record.name.encode(),
                        record.value.encode(), str(record.attempt).encode(),
                        repr(elapsed).encode()))
                except psycopg.errors.UniqueViolation:
                    return False  # recorded by someone else: this claim's view is stale
                return result.ntuples > 0
            row = c.execute(self.sql.CHECKPOINT, {
                "id": claim.execution_id, "owner": claim.owner, "seq": record.seq,
                "kind": record.kind, "name": record.name, "ok": record.ok,
                "value": record.value, "error": error_text(record.error),
                "attempt": record.attempt, "elapsed": elapsed, "guard": False}).fetchone()
        return row is not None

    def checkpoint_in_time(self, claim: Claim, record: Record, conn: Connection | None = None,
                           *, elapsed: float = 0.0) -> bool | None:
        """Store a timed attempt's outcome: True; None if it is a success that comes after
        the attempt's deadline by the database's clock (nothing written: it timed out);
        False if the claim no longer holds the execution."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.CHECKPOINT, {
                "id": claim.execution_id, "owner": claim.owner, "seq": record.seq,
                "kind": record.kind, "name": record.name, "ok": record.ok,
                "value": record.value, "error": error_text(record.error),
                "attempt": record.attempt, "elapsed": elapsed, "guard": True}).fetchone()
        if row is None:
            return False
        return True if row[0] else None

    def begin_attempt(self, claim: Claim, seq: int, name: str, attempt: int, timeout: float,
                      scope: str, conn: Connection | None = None) -> float | None:
        """Persist a timed step attempt and its deadline; seconds left, None if fenced out."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.BEGIN_ATTEMPT, {
                "id": claim.execution_id, "owner": claim.owner, "seq": seq, "name": name,
                "attempt": attempt, "timeout": timeout, "scope": scope}).fetchone()
        return None if row is None else float(row[0])

    def retry_step_later(self, claim: Claim, seq: int, name: str, attempt: int,
                         error: dict[str, Any], delay: float,
                         conn: Connection | None = None, *, elapsed: float = 0.0,
                         backoff: bool = False) -> bool:
        """Record a failed attempt (kept in step_attempts) and suspend the execution until
        the retry is due. ``backoff``: the step asked for it (zart.RetryAfter); ``attempt``
        is then the attempt before this one, so the retry spends none."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.RETRY_STEP_LATER, {
                "id": claim.execution_id, "owner": claim.owner, "seq": seq, "name": name,
                "attempt": attempt, "error": serde.dumps(error), "delay": delay,
                "elapsed": elapsed, "backoff": backoff}).fetchone()
        return row is not None

    def schedule_sleep(self, claim: Claim, seq: int, name: str, seconds: float | None,
                       until: datetime | None,
                       conn: Connection | None = None) -> tuple[datetime, bool] | None:
        """Record a sleep (once); return its wake time and whether it is due. None: fenced."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.SCHEDULE_SLEEP, {
                "id": claim.execution_id, "owner": claim.owner, "seq": seq, "name": name,
                "seconds": seconds, "until": until}).fetchone()
        return None if row is None else (row[0], bool(row[1]))

    def resume_due_sleep(self, claim: Claim, seq: int, name: str,
                         conn: Connection | None = None) -> bool:
        """Record a stored sleep done if it is due, in one statement; False: not due (or
        fenced out), so the caller takes the general path."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.RESUME_DUE_SLEEP, {
                "id": claim.execution_id, "owner": claim.owner, "seq": seq,
                "name": name}).fetchone()
        return row is not None

    def resume_arrived_event(self, claim: Claim, seq: int, name: str,
                             conn: Connection | None = None) -> tuple[str] | None:
        """Record a stored event wait done if its event has arrived, in one statement:
        ``(payload,)``, or None (not seen yet, or fenced out: take the general path)."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.RESUME_ARRIVED_EVENT, {
                "id": claim.execution_id, "owner": claim.owner, "seq": seq,
                "name": name}).fetchone()
        return None if row is None else (row[0],)

    def suspend(self, claim: Claim, wake_at: datetime | None, wait_kind: WaitKind,
                waiting_for: str | None = None, conn: Connection | None = None, *,
                paused_by: int | None = None) -> bool:
        """Give the execution up until ``wake_at`` or a wake-up, waiting on ``wait_kind``
        (``waiting_for`` names it; ``paused_by``: the pause rule); frees the thread."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.SUSPEND, {
                "id": claim.execution_id, "owner": claim.owner, "wake_at": wake_at,
                "wait_kind": wait_kind, "waiting_for": waiting_for,
                "paused_by": paused_by}).fetchone()
        return row is not None

    def suspend_paused(self, claim: Claim, rule: int, step: str,
                       conn: Connection | None = None) -> bool | None:
        """Suspend in front of ``step``, held by the pause rule ``rule``, until it lifts:
        True; None if the rule is no longer active (go on); False if fenced out."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.SUSPEND_PAUSED, {
                "id": claim.execution_id, "owner": claim.owner, "rule": rule,
                "step": step}).fetchone()
        assert row is not None
        active, suspended = row
        if not active:
            return None
        return bool(suspended)

    def wait_for_event(self, claim: Claim, seq: int, name: str, timeout: float | None,
                       conn: Connection) -> tuple[str, str | None] | None:
        """Consume a buffered event, time the wait out, or suspend on it; one transaction.

        Returns ("received", payload), ("timeout", None) or ("waiting", None); None when the
        claim was fenced out.
        """
        base = {"id": claim.execution_id, "owner": claim.owner, "seq": seq, "name": name}
        with translate_errors(), conn.transaction():
            row = conn.execute(self.sql.SCHEDULE_WAIT, {**base, "timeout": timeout}).fetchone()
            if row is None:
                return None
            wake_at = row[0]
            found = conn.execute(self.sql.FIND_EVENT, {**base, "wake_at": wake_at}).fetchone()
            assert found is not None
            payload, arrived, expired = found
            if arrived:
                return "received", payload
            if expired:
                return "timeout", None
            conn.execute(self.sql.SUSPEND, {**base, "wake_at": wake_at, "paused_by": None,
                                            "wait_kind": WaitKind.EVENT, "waiting_for": name})
            return "waiting", None

    def spawn_children(self, claim: Claim, seq: int, children: Sequence[dict[str, Any]],
                       conn: Connection,
                       workflows: Sequence[tuple[int, dict[str, Any]]] = ()) -> bool | None:
        """Insert the parallel children (once; steps, and child workflows at the positions
        ``workflows`` gives) and suspend until they are all done.

        Returns True when every child is already done (nothing suspended), False when the
        execution now waits on them, None when the claim was fenced out.
        """
        seqs = [seq + i for i in range(len(children) + len(workflows))]
        steps = [s for s in seqs if s not in {position for position, _ in workflows}]
        base = {"id": claim.execution_id, "owner": claim.owner}
        with translate_errors(), conn.transaction():
            if conn.execute(self.sql.LOCK_FENCE, base).fetchone() is None:
                return None
            conn.execute(self.sql.SPAWN_CHILDREN, {
                "id": claim.execution_id, "seqs": steps, "names": [c["name"] for c in children],
                "fns": [c["fn"] for c in children], "args": [c["args"] for c in children],
                "options": [c["options"] for c in children]})
            if workflows:
                self._start_children(conn, claim, seq, workflows, in_parallel=True)
            open_row = conn.execute(self.sql.CHILDREN_OPEN,
                                    {"id": claim.execution_id, "seqs": seqs}).fetchone()
            assert open_row is not None
            if open_row[0] == 0:
                return True
            conn.execute(self.sql.SUSPEND_ON_CHILDREN, {**base, "open": open_row[0]})
            return False

    def complete(self, claim: Claim, result_text: str, conn: Connection | None = None) -> bool:
        """Mark the execution completed with its result."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.COMPLETE, {"id": claim.execution_id, "owner": claim.owner,
                                                "result": result_text}).fetchone()
        return row is not None

    def fail(self, claim: Claim, error: dict[str, Any], conn: Connection | None = None) -> bool:
        """Mark the execution failed with the error that ended it."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.FAIL, {"id": claim.execution_id, "owner": claim.owner,
                                            "error": serde.dumps(error)}).fetchone()
        return row is not None

    def retry_workflow(self, claim: Claim, error: dict[str, Any], delay: float, from_seq: int,
                       conn: Connection) -> bool:
        """Schedule the body's next attempt; failed outcomes from ``from_seq`` on are forgotten."""
        base = {"id": claim.execution_id, "owner": claim.owner}
        with translate_errors(), conn.transaction():
            row = conn.execute(self.sql.RETRY_WORKFLOW, {
                **base, "error": serde.dumps(error), "delay": delay}).fetchone()
            if row is None:
                return False
            conn.execute(self.sql.FORGET_FAILURES, {"id": claim.execution_id,
                                                    "from_seq": from_seq})
            return True

    def release(self, claim: Claim, conn: Connection | None = None) -> None:
        """Hand the execution back (graceful stop): claimable again at once."""
        with self.connection(conn) as c:
            c.execute(self.sql.RELEASE, {"id": claim.execution_id, "owner": claim.owner})
