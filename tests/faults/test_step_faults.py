"""Database faults inside steps and past leases (issue 7, items 4-7): a lost connection in a
timed transactional step, a cancelled checkpoint, a pool that timed transactional steps must not
exhaust, and clock jumps longer than the lease. Each is an infrastructure fault: the execution
must complete with its one right result, its transactional write made exactly once.

Evidence: ``RUNS`` counts real runs of each step in this process; the ledger table holds the
transactional steps' writes (committed with their checkpoint or not at all)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import zart

from .conftest import wait_until

RUNS: Counter[str] = Counter()
GATE = threading.Event()
TOGETHER = threading.Barrier(4)


def ran(step: str) -> int:
    """Count one real run of ``step`` in the current execution; the runs so far."""
    key = f"{zart.context().execution_id}:{step}"
    RUNS[key] += 1
    return RUNS[key]


def write_ledger(step: str) -> None:
    ctx = zart.context()
    assert ctx.connection is not None
    ctx.connection.execute(f'INSERT INTO "{ctx.data["schema"]}".sf_ledger VALUES (%s, %s)',
                           (ctx.execution_id, step))


@pytest.fixture
def ledger(sql: Any, schema: str, app: zart.Zart) -> Iterator[str]:
    sql(f'CREATE TABLE IF NOT EXISTS "{schema}".sf_ledger (execution_id text, step text)')
    yield f'"{schema}".sf_ledger'


def ledger_count(sql: Any, ledger: str, execution_id: str) -> int:
    return int(sql(f"SELECT count(*) FROM {ledger} WHERE execution_id = %s",
                   execution_id)[0][0])


def terminate(dsn: str, pid: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))


# -- 4. a lost connection inside a timed transactional step ------------------------------------

@zart.step("sf-timed-tx", transactional=True, timeout="2s")
def timed_tx() -> str:
    run = ran("timed-tx")
    ctx = zart.context()
    assert ctx.connection is not None
    write_ledger("timed-tx")
    GATE.wait(1.2)  # most of the timeout passes before the fault (and, on the rerun, after it)
    if run == 1:
        terminate(ctx.data["dsn"], ctx.connection.info.backend_pid)
        ctx.connection.execute("SELECT 1")  # the database is gone from under the step
    return "written"


@zart.workflow("sf-timed-tx-flow")
def timed_tx_flow(data: Any) -> Any:
    return (yield timed_tx())


def test_a_connection_lost_inside_a_timed_transactional_step_is_retried_not_timed_out(
        app: zart.Zart, ledger: str, sql: Any, schema: str, dsn: str) -> None:
    GATE.clear()
    handle = app.start(timed_tx_flow, {"schema": schema, "dsn": dsn})
    with app.worker(threads=2, lease=2.0, poll_interval=0.2):
        assert handle.result(timeout=30) == "written"
    assert RUNS[f"{handle.id}:timed-tx"] == 2
    assert ledger_count(sql, ledger, handle.id) == 1


# -- 5. a cancelled checkpoint of a transactional step ------------------------------------------

def hold_row_lock(dsn: str, schema: str, execution_id: str, seconds: float) -> None:
    """Lock the execution's row from another session for ``seconds`` (a slow, locked database):
    the step's checkpoint waits for it."""
    blocker = psycopg.connect(dsn)
    blocker.execute(f'SELECT 1 FROM "{schema}".executions WHERE id = %s FOR UPDATE',
                    (execution_id,))
    threading.Timer(seconds, blocker.close).start()  # closing rolls the lock back


def cancel_when_waiting(dsn: str, pid: int) -> None:
    """``pg_cancel_backend`` the step's backend once it waits on the lock (its checkpoint)."""
    def cancel() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            wait_until(lambda: conn.execute(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                (pid,)).fetchone() == (True,), what="the checkpoint to wait on the lock")
            conn.execute("SELECT pg_cancel_backend(%s)", (pid,))

    threading.Thread(target=cancel, daemon=True).start()


