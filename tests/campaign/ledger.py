"""The ledger of real step runs, written by the step functions in the worker processes.

Every step function calls :func:`record_run` first thing. It takes ``time.time()`` at once
(the moment the function was entered: what check 3 compares with the commit time of the
step's checkpoint), then inserts one row on a persistent autocommit connection of the
campaign's own. Connections are kept in a per-process pool rather than per thread, because a
step with a timeout runs in a fresh thread for each attempt and a new connection per run
would put a connect between entry and row. The row is retried through outages (a step must
never fail because of the campaign's bookkeeping: zart would rightly record that as the
step's own failure).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

import psycopg

import zart

from .config import ENV_DSN, EVIDENCE_SCHEMA

log = logging.getLogger("campaign.ledger")

_idle: queue.SimpleQueue[psycopg.Connection[Any]] = queue.SimpleQueue()
_RETRY_FOR = 300.0   # seconds: longer than any outage the nemesis makes

INSERT = (f"INSERT INTO {EVIDENCE_SCHEMA}.ledger (eid, step, attempt, pid, thread, entry) "
          f"VALUES (%s, %s, %s, %s, %s, %s)")


def connect() -> psycopg.Connection[Any]:
    """A campaign connection: autocommit, named (the nemesis spares it), no statement
    timeout (the nemesis's short ``statement_timeout`` is meant for zart's sessions)."""
    conn = psycopg.connect(os.environ[ENV_DSN], autocommit=True, connect_timeout=5,
                           application_name="campaign-ledger")
    conn.execute("SET statement_timeout = 0")
    return conn


def record_run() -> None:
    """Record one run of the current step (``zart.context()``) in the ledger."""
    entry = time.time()
    ctx = zart.context()
    row = (ctx.execution_id, ctx.step, ctx.attempt, os.getpid(),
           threading.current_thread().name[:60], entry)
    deadline = time.monotonic() + _RETRY_FOR
    backoff = 0.05
    while True:
        conn = None
        try:
            try:
                conn = _idle.get_nowait()
            except queue.Empty:
                conn = connect()
            conn.execute(INSERT, row)
            _idle.put(conn)
            return
        except psycopg.OperationalError as exc:
            if conn is not None:
                conn.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"campaign ledger unavailable for {_RETRY_FOR}s: {exc}") \
                    from exc
            log.info("ledger write failed (%s); retrying", exc)
            time.sleep(backoff)   # the server is down: nothing to wait on but time
            backoff = min(backoff * 2, 0.5)
