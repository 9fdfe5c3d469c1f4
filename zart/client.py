"""The application's API: start executions (also inside the caller's own transaction), send
events, cancel, read status and results, and create workers."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import psycopg

from . import observe, operations, serde
from .commands import validate_name
from .durations import Duration
from .errors import (
    ConfigurationError,
    ExecutionConflict,
    ExecutionNotFound,
    ResultTimeout,
    WorkflowFailed,
    WorkflowNotFound,
)
from .queues import Queue, get_queue
from .scheduling import Schedules
from .store import ExecutionRow, Store, validate_schema
from .store.listener import listener_for
from .views import ExecutionDetail, Waiting
from .workflow import Workflow, get_workflow

if TYPE_CHECKING:
    from .runtime import Worker

__all__ = ["FINAL_STATUSES", "STATUSES", "Handle", "Zart"]

_SUBSCRIBE_WAIT = 2.0
"""Seconds a first result waiter waits for the listener to listen (it re-reads the row now
and then anyway)."""

_RECHECK = 5.0
"""Seconds between a result waiter's reads of the row without a notification."""

STATUSES = ("pending", "running", "waiting", "completed", "failed", "cancelled")
"""Every status an execution can have."""

FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
"""The statuses an execution never leaves."""


class Zart(operations.Operations):
    """A zart application: one PostgreSQL database and schema.

    ``dsn`` defaults to ``$ZART_DATABASE_URL``; without it zart starts an embedded PostgreSQL
    in ``./.zart/pgdata`` (for development only: it says so in the log). The schema is
    created or upgraded on construction, safely when many processes start at once; with
    ``migrate=False`` it must exist at this version already (read-only tools).
    """

    def __init__(self, dsn: str | None = None, *, schema: str = "zart", pool_size: int = 4,
                 pool_timeout: float = 30.0, migrate: bool = True) -> None:
        self.schema = validate_schema(schema)
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 1:
            raise ConfigurationError(f"pool_size must be an int >= 1, got {pool_size!r}")
        if (not isinstance(pool_timeout, int | float) or isinstance(pool_timeout, bool)
                or not 0 < pool_timeout <= 3600):
            raise ConfigurationError(f"pool_timeout must be between 0 and 3600 seconds, got "
                                     f"{pool_timeout!r}")
        if dsn is None:
            dsn = os.environ.get("ZART_DATABASE_URL") or None
        if dsn is None:
            from .embedded import embedded_dsn

            dsn = embedded_dsn()
        self.dsn = dsn
        self.store = Store(dsn, self.schema, min_size=1, max_size=pool_size, name="zart-client",
                           timeout=float(pool_timeout), open_pool=False)
        try:
            # On a connection of its own, refused within seconds with the server's reason
            # (a wrong URL or password) before the pool ever tries.
            if migrate:
                self.store.migrate()
            else:
                self.store.check_schema()
        except BaseException:
            self.store.close()
            raise
        self.store.open()
        self.schedules = Schedules(self)
        """Cron schedules: list, create, pause, resume, trigger, backfill, delete."""

    def start(self, workflow: Workflow | str, data: Any = None, *, id: str | None = None,
              conn: psycopg.Connection[Any] | None = None, queue: Queue | str | None = None,
              key: str | None = None, priority: int = 0) -> Handle:
        """Start ``workflow`` with ``data``; returns its :class:`Handle`.

        Idempotent by ``id``: an id that exists with the same workflow and input returns the
        existing execution, which is never run again; with another workflow or another input
        it is an :class:`ExecutionConflict`. With ``conn``, the execution is created in the
        caller's transaction and exists only if that transaction commits. ``queue`` (default:
        the workflow's), ``key`` and ``priority`` place it in a :class:`zart.Queue`.
        """
        name = workflow.name if isinstance(workflow, Workflow) else workflow
        if not isinstance(name, str):
            raise WorkflowNotFound(f"start() takes a @zart.workflow or its name, got {name!r}")
        definition = get_workflow(name)
        if isinstance(workflow, Workflow) and definition is not workflow:
            raise WorkflowNotFound(f"workflow {name!r} is registered by another function")
        if conn is not None and not isinstance(conn, psycopg.Connection):
            raise TypeError(f"conn must be a psycopg Connection (the caller's transaction), "
                            f"got {type(conn).__name__} {conn!r}")
        execution_id = uuid.uuid4().hex if id is None else validate_name(id, "execution id")
        input_text = serde.dumps(data, what=f"the input of workflow {name!r}")
        queue_name = get_queue(queue) or definition.queue
        if key is not None:
            validate_name(key, "queue key")
            if queue_name is None:
                raise ConfigurationError(f"a key places an execution in a queue: workflow "
                                         f"{name!r} has no queue and none was given")
        if not isinstance(priority, int) or isinstance(priority, bool) or \
                not -1_000_000 <= priority <= 1_000_000:
            raise ConfigurationError(f"priority must be an int (higher runs first), got "
                                     f"{priority!r}")
        trace = observe.start_context() if observe.observers() else None
        created = self.store.create_execution(
            execution_id, name, input_text, definition.retry.max_attempts, definition.retry,
            definition.timeout, conn, queue=None if queue_name is None else queue_name.name,
            key=key, priority=priority, trace=None if trace is None else serde.dumps(trace))
        if observe.observers():
            observe.notify("execution_started", execution_id, name, created)
        if not created:
            row = self.store.get_execution(execution_id, conn)
            if row is not None and row.workflow != name:
                raise ExecutionConflict(f"execution id {execution_id!r} is already used by "
                                        f"workflow {row.workflow!r}, not {name!r}")
            if row is not None and serde.loads(row.input_text) != serde.loads(input_text):
                raise ExecutionConflict(
                    f"execution {execution_id!r} of workflow {name!r} already exists with a "
                    f"different input; starting an id again returns its execution only for "
                    f"the same input (use another id, or restart it explicitly)")
        return Handle(self, execution_id)

    def handle(self, id: str) -> Handle:
        """The handle of an existing execution, or :class:`ExecutionNotFound`."""
        handle = Handle(self, validate_name(id, "execution id"))
        handle._row()
        return handle

    def send_event(self, execution_id: str, name: str, payload: Any = None) -> bool:
        """Deliver the event ``name`` to an execution; buffered if its wait is not reached yet.

        Returns True if delivered, False if an event of that name had already been delivered
        (the first one stands). Unknown executions raise :class:`ExecutionNotFound`, finished
        ones :class:`ExecutionFinished`.
        """
        validate_name(execution_id, "execution id")
        validate_name(name, "event name")
        payload_text = serde.dumps(payload, what=f"the payload of event {name!r}")
        return self.store.send_event(execution_id, name, payload_text)

    def cancel(self, execution_id: str, *, by: str | None = None) -> bool:
        """Cancel an execution: it stops at its next checkpoint and its body is closed; its
        open parallel children are cancelled too. Recorded in its audit trail (``by``: who).

        Returns False if it had already finished.
        """
        return self.store.cancel_execution(validate_name(execution_id, "execution id"),
                                           operations.by_text(by))

    def worker(self, threads: int = 8, *, lease: float = 30.0, poll_interval: float = 5.0,
               workflows: Sequence[str] | None = None, max_lease_losses: int = 10,
               pool_size: int | None = None, purge_after: Duration | None = None,
               purge_every: Duration = "1h",
               queues: Sequence[Queue | str] | None = None,
               name: str | None = None) -> Worker:
        """A :class:`Worker` for the workflows registered in this process (or ``workflows``);
        see :class:`zart.Worker` for the options."""
        from .runtime import Worker  # the client alone never loads the runtime

        return Worker(self.dsn, self.schema, threads=threads, lease=lease,
                      poll_interval=poll_interval, workflows=workflows,
                      max_lease_losses=max_lease_losses, pool_size=pool_size,
                      purge_after=purge_after, purge_every=purge_every, queues=queues,
                      name=name)

    def close(self) -> None:
        """Close the client's connections."""
        self.store.close()

    def __enter__(self) -> Zart:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Handle:
    """A reference to one execution."""

    __slots__ = ("_app", "id")

    def __init__(self, app: Zart, id: str) -> None:
        self._app = app
        self.id = id

    def __repr__(self) -> str:
        return f"<zart.Handle {self.id!r}>"

    def _row(self) -> ExecutionRow:
        row = self._app.store.get_execution(self.id)
        if row is None:
            raise ExecutionNotFound(f"no execution {self.id!r}")
        return row

    def describe(self) -> ExecutionDetail:
        """Everything about the execution: input, result or error, every run with its history
        (each command's attempts, times, errors and value preview), the audit trail of what
        operators did, and why it is waiting (:attr:`ExecutionDetail.waiting`)."""
        return self._app.store.describe(self.id)

    def waiting(self) -> Waiting:
        """Why the execution is where it is, in words (``.text``) and in data."""
        return self.describe().waiting

    def status(self) -> str:
        """The current status: one of :data:`STATUSES`."""
        return self._row().status

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the execution to finish and return its result.

        Raises :class:`WorkflowFailed` (with the cause) if it failed or was cancelled, and
        :class:`ResultTimeout` if ``timeout`` seconds pass first.
        """
        row = self._row()
        if row.status not in FINAL_STATUSES:
            row = self._wait(timeout)
        if row.status == "completed":
            return serde.loads(row.result_text)
        raise WorkflowFailed(self.id, row.error or {"type": "Unknown", "message": ""},
                             row.status)

    def _wait(self, timeout: float | None) -> ExecutionRow:
        """Wait on the process's one listener (no pooled connection is held while waiting)
        for the execution's ``done`` notification, re-reading its row after each and now and
        then (a NOTIFY is a hint, not a promise)."""
        store = self._app.store
        deadline = None if timeout is None else time.monotonic() + timeout
        woken = threading.Event()
        listener = listener_for(store.dsn)
        subscription = listener.subscribe(store.channel_done, lambda _: woken.set(),
                                          payload=self.id, wait=_SUBSCRIBE_WAIT)
        try:
            while True:
                woken.clear()
                row = self._row()
                if row.status in FINAL_STATUSES:
                    return row
                wait = _RECHECK
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        raise ResultTimeout(f"execution {self.id!r} is still {row.status} "
                                            f"after {timeout}s")
                woken.wait(wait)
        finally:
            listener.unsubscribe(subscription)