def cancelled_checkpoint(how: str) -> None:
    """Make this transactional step's checkpoint wait on a lock and be cancelled there."""
    ctx = zart.context()
    data = ctx.data
    assert ctx.connection is not None
    hold_row_lock(data["dsn"], data["schema"], ctx.execution_id, 1.5)
    if how == "statement_timeout":
        ctx.connection.execute("SET LOCAL statement_timeout = '300ms'")
    else:
        cancel_when_waiting(data["dsn"], ctx.connection.info.backend_pid)


@zart.step("sf-tx-cancelled", transactional=True)
def tx_cancelled(how: str) -> str:
    if ran("tx-cancelled") == 1:
        cancelled_checkpoint(how)
    write_ledger("tx-cancelled")
    return "written"


@zart.workflow("sf-tx-cancelled-flow")
def tx_cancelled_flow(data: Any) -> Any:
    return (yield tx_cancelled(data["how"]))


@pytest.mark.parametrize("how", ["statement_timeout", "pg_cancel_backend"])
def test_a_cancelled_checkpoint_of_a_transactional_step_is_retried_not_recorded(
        app: zart.Zart, ledger: str, sql: Any, schema: str, dsn: str, how: str) -> None:
    handle = app.start(tx_cancelled_flow, {"schema": schema, "dsn": dsn, "how": how})
    with app.worker(threads=2, lease=2.0, poll_interval=0.2):
        assert handle.result(timeout=30) == "written"
    assert RUNS[f"{handle.id}:tx-cancelled"] == 2
    assert ledger_count(sql, ledger, handle.id) == 1
    [(error,)] = sql(f'SELECT error FROM "{schema}".steps WHERE execution_id = %s', handle.id)
    assert error is None  # the fault was never recorded as the step's failure


# -- 6. timed transactional steps take no second connection --------------------------------------

@zart.step("sf-timed-tx-together", transactional=True, timeout="5s")
def timed_tx_together() -> str:
    ran("together")
    TOGETHER.wait(4)  # four such steps in flight at once on a four-thread worker
    write_ledger("together")
    return "written"


@zart.workflow("sf-together-flow")
def together_flow(data: Any) -> Any:
    return (yield timed_tx_together())


def test_timed_transactional_steps_on_every_thread_do_not_exhaust_the_pool(
        app: zart.Zart, ledger: str, sql: Any, schema: str) -> None:
    TOGETHER.reset()
    with app.worker(threads=4, lease=5.0, poll_interval=0.2):
        handles = [app.start(together_flow, {"schema": schema}) for _ in range(8)]
        assert [h.result(timeout=60) for h in handles] == ["written"] * 8
    for handle in handles:
        assert ledger_count(sql, ledger, handle.id) == 1


# -- 7. clock jumps longer than the lease are not a poison execution -----------------------------

@zart.step("sf-gated")
def gated() -> str:
    ran("gated")
    GATE.wait(30)
    return "through"


@zart.workflow("sf-gated-flow")
def gated_flow(data: Any) -> Any:
    return (yield gated())


def test_clock_jumps_past_the_lease_never_fail_a_healthy_execution_with_lease_lost(
        app: zart.Zart, sql: Any, schema: str) -> None:
    """Each jump lets another thread take the execution over while its first worker is alive
    and well; with ``max_lease_losses=1`` three such takeovers would fail it as a poison."""
    GATE.clear()
    handle = app.start(gated_flow, None)
    with app.worker(threads=6, lease=1.0, poll_interval=0.2, max_lease_losses=1):
        wait_until(lambda: RUNS[f"{handle.id}:gated"] == 1, what="the step to start")
        for jump in range(1, 4):
            app.store.shift_clock(2.0)  # every lease is over at once
            wait_until(lambda n=jump: RUNS[f"{handle.id}:gated"] == n + 1, timeout=20,
                       what=f"takeover {jump}")
            # The first holder is alive: the takeover is not held against the execution.
            wait_until(lambda: lost_leases(sql, schema, handle.id) == 0, timeout=20,
                       what=f"takeover {jump} to be recognised as a live worker's")
        GATE.set()
        assert handle.result(timeout=30) == "through"


def lost_leases(sql: Any, schema: str, execution_id: str) -> int:
    return int(sql(f'SELECT lost_leases FROM "{schema}".executions WHERE id = %s',
                   execution_id)[0][0])


