"""The application's transitions: start, read, signal and cancel executions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import serde
from ..constants import FINAL_STATUSES
from ..errors import ExecutionFinished, ExecutionNotFound
from ..retry import RetryPolicy
from .base import Connection, StoreBase
from .records import ExecutionRow

__all__ = ["ClientTransitions"]


class ClientTransitions(StoreBase):
    """What the client API (:mod:`zart.client`) asks of the database."""

    def create_execution(self, execution_id: str, workflow: str, input_text: str,
                         max_attempts: int, retry: RetryPolicy, timeout: float | None,
                         conn: Connection | None = None, *, queue: str | None = None,
                         key: str | None = None, priority: int = 0,
                         trace: str | None = None) -> bool:
        """Insert a pending execution; False if the id already exists (nothing changes).
        ``trace``: what observers store with it (JSON), see :mod:`zart.observe`.

        Without ``conn``, a dead pooled connection is retried once (the insert is idempotent);
        with it, the caller's transaction decides."""
        params = {"id": execution_id, "workflow": workflow, "input": input_text,
                  "max_attempts": max_attempts, "retry": serde.dumps(retry.to_json()),
                  "timeout": timeout, "queue": queue, "key": key, "priority": priority,
                  "trace": trace}

        def insert(c: Connection) -> bool:
            return c.execute(self.sql.INSERT_EXECUTION, params).fetchone() is not None

        if conn is None:
            return self.idempotent(insert)
        with self.connection(conn) as c:
            return insert(c)

    def get_execution(self, execution_id: str,
                      conn: Connection | None = None) -> ExecutionRow | None:
        """The execution's row, or None."""
        def read(c: Connection) -> Any:
            return c.execute(self.sql.GET_EXECUTION, {"id": execution_id}).fetchone()

        if conn is None:
            row = self.idempotent(read)
        else:
            with self.connection(conn) as c:
                row = read(c)
        if row is None:
            return None
        return ExecutionRow(row[0], row[1], row[2], row[3], row[4], serde.loads(row[5]),
                            row[6], row[7], row[8], row[9], row[10])

    def send_event(self, execution_id: str, name: str, payload_text: str) -> bool:
        """Put the event in the execution's inbox and wake it if it waits on it.

        True if delivered, False if an event of that name was already there.
        """
        # Idempotent: a retried delivery that had in fact landed finds it there (and says
        # False, like any second delivery).
        row = self.idempotent(lambda c: c.execute(self.sql.SEND_EVENT, {
            "id": execution_id, "name": name, "payload": payload_text}).fetchone())
        if row is None:
            raise ExecutionNotFound(f"no execution {execution_id!r} to send {name!r} to")
        status, delivered = row
        if status in FINAL_STATUSES:
            raise ExecutionFinished(f"execution {execution_id!r} is {status}; the event "
                                    f"{name!r} was not delivered")
        return bool(delivered)

    def shift_clock(self, seconds: float) -> None:
        """Move the database clock forward (tests only)."""
        with self.connection() as c:
            c.execute(self.sql.SHIFT_CLOCK, {"seconds": seconds})

    def clock_now(self) -> datetime:
        """The database's clock, offset included: what decides when anything (a sleep, a
        lease, a schedule's tick) is due."""
        with self.connection() as c:
            row = c.execute(self.sql.CLOCK_NOW).fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

    def wake_workers(self) -> None:
        """Make every worker of this schema look for due work now (tests only: after the
        clock moved, what was due later may be due at once)."""
        with self.connection() as c:
            c.execute(self.sql.WAKE_WORKERS, {"channel": self.channel_work})
