"""The campaign's private PostgreSQL (zart's embedded server in ``.zart/campaign/<pid>``) and
the evidence it keeps: the audit trigger on zart's tables, the ledger and the business table.

The server is the run's own because the nemesis restarts and stops it; the suite's shared
server must never be. ``track_commit_timestamp`` is turned on before zart's schema exists, so
every write the audit records has a commit time (``pg_xact_commit_timestamp``).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from zart.embedded import embedded_dsn, restart_embedded, stop_embedded

from .config import CAMPAIGN_ROOT, EVIDENCE_SCHEMA, ZART_SCHEMA

T = TypeVar("T")
E = EVIDENCE_SCHEMA

# The audit is generic (to_jsonb of the whole row), so columns zart adds later are kept too.
EVIDENCE_DDL = f"""
CREATE SCHEMA {E};
CREATE TABLE {E}.audit (
    id      bigserial PRIMARY KEY,
    tbl     text NOT NULL,
    op      text NOT NULL,
    txid    bigint NOT NULL,
    eid     text,
    old     jsonb,
    new     jsonb,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION {E}.audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    n jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
BEGIN
    INSERT INTO {E}.audit (tbl, op, txid, eid, old, new)
    VALUES (TG_TABLE_NAME, TG_OP, txid_current(),
            COALESCE(n->>'execution_id', n->>'id', o->>'execution_id', o->>'id'), o, n);
    RETURN NULL;
END $$;
CREATE TABLE {E}.ledger (
    id      bigserial PRIMARY KEY,
    eid     text NOT NULL,
    step    text NOT NULL,
    attempt int NOT NULL,
    pid     int NOT NULL,
    thread  text NOT NULL,
    entry   double precision NOT NULL,      -- time.time() at the step function's entry
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE {E}.biz (                      -- the transactional steps' business writes
    id      bigserial PRIMARY KEY,
    eid     text NOT NULL,
    step    text NOT NULL,
    value   bigint NOT NULL,
    attempt int NOT NULL,
    txid    bigint NOT NULL DEFAULT txid_current()
);
"""

AUDIT_TRIGGERS = "".join(
    f"CREATE TRIGGER campaign_audit AFTER INSERT OR UPDATE OR DELETE ON {ZART_SCHEMA}.{table} "
    f"FOR EACH ROW EXECUTE FUNCTION {E}.audit_row();\n" for table in ("executions", "steps"))


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_runs() -> list[Path]:
    """Stop the servers of runs whose process is gone and remove their directories
    (``.zart/campaign/<pid>/r<n>/pgdata``)."""
    removed: list[Path] = []
    if not CAMPAIGN_ROOT.is_dir():
        return removed
    for path in CAMPAIGN_ROOT.iterdir():
        if path.name.isdigit() and not pid_alive(int(path.name)):
            for data in path.glob("*/pgdata"):
                if (data / "PG_VERSION").exists():
                    stop_embedded(data, mode="immediate")
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class Server:
    """The run's private server, and SQL on it that survives its restarts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.dsn = ""
        self.lock = threading.Lock()   # start/stop are not reentrant across threads

    def create(self) -> str:
        """initdb, turn on commit timestamps (a restart), return the DSN."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.dsn = embedded_dsn(self.data_dir)
        self.execute("ALTER SYSTEM SET track_commit_timestamp = on")
        self.restart("fast")
        assert self.query("SHOW track_commit_timestamp") == [("on",)]
        return self.dsn

    def install_evidence(self) -> None:
        """The campaign's schema and the audit triggers on zart's (which must exist)."""
        self.execute(EVIDENCE_DDL + AUDIT_TRIGGERS)

    def restart(self, mode: str) -> None:
        with self.lock:
            assert restart_embedded(self.data_dir, mode=mode) == self.dsn  # type: ignore[arg-type]

    def stop(self, mode: str) -> None:
        with self.lock:
            stop_embedded(self.data_dir, mode=mode)  # type: ignore[arg-type]

    def start(self) -> None:
        with self.lock:
            assert embedded_dsn(self.data_dir) == self.dsn

    def destroy(self) -> None:
        """Stop the server for good (its directory is removed by the caller)."""
        with self.lock:
            stop_embedded(self.data_dir, mode="fast")

    def connect(self, application_name: str = "campaign") -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5,
                               application_name=application_name)
        conn.execute("SET statement_timeout = 0")   # immune to the nemesis's short ones
        return conn

    def retrying(self, call: Callable[[psycopg.Connection[Any]], T],
                 timeout: float = 120.0) -> T:
        """``call`` on a fresh connection, retried while the server is down or restarting."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect() as conn:
                    return call(conn)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                threading.Event().wait(0.1)   # down: nothing to wait on but time

    def query(self, sql: str, *params: Any, timeout: float = 120.0) -> list[tuple[Any, ...]]:
        def run(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            cursor = conn.execute(sql, params or None)
            return cursor.fetchall() if cursor.description else []

        return self.retrying(run, timeout)

    def execute(self, sql: str) -> None:
        """Run a script (several statements, no parameters)."""
        self.retrying(lambda conn: conn.execute(sql))


class DeadlineProbe:
    """The driver's view of an event wait's deadline, on one connection kept open (it is
    polled every few milliseconds near a deadline)."""

    SQL = f"""
    SELECT s.status, e.status, EXTRACT(EPOCH FROM s.wake_at - {ZART_SCHEMA}.clock_now())::float8
    FROM {ZART_SCHEMA}.executions e
    LEFT JOIN {ZART_SCHEMA}.steps s
           ON s.execution_id = e.id AND s.kind = 'event' AND s.name = %s
    WHERE e.id = %s"""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.conn: psycopg.Connection[Any] | None = None
        self.lock = threading.Lock()

    def __call__(self, eid: str, name: str) -> float | str | None:
        with self.lock:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = self.server.connect("campaign-probe")
                row = self.conn.execute(self.SQL, (name, eid)).fetchone()
            except psycopg.OperationalError:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                return None
        if row is None or row[1] in ("completed", "failed", "cancelled") or row[0] == "done":
            return "over"
        return None if row[2] is None else float(row[2])

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
