"""The store: the only module that speaks SQL.

One method per state transition, each one transaction (most of them one statement). Every
method takes an optional psycopg connection: workers pass the one they hold for the whole run
of an execution, the client lets the pool pick one. psycopg's connection errors are turned into
:class:`zart.DatabaseUnavailable` here, once, so callers can tell infrastructure faults
(retried) from everything else.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
import psycopg_pool
from psycopg import pq
from psycopg.rows import TupleRow

from . import queries, serde
from .errors import (
    ConfigurationError,
    DatabaseUnavailable,
    ExecutionFinished,
    ExecutionNotFound,
)
from .interpreter import Record
from .prepared import PreparedStatement
from .retry import RetryPolicy

__all__ = ["SCHEMA_VERSION", "ChildClaim", "Claim", "ExecutionRow", "Store", "validate_schema"]

SCHEMA_VERSION = 2
"""The schema version this code expects (recorded in ``<schema>.schema_version``)."""

_MIGRATION_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")

Connection = psycopg.Connection[TupleRow]

_IDLE = pq.TransactionStatus.IDLE


def validate_schema(schema: object) -> str:
    """Return ``schema`` if it is a safe PostgreSQL schema name, else raise ConfigurationError."""
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigurationError(
            f"schema name {schema!r} is not allowed: use 1-48 letters, digits or underscores, "
            f"starting with a letter or underscore")
    if schema.lower().startswith("pg_") or schema.lower() == "information_schema":
        raise ConfigurationError(f"schema name {schema!r} is reserved by PostgreSQL")
    return schema


def migrations() -> list[tuple[int, str]]:
    """The numbered migrations in order: ``(version, sql)`` from ``zart/migrations/NNNN_*.sql``.

    Version 1 is the first released schema; each later file takes a database from the version
    before it to its own number.
    """
    found = []
    for entry in resources.files("zart").joinpath("migrations").iterdir():
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text()))
    found.sort()
    numbers = [number for number, _ in found]
    if numbers != list(range(1, len(numbers) + 1)) or numbers[-1] != SCHEMA_VERSION:
        raise ConfigurationError(f"zart's migrations are numbered {numbers}; expected 1 to "
                                 f"{SCHEMA_VERSION} without gaps (a broken installation)")
    return found


def schema_sql() -> str:
    """The DDL from ``schema.sql`` (shipped inside the package, a copy of the top-level file)."""
    try:
        return resources.files("zart").joinpath("schema.sql").read_text()
    except (FileNotFoundError, OSError):  # a source tree without the symlink
        return (Path(__file__).resolve().parent.parent / "schema.sql").read_text()


@dataclass(slots=True)
class Claim:
    """An execution held by a worker: ``owner`` is the claim's token, checked by every write."""

    execution_id: str
    workflow: str
    input_text: str | None
    owner: uuid.UUID
    attempt: int
    max_attempts: int
    retry: RetryPolicy
    lost_leases: int
    expired: bool
    remaining: float | None
    has_history: bool = True
    expires: float = math.inf
    """When the lease runs out by this process's monotonic clock: taken before the claim
    statement was sent, so never later than the database's own expiry; renewed by the
    worker's heartbeat."""

    def lease_expiry(self) -> float:
        """The current :attr:`expires` (read at call time: the heartbeat moves it)."""
        return self.expires


@dataclass(slots=True)
class ChildClaim:
    """A parallel child step held by a worker."""

    execution_id: str
    seq: int
    name: str
    fn: str
    args_text: str
    options: dict[str, Any]
    attempt: int
    owner: uuid.UUID
    lost_leases: int
    workflow: str
    input_text: str | None
    remaining: float | None
    expires: float = math.inf
    """As :attr:`Claim.expires`."""

    def lease_expiry(self) -> float:
        """The current :attr:`expires` (read at call time: the heartbeat moves it)."""
        return self.expires


@dataclass(slots=True)
class ChildOutcome:
    """A parallel child's outcome, to record: a value (``ok``) or an error dict."""

    child: ChildClaim
    ok: bool
    value_text: str | None
    error: dict[str, Any] | None


