"""Claiming due work (``FOR UPDATE SKIP LOCKED``), knowing when work falls due next, and
keeping leases alive; and giving back the lost leases of takeovers from live workers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from .. import serde
from ..queues import Queue
from ..retry import RetryPolicy
from .base import Connection, StoreBase
from .records import ChildClaim, Claim, WorkerInfo, child_claim

__all__ = ["ClaimTransitions"]


class ClaimTransitions(StoreBase):
    """A worker's dispatcher and heartbeat: claims, due times, leases."""

    def claim_executions(self, workflows: Sequence[str], limit: int, lease: float,
                         conn: Connection | None = None, *,
                         worker: uuid.UUID | None = None) -> list[Claim]:
        """Claim up to ``limit`` due executions of ``workflows`` (SKIP LOCKED) for ``worker``
        (None: claimed by hand, by a test or a tool)."""
        expires = time.monotonic() + lease
        with self.connection(conn) as c:
            rows = c.execute(self.sql.CLAIM_EXECUTIONS, {
                "workflows": list(workflows), "limit": limit, "lease": lease,
                "worker": worker}).fetchall()
        return [Claim(r[0], r[1], r[2], r[3], r[4], r[5],
                      RetryPolicy.from_json(serde.loads(r[6])), r[7], bool(r[8]), r[9],
                      bool(r[10]), expires, r[11], r[-2], r[-1]) for r in rows]

    def queued_due(self, workflows: Sequence[str], queues: Sequence[str],
                   conn: Connection | None = None) -> bool:
        """Whether an execution of ``workflows`` in ``queues`` is due (and so unclaimed)."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.QUEUED_DUE, {"workflows": list(workflows),
                                                  "queues": list(queues)}).fetchone()
        return bool(row and row[0])

    def claim_queued(self, workflows: Sequence[str], queues: Sequence[str] | None, limit: int,
                     lease: float, conn: Connection | None = None, *,
                     worker: uuid.UUID | None = None) -> list[Claim]:
        """Claim up to ``limit`` due executions of ``workflows`` in ``queues`` (None: every
        queue), within each queue's concurrency, per-key and rate limits."""
        expires = time.monotonic() + lease
        with self.connection(conn) as c:
            rows = c.execute(self.sql.CLAIM_QUEUED, {
                "workflows": list(workflows), "limit": limit, "lease": lease, "worker": worker,
                "queues": None if queues is None else list(queues)}).fetchall()
        return [Claim(r[0], r[1], r[2], r[3], r[4], r[5],
                      RetryPolicy.from_json(serde.loads(r[6])), r[7], bool(r[8]), r[9],
                      bool(r[10]), expires, r[11], r[-2], r[-1]) for r in rows]

    def register_queues(self, queues: Sequence[Queue]) -> None:
        """Store the limits ``queues`` declare (a worker does at start)."""
        with self.connection() as c:
            for queue in queues:
                c.execute(self.sql.REGISTER_QUEUE, {
                    "name": queue.name, "concurrency": queue.concurrency,
                    "per_key": queue.per_key, "rate_limit": queue.rate_limit,
                    "rate_period": queue.rate_period})

    def claim_children(self, steps: Sequence[str], limit: int, lease: float,
                       conn: Connection | None = None, *,
                       worker: uuid.UUID | None = None) -> list[ChildClaim]:
        """Claim up to ``limit`` due parallel children whose step is one of ``steps`` (the
        names this process can run: zart.runtime.children.known_refs) for ``worker``."""
        expires = time.monotonic() + lease
        with self.connection(conn) as c:
            rows = c.execute(self.sql.CLAIM_CHILDREN, {
                "steps": list(steps), "limit": limit, "lease": lease,
                "worker": worker}).fetchall()
        return [child_claim(r, expires) for r in rows]

    def next_due(self, workflows: Sequence[str], steps: Sequence[str] = (),
                 conn: Connection | None = None, *, paused: bool = True) -> float | None:
        """Seconds until the next sleep, retry, timeout or lease expiry of ``workflows``, or
        of children of ``steps``, falls due (None: none). ``paused=False``: the caller knows
        that no pause rule is active, so none is looked for (a cheaper plan)."""
        with self.connection(conn) as c:
            # Not prepared: a plan cached while the tables were small goes on scanning long
            # after a burst of suspensions has grown them.
            row = c.execute(self.sql.NEXT_DUE if paused else self.sql.NEXT_DUE_UNPAUSED,
                            {"workflows": list(workflows), "steps": list(steps)},
                            prepare=False).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def heartbeat(self, worker: WorkerInfo, executions: Sequence[tuple[str, uuid.UUID]],
                  children: Sequence[tuple[str, int, uuid.UUID]],
                  conn: Connection | None = None) -> set[uuid.UUID]:
        """Record that ``worker`` is alive and renew the leases it holds; return the owner
        tokens still valid."""
        alive: set[uuid.UUID] = set()
        with self.connection(conn) as c:
            rows = c.execute(self.sql.HEARTBEAT_EXECUTIONS, {
                "worker": worker.id, "name": worker.name, "host": worker.host,
                "pid": worker.pid, "version": worker.version, "threads": worker.threads,
                "lease": worker.lease, "workflows": list(worker.workflows),
                "ids": [e[0] for e in executions],
                "owners": [e[1] for e in executions]}).fetchall()
            alive.update(r[0] for r in rows)
            if children:
                rows = c.execute(self.sql.HEARTBEAT_CHILDREN, {
                    "lease": worker.lease, "ids": [ch[0] for ch in children],
                    "seqs": [ch[1] for ch in children],
                    "owners": [ch[2] for ch in children]}).fetchall()
                alive.update(r[0] for r in rows)
        return alive

    def worker_stopped(self, worker: WorkerInfo) -> None:
        """Record that ``worker`` stopped gracefully."""
        with self.connection() as c:
            c.execute(self.sql.WORKER_STOPPED, {"worker": worker.id})

    def refund_lost(self, lost: Sequence[Claim | ChildClaim],
                    conn: Connection | None = None) -> None:
        """These claims' work was taken over while their worker was alive: give back the lost
        leases the takeovers counted (only where the takeover found exactly this claim)."""
        executions = [c for c in lost if isinstance(c, Claim)]
        children = [c for c in lost if isinstance(c, ChildClaim)]
        with self.connection(conn) as c:
            if executions:
                c.execute(self.sql.REFUND_EXECUTIONS, {
                    "ids": [e.execution_id for e in executions],
                    "owners": [e.owner for e in executions]})
            if children:
                c.execute(self.sql.REFUND_CHILDREN, {
                    "ids": [h.execution_id for h in children], "seqs": [h.seq for h in children],
                    "owners": [h.owner for h in children]})
