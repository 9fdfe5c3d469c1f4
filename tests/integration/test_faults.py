"""Faults are non-events: a SIGKILLed worker, terminated connections, a zombie worker whose
lease passed to another, and an execution that keeps losing its workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import zart
from zart.interpreter import Record
from zart.runtime.executor import Executor

from . import crash_app
from .conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
GATE = threading.Event()
RUNS: list[str] = []


@zart.step("faults-gated")
def gated() -> str:
    RUNS.append(zart.context().execution_id)
    GATE.wait(30)
    return "passed the gate"


@zart.workflow("faults-gated-flow")
def gated_flow(data: Any) -> Any:
    first = yield gated()
    yield zart.sleep("faults-nap", 0)
    return first


@pytest.fixture
def effects(app: zart.Zart, sql: Any, schema: str, dsn: str,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ZART_TEST_SCHEMA", schema)  # for steps run in this process
    monkeypatch.setenv("ZART_TEST_DSN", dsn)
    sql(f'CREATE TABLE IF NOT EXISTS "{schema}".effects (execution_id text, step text)')
    yield


def effect_counts(sql: Any, schema: str, execution_id: str) -> dict[str, int]:
    rows = sql(f'SELECT step, count(*) FROM "{schema}".effects WHERE execution_id = %s '
               f"GROUP BY step", execution_id)
    return {step: int(n) for step, n in rows}


def spawn_worker(dsn: str, schema: str, lease: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ZART_TEST_DSN": dsn, "ZART_TEST_SCHEMA": schema}
    return subprocess.Popen(
        [sys.executable, "-c", f"import sys; sys.argv[1:] = ['{lease}']; "
                               "from tests.integration.crash_app import main; main()"],
        cwd=ROOT, env=env)


def test_a_sigkilled_worker_loses_its_execution_to_another_within_about_a_lease(
        app: zart.Zart, effects: None, dsn: str, schema: str, sql: Any) -> None:
    handle = app.start(crash_app.order, None)
    child = spawn_worker(dsn, schema, lease=1.0)
    try:
        wait_until(lambda: effect_counts(sql, schema, handle.id).get("reserve"), timeout=30,
                   what="the subprocess worker to be inside the reserve step")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    killed_at = time.monotonic()
    with app.worker(threads=2, lease=1.0, poll_interval=0.2):
        result = handle.result(timeout=30)
        took_over = time.monotonic() - killed_at
    assert result == {"txn": "txn-1", "reserved": "reserved", "note": "receipt for txn-1"}
    # The completed step did not run again; the interrupted one ran again and was recorded once.
    assert effect_counts(sql, schema, handle.id) == {"charge": 1, "reserve": 2, "receipt": 1}
    names = sql(f'SELECT name FROM "{schema}".steps WHERE execution_id = %s ORDER BY seq',
                handle.id)
    assert names == [("crash-charge",), ("crash-reserve",), ("crash-receipt",)]
    print(f"execution taken over and finished {took_over:.2f}s after the SIGKILL (lease 1s)")
    assert took_over < 15


def test_terminated_database_connections_are_retried_and_never_fail_the_execution(
        app: zart.Zart, sql: Any) -> None:
    GATE.clear()
    handle = app.start(gated_flow, None)
    with app.worker(threads=2, lease=2.0, poll_interval=0.2) as w:
        wait_until(lambda: RUNS.count(handle.id) == 1, what="the gated step to start")
        killed = sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE application_name = %s", w.name)[0][0]
        assert killed >= 1
        GATE.set()  # the step returns into a dead connection: its checkpoint must be retried
        assert handle.result(timeout=30) == "passed the gate"
    assert handle.status() == "completed"
    assert RUNS.count(handle.id) == 2  # at least once: the unrecorded run ran again


def test_a_zombie_whose_lease_passed_to_another_worker_writes_nothing(
        app: zart.Zart, sql: Any, schema: str) -> None:
    handle = app.start(gated_flow, None)
    [zombie] = app.store.claim_executions(["faults-gated-flow"], 1, lease=0.5)
    app.store.shift_clock(1)  # the zombie was paused past its lease
    [fresh] = app.store.claim_executions(["faults-gated-flow"], 1, lease=30)
    assert fresh.owner != zombie.owner and fresh.lost_leases == 1
    record = Record(0, "step", "faults-gated", value='"zombie"')
    assert app.store.checkpoint(zombie, record) is False
    assert app.store.complete(zombie, '"zombie"') is False
    assert app.store.suspend(zombie, None, None) is False
    assert app.store.fail(zombie, {"type": "X", "message": "zombie"}) is False
    assert sql(f'SELECT count(*) FROM "{schema}".steps WHERE execution_id = %s',
               handle.id) == [(0,)]
    assert app.store.checkpoint(fresh, record) is True
    app.cancel(handle.id)


def test_an_execution_that_keeps_losing_its_worker_ends_failed_with_the_reason(
        app: zart.Zart, dsn: str) -> None:
    handle = app.start(gated_flow, None)
    for _ in range(3):
        [claim] = app.store.claim_executions(["faults-gated-flow"], 1, lease=0.5)
        app.store.shift_clock(1)
    [claim] = app.store.claim_executions(["faults-gated-flow"], 1, lease=30)
    assert claim.lost_leases == 3
    with psycopg.connect(dsn, autocommit=True) as conn:
        Executor(app.store, max_lease_losses=2).run_execution(claim, conn)
    with pytest.raises(zart.WorkflowFailed) as failure:
        handle.result(timeout=5)
    assert failure.value.cause_type == "LeaseLost"
    assert "3 times" in failure.value.cause_message