@dataclass(slots=True)
class ExecutionRow:
    """What the client reads of an execution."""

    id: str
    workflow: str
    status: str
    input_text: str | None
    result_text: str | None
    error: dict[str, Any] | None
    attempt: int
    max_attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class _Statements:
    """The statements of :mod:`zart.queries` with the schema filled in, encoded once.

    Bytes, not str: psycopg would otherwise encode (and hash) the text again on every
    execution, a measurable share of a step's client-side cost.
    """

    def __init__(self, schema: str) -> None:
        quoted = f'"{schema}"'
        for name in dir(queries):
            text = getattr(queries, name)
            if name.isupper() and isinstance(text, str):
                setattr(self, name, text.replace("{s}", quoted).encode())

    def __getattr__(self, name: str) -> bytes:  # for the type checker: every attribute is SQL
        raise AttributeError(name)


_UNAVAILABLE = (psycopg.OperationalError, psycopg.errors.TransactionRollback,
                psycopg_pool.PoolTimeout)


class _TranslateErrors:
    """The context manager behind :func:`translate_errors` (stateless, so shared).

    A class rather than a ``@contextmanager`` generator: it wraps every statement of the hot
    path, and a generator-based context manager costs a few microseconds each time.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            return
        if isinstance(exc, _UNAVAILABLE):
            raise DatabaseUnavailable(
                f"database unavailable: {type(exc).__name__}: {exc}") from exc
        if isinstance(exc, psycopg.InterfaceError):
            raise DatabaseUnavailable(f"database connection unusable: {exc}") from exc


class _Given:
    """``Store.connection(conn)`` for a connection the caller already holds."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    __exit__ = _TranslateErrors.__exit__


_TRANSLATE_ERRORS = _TranslateErrors()


def translate_errors() -> _TranslateErrors:
    """Turn psycopg's connection-level errors into :class:`DatabaseUnavailable`."""
    return _TRANSLATE_ERRORS


def _child_claim(r: Sequence[Any], expires: float) -> ChildClaim:
    """A claimed child from a row shaped like ``queries._CHILD_CLAIM_RETURNING``."""
    return ChildClaim(r[0], r[1], r[2], r[3], r[4], serde.loads(r[5]) or {}, r[6], r[7], r[8],
                      r[9], r[10], r[11], expires)