# -- a timed step's success after its deadline (by the database's clock) is a timeout ------------

@zart.step("sf-timed-jump", timeout="30s")
def timed_jump() -> str:
    ran("timed-jump")
    ctx = zart.context()
    with psycopg.connect(ctx.data["dsn"], autocommit=True) as conn:  # the deadline passes
        conn.execute(f'UPDATE "{ctx.data["schema"]}".clock SET offset_seconds = '
                     f"offset_seconds + 60")
    return "late"


@zart.step("sf-timed-jump-tx", timeout="30s", transactional=True)
def timed_jump_tx() -> str:
    write_ledger("timed-jump-tx")
    ctx = zart.context()
    with psycopg.connect(ctx.data["dsn"], autocommit=True) as conn:
        conn.execute(f'UPDATE "{ctx.data["schema"]}".clock SET offset_seconds = '
                     f"offset_seconds + 60")
    return "late"


@zart.workflow("sf-timed-jump-flow")
def timed_jump_flow(data: Any) -> Any:
    step = timed_jump_tx() if data["transactional"] else timed_jump()
    try:
        return (yield step)
    except zart.StepTimeout as exc:
        return f"timed out: {exc.message}"


@pytest.mark.parametrize("transactional", [False, True])
def test_a_timed_step_that_returns_after_its_deadline_by_the_databases_clock_times_out(
        app: zart.Zart, ledger: str, sql: Any, schema: str, dsn: str,
        transactional: bool) -> None:
    handle = app.start(timed_jump_flow, {"dsn": dsn, "schema": schema,
                                         "transactional": transactional})
    with app.worker(threads=1, lease=120.0, poll_interval=0.2):
        result = handle.result(timeout=30)
    assert result.startswith("timed out") and "late result" in result
    assert ledger_count(sql, ledger, handle.id) == 0  # the transactional write rolled back


# -- a statement of a transactional step cancelled from outside is retried, not recorded ---------

@zart.step("sf-tx-own-sql-cancelled", transactional=True)
def tx_own_sql_cancelled() -> str:
    ctx = zart.context()
    assert ctx.connection is not None
    if ran("own-sql") == 1:
        pid = ctx.connection.info.backend_pid
        threading.Timer(0.3, lambda: terminate_or_cancel(ctx.data["dsn"], pid)).start()
        ctx.connection.execute("SELECT pg_sleep(10)")  # cancelled by "an operator"
    write_ledger("own-sql")
    return "written"


def terminate_or_cancel(dsn: str, pid: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_cancel_backend(%s)", (pid,))


@zart.workflow("sf-own-sql-flow")
def own_sql_flow(data: Any) -> Any:
    return (yield tx_own_sql_cancelled())


def test_a_transactional_steps_statement_cancelled_by_an_operator_is_retried(
        app: zart.Zart, ledger: str, sql: Any, schema: str, dsn: str) -> None:
    handle = app.start(own_sql_flow, {"schema": schema, "dsn": dsn})
    with app.worker(threads=1, lease=5.0, poll_interval=0.2):
        assert handle.result(timeout=30) == "written"
    assert RUNS[f"{handle.id}:own-sql"] == 2
    assert ledger_count(sql, ledger, handle.id) == 1


def test_a_refund_never_writes_to_a_finished_execution(app: zart.Zart, sql: Any,
                                                      schema: str) -> None:
    handle = app.start(gated_flow, None)
    [old] = app.store.claim_executions(["sf-gated-flow"], 1, 0.5)
    app.store.shift_clock(1)
    [new] = app.store.claim_executions(["sf-gated-flow"], 1, 30)  # a takeover: counted
    app.cancel(handle.id)
    before = sql(f'SELECT lost_leases, lost_owner, updated_at FROM "{schema}".executions '
                 f"WHERE id = %s", handle.id)
    app.store.refund_lost([old])  # the old worker turns out alive, after the cancel
    assert sql(f'SELECT lost_leases, lost_owner, updated_at FROM "{schema}".executions '
               f"WHERE id = %s", handle.id) == before
    assert before[0][0] == 1 and new.owner != old.owner