class Store:
    """PostgreSQL access for one zart schema."""

    def __init__(self, dsn: str, schema: str = "zart", *, min_size: int = 1,
                 max_size: int = 4, name: str = "zart") -> None:
        self.dsn = dsn
        self.schema = validate_schema(schema)
        self.sql = _Statements(self.schema)
        self._checkpoint_new_ok = PreparedStatement(self.sql.CHECKPOINT_NEW_OK)
        self.channel_work = f"{self.schema}_work"
        self.channel_done = f"{self.schema}_done"
        self.pool: psycopg_pool.ConnectionPool[Connection] = psycopg_pool.ConnectionPool(
            dsn, min_size=min_size, max_size=max_size, open=False, name=name,
            kwargs={"autocommit": True, "application_name": name}, timeout=30.0)
        self.pool.open(wait=False)

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.close()

    def connection(self, conn: Connection | None = None
                   ) -> AbstractContextManager[Connection]:
        """``conn`` itself, or a pooled connection for the block; errors translated."""
        if conn is not None:
            return _Given(conn)
        return self._pooled()

    @contextmanager
    def _pooled(self) -> Iterator[Connection]:
        with translate_errors(), self.pool.connection() as pooled:
            yield pooled

    def acquire(self) -> Connection:
        """A pooled connection, held until :meth:`give_back` (a worker thread's lane)."""
        with translate_errors():
            return self.pool.getconn()

    def give_back(self, conn: Connection) -> None:
        """Return a connection taken with :meth:`acquire` (the pool drops a broken one)."""
        self.pool.putconn(conn)

    def purge_broken(self) -> None:
        """After a connection fault, drop the pooled connections that died with it, at once,
        rather than handing them out one failed attempt at a time."""
        with contextlib.suppress(Exception):  # still down: the pool keeps reconnecting
            self.pool.check()

    def listen(self, conn: Connection, channel: str) -> None:
        """Subscribe ``conn`` to ``channel`` (one of :attr:`channel_work`, :attr:`channel_done`)."""
        with translate_errors():
            conn.execute(queries.LISTEN.format(channel=channel))

    def unlisten(self, conn: Connection) -> None:
        """Drop every subscription of ``conn`` (before it goes back to the pool)."""
        with translate_errors():
            conn.execute(queries.UNLISTEN)

    def connect(self) -> Connection:
        """A new dedicated autocommit connection (for LISTEN)."""
        with translate_errors():
            return psycopg.connect(self.dsn, autocommit=True, application_name=self.pool.name)

    # -- schema -------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the schema, or upgrade it through the numbered migrations; safe when many
        processes start at once. A schema newer than this code is refused."""
        key = {"key": f"zart-schema:{self.schema}"}
        with self.connection() as conn:
            if self._version(conn) == SCHEMA_VERSION:
                return
            # A session lock, so the re-check below runs in a transaction of its own: inside
            # the locking transaction the catalog could still hide a schema created meanwhile.
            conn.execute(queries.ADVISORY_LOCK, key)
            try:
                version = self._version(conn)
                if version is None:
                    self._apply(conn, schema_sql(), None)
                elif version > SCHEMA_VERSION:
                    raise ConfigurationError(
                        f"schema {self.schema!r} is at version {version}, newer than this "
                        f"zart ({SCHEMA_VERSION}); upgrade zart")
                else:
                    for number, text in migrations():
                        if version < number <= SCHEMA_VERSION:
                            self._apply(conn, text, number)
            finally:
                if not conn.broken:
                    conn.execute(queries.ADVISORY_UNLOCK, key)

    def _apply(self, conn: Connection, sql: str, version: int | None) -> None:
        """Run ``sql`` in the schema, in one transaction; record ``version`` if given (the
        full schema records its own)."""
        with conn.transaction():
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
            conn.execute(sql.encode())
            if version is not None:
                conn.execute(self.sql.RECORD_VERSION, {"version": version})

    def _version(self, conn: Connection) -> int | None:
        exists = conn.execute(queries.SCHEMA_EXISTS,
                              {"table": f'"{self.schema}".schema_version'}).fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute(self.sql.SCHEMA_VERSION).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # -- client transitions -------------------------------------------------------------

    def create_execution(self, execution_id: str, workflow: str, input_text: str,
                         max_attempts: int, retry: RetryPolicy, timeout: float | None,
                         conn: Connection | None = None) -> bool:
        """Insert a pending execution; False if the id already exists (nothing changes)."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.INSERT_EXECUTION, {
                "id": execution_id, "workflow": workflow, "input": input_text,
                "max_attempts": max_attempts, "retry": serde.dumps(retry.to_json()),
                "timeout": timeout}).fetchone()
        return row is not None

    def get_execution(self, execution_id: str,
                      conn: Connection | None = None) -> ExecutionRow | None:
        """The execution's row, or None."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.GET_EXECUTION, {"id": execution_id}).fetchone()
        if row is None:
            return None
        return ExecutionRow(row[0], row[1], row[2], row[3], row[4], serde.loads(row[5]),
                            row[6], row[7], row[8], row[9], row[10])

    def send_event(self, execution_id: str, name: str, payload_text: str) -> bool:
        """Put the event in the execution's inbox and wake it if it waits on it.

        True if delivered, False if an event of that name was already there.
        """
        with self.connection() as c:
            row = c.execute(self.sql.SEND_EVENT, {"id": execution_id, "name": name,
                                                  "payload": payload_text}).fetchone()
        if row is None:
            raise ExecutionNotFound(f"no execution {execution_id!r} to send {name!r} to")
        status, delivered = row
        if status in ("completed", "failed", "cancelled"):
            raise ExecutionFinished(f"execution {execution_id!r} is {status}; the event "
                                    f"{name!r} was not delivered")
        return bool(delivered)

    def cancel(self, execution_id: str) -> bool:
        """Cancel a not yet finished execution; False if it had already finished."""
        error = serde.dumps({"type": "Cancelled", "module": "zart",
                             "message": "the execution was cancelled"})
        with self.connection() as c:
            row = c.execute(self.sql.CANCEL, {"id": execution_id, "error": error}).fetchone()
        assert row is not None
        changed, exists = row
        if not exists:
            raise ExecutionNotFound(f"no execution {execution_id!r} to cancel")
        return bool(changed)

    def shift_clock(self, seconds: float) -> None:
        """Move the database clock forward (tests only)."""
        with self.connection() as c:
            c.execute(self.sql.SHIFT_CLOCK, {"seconds": seconds})

    # -- claims -------------------------------------------------------------------------

    def claim_executions(self, workflows: Sequence[str], limit: int, lease: float,
                         conn: Connection | None = None) -> list[Claim]:
        """Claim up to ``limit`` due executions of ``workflows`` (SKIP LOCKED)."""
        expires = time.monotonic() + lease
        with self.connection(conn) as c:
            rows = c.execute(self.sql.CLAIM_EXECUTIONS, {
                "workflows": list(workflows), "limit": limit, "lease": lease}).fetchall()
        return [Claim(r[0], r[1], r[2], r[3], r[4], r[5],
                      RetryPolicy.from_json(serde.loads(r[6])), r[7], bool(r[8]), r[9],
                      bool(r[10]), expires) for r in rows]

    def claim_children(self, workflows: Sequence[str], limit: int, lease: float,
                       conn: Connection | None = None) -> list[ChildClaim]:
        """Claim up to ``limit`` due parallel children of ``workflows``."""
        expires = time.monotonic() + lease
        with self.connection(conn) as c:
            rows = c.execute(self.sql.CLAIM_CHILDREN, {
                "workflows": list(workflows), "limit": limit, "lease": lease}).fetchall()
        return [_child_claim(r, expires) for r in rows]

    def next_due(self, workflows: Sequence[str], conn: Connection | None = None) -> float | None:
        """Seconds until the next sleep, retry, timeout or lease expiry falls due (None: none)."""
        with self.connection(conn) as c:
            # Not prepared: a plan cached while the tables were small goes on scanning long
            # after a burst of suspensions has grown them.
            row = c.execute(self.sql.NEXT_DUE, {"workflows": list(workflows)},
                            prepare=False).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def heartbeat(self, executions: Sequence[tuple[str, uuid.UUID]],
                  children: Sequence[tuple[str, int, uuid.UUID]], lease: float,
                  conn: Connection | None = None) -> set[uuid.UUID]:
        """Renew the leases held; return the owner tokens still valid."""
        alive: set[uuid.UUID] = set()
        with self.connection(conn) as c:
            if executions:
                rows = c.execute(self.sql.HEARTBEAT_EXECUTIONS, {
                    "lease": lease, "ids": [e[0] for e in executions],
                    "owners": [e[1] for e in executions]}).fetchall()
                alive.update(r[0] for r in rows)
            if children:
                rows = c.execute(self.sql.HEARTBEAT_CHILDREN, {
                    "lease": lease, "ids": [ch[0] for ch in children],
                    "seqs": [ch[1] for ch in children],
                    "owners": [ch[2] for ch in children]}).fetchall()
                alive.update(r[0] for r in rows)
        return alive

    # -- worker transitions on a claimed execution (all fenced by the claim) ------------

    def load_history(self, execution_id: str, conn: Connection | None = None) -> list[Record]:
        """Every recorded command of the execution, in order: one query."""
        with self.connection(conn) as c:
            rows = c.execute(self.sql.LOAD_HISTORY, {"id": execution_id}).fetchall()
        return [Record(r[0], r[1], r[2], r[3], r[4], r[5], serde.loads(r[6]), r[7], r[8], r[9])
                for r in rows]

    def checkpoint(self, claim: Claim, record: Record, conn: Connection | None = None, *,
                   fresh: bool = False) -> bool:
        """Store a command's outcome; False if the claim no longer holds the execution.

        ``fresh``: nothing was recorded at this position yet, so a success takes the plain
        insert of the hot path; anything else takes the general upsert.
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
                        record.value.encode(), str(record.attempt).encode()))
                except psycopg.errors.UniqueViolation:
                    return False  # recorded by someone else: this claim's view is stale
                return result.ntuples > 0
            row = c.execute(self.sql.CHECKPOINT, {
                "id": claim.execution_id, "owner": claim.owner, "seq": record.seq,
                "kind": record.kind, "name": record.name, "ok": record.ok,
                "value": record.value, "error": _error_text(record.error),
                "attempt": record.attempt}).fetchone()
        return row is not None

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
                         conn: Connection | None = None) -> bool:
        """Record a failed attempt and suspend the execution until the retry is due."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.RETRY_STEP_LATER, {
                "id": claim.execution_id, "owner": claim.owner, "seq": seq, "name": name,
                "attempt": attempt, "error": serde.dumps(error), "delay": delay}).fetchone()
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

    def suspend(self, claim: Claim, wake_at: datetime | None, waiting_for: str | None,
                conn: Connection | None = None) -> bool:
        """Give the execution up until ``wake_at`` or a wake-up; frees the worker's thread."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.SUSPEND, {
                "id": claim.execution_id, "owner": claim.owner, "wake_at": wake_at,
                "waiting_for": waiting_for}).fetchone()
        return row is not None

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
            conn.execute(self.sql.SUSPEND, {**base, "wake_at": wake_at, "waiting_for": name})
            return "waiting", None

    def spawn_children(self, claim: Claim, seq: int, children: Sequence[dict[str, Any]],
                       conn: Connection) -> bool | None:
        """Insert the parallel children (once) and suspend until they are all done.

        Returns True when every child is already done (nothing suspended), False when the
        execution now waits on them, None when the claim was fenced out.
        """
        seqs = [seq + i for i in range(len(children))]
        base = {"id": claim.execution_id, "owner": claim.owner}
        with translate_errors(), conn.transaction():
            if conn.execute(self.sql.LOCK_FENCE, base).fetchone() is None:
                return None
            conn.execute(self.sql.SPAWN_CHILDREN, {
                "id": claim.execution_id, "seqs": seqs, "names": [c["name"] for c in children],
                "fns": [c["fn"] for c in children], "args": [c["args"] for c in children],
                "options": [c["options"] for c in children]})
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

    # -- parallel children ----------------------------------------------------------------

    def complete_child(self, child: ChildClaim, ok: bool, value_text: str | None,
                       error: dict[str, Any] | None, conn: Connection) -> bool:
        """Record a child's outcome and, if it was the last open one, wake the parent: one
        statement (:meth:`complete_children` for one child). False if the child's claim no
        longer holds it."""
        accepted, _ = self.complete_children(
            child.execution_id, [ChildOutcome(child, ok, value_text, error)], conn)
        return child.seq in accepted

    def complete_children(self, execution_id: str, outcomes: Sequence[ChildOutcome],
                          conn: Connection, *, claim: int = 0,
                          lease: float = 30.0) -> tuple[set[int], list[ChildClaim]]:
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
                "errors": [_error_text(o.error) for o in outcomes], "claim": claim,
                "lease": lease}).fetchall()
        accepted = set(rows[0][0] or ()) if rows else set()
        return accepted, [_child_claim(r[1:], expires) for r in rows if r[1] is not None]

    def retry_child_later(self, child: ChildClaim, error: dict[str, Any], delay: float,
                          conn: Connection | None = None) -> bool:
        """Record a child's failed attempt; it becomes claimable again after ``delay``."""
        with self.connection(conn) as c:
            row = c.execute(self.sql.RETRY_CHILD_LATER, {
                "id": child.execution_id, "seq": child.seq, "owner": child.owner,
                "error": serde.dumps(error), "delay": delay}).fetchone()
        return row is not None

    def release_child(self, child: ChildClaim, conn: Connection | None = None) -> None:
        """Hand a child back unrun (graceful stop)."""
        with self.connection(conn) as c:
            c.execute(self.sql.RELEASE_CHILD, {"id": child.execution_id, "seq": child.seq,
                                               "owner": child.owner})


def _error_text(error: dict[str, Any] | None) -> str | None:
    return None if error is None else serde.dumps(error)
