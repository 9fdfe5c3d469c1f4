"""Exactly once, for real (issue 7): each test reproduces one way the engine once broke its
promise (a completed step never runs again; each outcome is committed once) and proves it
holds now. Evidence comes from the tests' own ledger of step runs (``RUNS``) and from the
database rows, never from the engine's view of itself."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

import zart
from zart.interpreter import Record
from zart.runtime.executor import Executor

from .conftest import run_due, wait_until

RUNS: Counter[str] = Counter()
PAUSED = threading.Event()
RESUME = threading.Event()


def ran(key: str) -> int:
    """Count a real run of ``key`` for the current execution; the number of runs so far."""
    key = f"{zart.context().execution_id}:{key}"
    RUNS[key] += 1
    return RUNS[key]


def runs(execution_id: str, key: str) -> int:
    return RUNS[f"{execution_id}:{key}"]


@pytest.fixture
def ledger(app: zart.Zart, schema: str) -> str:
    """A business table the transactional steps write through the checkpoint's transaction."""
    name = f'"{schema}".eo_ledger'
    with app.store.connection() as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {name} (execution_id text, step text, "
                     f"attempt int)")
        conn.execute(f"TRUNCATE {name}")
    return name


@contextmanager
def cancelled_at_exit(app: zart.Zart, execution_id: str) -> Iterator[None]:
    """Cancel an execution a test drives by hand when the test ends, passed or failed, so no
    later test of the module claims it."""
    try:
        yield
    finally:
        app.cancel(execution_id)


def ledger_rows(sql: Any, ledger: str, execution_id: str) -> list[tuple[Any, ...]]:
    return sql(f"SELECT step, attempt FROM {ledger} WHERE execution_id = %s ORDER BY step, "
               f"attempt", execution_id)


def write_ledger(step: str) -> None:
    ctx = zart.context()
    assert ctx.connection is not None
    ctx.connection.execute(
        f'INSERT INTO "{ctx.data["schema"]}".eo_ledger VALUES (%s, %s, %s)',
        (ctx.execution_id, step, ctx.attempt))


# -- 1. a business error in a transactional step must not poison the worker's connection ----

@zart.step("eo-tx-fails-once", transactional=True, retry=zart.fixed(1, 0))
def tx_fails_once() -> str:
    write_ledger("fails-once")
    if zart.context().data["fail"] and zart.context().attempt == 1:
        raise ValueError("card declined (a business error, retried)")
    return "charged"


@zart.step("eo-tx-plain", transactional=True)
def tx_plain(i: int) -> int:
    write_ledger(f"plain-{i}")
    return i


@zart.step("eo-plain-{i}")
def plain(i: int) -> int:
    return i


@zart.workflow("eo-tx-flow")
def tx_flow(data: Any) -> Any:
    first = yield tx_fails_once()
    total = 0
    for i in range(3):
        total += yield plain(i)
        total += yield tx_plain(i).named(f"eo-tx-plain-{i}")
    return [first, total]


def test_a_rolled_back_transactional_step_leaves_the_checkpoint_statement_usable(
        app: zart.Zart, sql: Any, ledger: str, schema: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """psycopg answers a rollback with DEALLOCATE ALL once it has prepared statements of its
    own; the raw prepared checkpoint must survive that on the same connection."""
    with caplog.at_level(logging.WARNING, logger="zart"), \
            app.worker(threads=1, lease=5.0, poll_interval=0.2):
        # Enough work first for psycopg to prepare statements of its own on the connection.
        plain_runs = [app.start(tx_flow, {"schema": schema, "fail": False}) for _ in range(20)]
        assert [h.result(timeout=30) for h in plain_runs] == [["charged", 6]] * 20
        handles = [app.start(tx_flow, {"schema": schema, "fail": True}) for _ in range(10)]
        results = [h.result(timeout=30) for h in handles]
    assert results == [["charged", 6]] * 10
    # Only the business errors, as warnings: nothing unexpected, no lost lease.
    unexpected = [r.getMessage() for r in caplog.records
                  if not (r.name == "zart.runtime.steps" and "eo-tx-fails-once" in r.getMessage())]
    assert unexpected == []
    ids = [h.id for h in plain_runs + handles]
    assert sql(f'SELECT sum(lost_leases) FROM "{schema}".executions WHERE id = ANY(%s)',
               ids) == [(0,)]
    for handle in handles:
        assert ledger_rows(sql, ledger, handle.id) == [
            ("fails-once", 2), ("plain-0", 1), ("plain-1", 1), ("plain-2", 1)]


@zart.workflow("eo-raw")
def raw_flow(data: Any) -> Any:
    yield plain(0)


def test_a_fresh_checkpoint_after_a_rollback_on_the_same_connection_is_written(
        app: zart.Zart, dsn: str) -> None:
    handle = app.start(raw_flow, None)
    [claim] = app.store.claim_executions(["eo-raw"], 1, 30)
    with psycopg.connect(dsn, autocommit=True) as conn, cancelled_at_exit(app, handle.id):
        for _ in range(6):  # psycopg prepares a statement of its own after a few runs
            conn.execute("SELECT %s::int", (1,))
        assert app.store.checkpoint(claim, Record(0, "step", "a", value="1"), conn, fresh=True)
        with pytest.raises(ZeroDivisionError), conn.transaction():
            conn.execute("SELECT 1")
            raise ZeroDivisionError  # rolled back: psycopg deallocates every statement
        assert app.store.checkpoint(claim, Record(1, "step", "b", value="2"), conn, fresh=True)
        with conn.transaction():  # and inside a transaction after a savepoint's rollback
            with pytest.raises(ZeroDivisionError), conn.transaction():
                raise ZeroDivisionError
            assert app.store.checkpoint(claim, Record(2, "step", "c", value="3"), conn,
                                        fresh=True)


@zart.step("eo-tx-savepoint", transactional=True)
def tx_savepoint() -> str:
    conn = zart.context().connection
    assert conn is not None
    for _ in range(6):
        conn.execute("SELECT %s::int", (1,))
    try:
        with conn.transaction():  # a savepoint the step rolls back itself
            conn.execute("SELECT 1 / 0")
    except psycopg.errors.DivisionByZero:
        pass
    write_ledger("savepoint")
    return "recovered"


@zart.workflow("eo-savepoint-flow")
def savepoint_flow(data: Any) -> Any:
    return (yield tx_savepoint())


def test_a_transactional_step_that_rolls_back_a_savepoint_is_checkpointed(
        app: zart.Zart, sql: Any, ledger: str, schema: str, dsn: str) -> None:
    warm = app.start(raw_flow, None)
    handle = app.start(savepoint_flow, {"schema": schema})
    with psycopg.connect(dsn, autocommit=True) as conn:  # one connection for both
        for workflow in ("eo-raw", "eo-savepoint-flow"):
            [claim] = app.store.claim_executions([workflow], 1, 30)
            Executor(app.store).run_execution(claim, conn)
    assert warm.result(timeout=5) is None
    assert handle.result(timeout=5) == "recovered"
    assert ledger_rows(sql, ledger, handle.id) == [("savepoint", 1)]


# -- 2. a claim must see the history its row lock proves, not its snapshot's -----------------

@zart.step("eo-first")
def first() -> str:
    ran("first")
    return "first"


@zart.step("eo-second")
def second() -> str:
    ran("second")
    return "second"


@zart.workflow("eo-two")
def two(data: Any) -> Any:
    a = yield first()
    b = yield second()
    return [a, b]


def test_a_takeover_whose_snapshot_missed_the_first_checkpoint_still_replays_it(
        app: zart.Zart, dsn: str, sql: Any, schema: str) -> None:
    """The previous owner's first checkpoint commits after the claim's snapshot but before its
    row lock (simulated with a repeatable-read snapshot taken in between)."""
    handle = app.start(two, None)
    [old] = app.store.claim_executions(["eo-two"], 1, 30)
    with psycopg.connect(dsn, autocommit=True) as owner, \
            psycopg.connect(dsn) as claimer:
        owner.execute("BEGIN")
        assert app.store.checkpoint(old, Record(0, "step", "eo-first", value='"first"'), owner)
        app.store.shift_clock(60)  # the old owner's lease is now over
        claimer.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        claimer.execute("SELECT 1")  # the claim's snapshot, before the checkpoint commits
        owner.execute("COMMIT")
        [new] = app.store.claim_executions(["eo-two"], 1, 30, claimer)
        claimer.commit()
    with app.store.connection() as conn:
        Executor(app.store).run_execution(new, conn)
    assert handle.result(timeout=5) == ["first", "second"]
    assert runs(handle.id, "first") == 0  # it ran only in the simulated old owner
    done = sql(f'SELECT seq, name, status, value::text FROM "{schema}".steps '
               f"WHERE execution_id = %s ORDER BY seq", handle.id)
    assert done == [(0, "eo-first", "done", '"first"'), (1, "eo-second", "done", '"second"')]


def test_no_statement_writes_over_a_done_step(app: zart.Zart, sql: Any, schema: str) -> None:
    handle = app.start(raw_flow, None)
    [claim] = app.store.claim_executions(["eo-raw"], 1, 30)
    with cancelled_at_exit(app, handle.id):
        assert app.store.checkpoint(claim, Record(0, "step", "eo-plain-0", value="0"))
        error = {"type": "ValueError", "message": "late failure"}
        assert not app.store.retry_step_later(claim, 0, "eo-plain-0", 1, error, 0.0)
        assert app.store.begin_attempt(claim, 0, "eo-plain-0", 2, 10.0, "global") is None
        [row] = sql(f'SELECT status, ok, value::text, error FROM "{schema}".steps '
                    f"WHERE execution_id = %s", handle.id)
        assert row == ("done", True, "0", None)


# -- 3. a worker paused past its lease must not start the next step --------------------------

PAUSE_ONCE: set[str] = set()


@zart.workflow("eo-paused")
def paused_flow(data: Any) -> Any:
    a = yield first()
    execution_id = zart.context().execution_id
    if execution_id not in PAUSE_ONCE:  # the first worker freezes here, between two steps
        PAUSE_ONCE.add(execution_id)
        PAUSED.set()
        RESUME.wait(30)
    b = yield second()
    return [a, b]


def test_a_worker_paused_past_its_lease_does_not_start_a_step_another_worker_finished(
        app: zart.Zart) -> None:
    PAUSED.clear()
    RESUME.clear()
    handle = app.start(paused_flow, None)
    [frozen] = app.store.claim_executions(["eo-paused"], 1, 0.5)
    failures: list[BaseException] = []

    def run_frozen() -> None:
        try:
            with app.store.connection() as conn:
                Executor(app.store).run_execution(frozen, conn)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run_frozen)
    thread.start()
    assert PAUSED.wait(10)
    # Real time passes (no clock shift: the frozen worker must notice by its own clock) until
    # the lease is over and another worker takes the execution over and finishes it.
    [taken] = wait_until(lambda: app.store.claim_executions(["eo-paused"], 1, 30),
                         timeout=10, what="the lease to run out")
    with app.store.connection() as conn:
        Executor(app.store).run_execution(taken, conn)
    assert handle.result(timeout=5) == ["first", "second"]
    RESUME.set()  # the frozen worker wakes up, between "first" and "second"
    thread.join(10)
    assert not failures
    assert runs(handle.id, "first") == 1
    assert runs(handle.id, "second") == 1


@zart.step("eo-second-tx", transactional=True)
def second_tx() -> str:
    ran("second-tx")
    return "second"


@zart.workflow("eo-paused-tx")
def paused_tx_flow(data: Any) -> Any:
    a = yield first()
    execution_id = zart.context().execution_id
    if execution_id not in PAUSE_ONCE:
        PAUSE_ONCE.add(execution_id)
        PAUSED.set()
        RESUME.wait(30)
    b = yield second_tx()
    return [a, b]


def test_a_worker_paused_past_its_lease_does_not_start_a_transactional_step_either(
        app: zart.Zart) -> None:
    """The lease is checked after the step's BEGIN (not before its round trip), and the
    refusal leaves the connection usable: the next execution on it runs."""
    PAUSED.clear()
    RESUME.clear()
    handle = app.start(paused_tx_flow, None)
    [frozen] = app.store.claim_executions(["eo-paused-tx"], 1, 0.5)
    failures: list[BaseException] = []
    with app.store.connection() as frozen_conn:

        def run_frozen() -> None:
            try:
                Executor(app.store).run_execution(frozen, frozen_conn)
            except BaseException as exc:
                failures.append(exc)

        thread = threading.Thread(target=run_frozen)
        thread.start()
        assert PAUSED.wait(10)
        [taken] = wait_until(lambda: app.store.claim_executions(["eo-paused-tx"], 1, 30),
                             timeout=10, what="the lease to run out")
        with app.store.connection() as conn:
            Executor(app.store).run_execution(taken, conn)
        assert handle.result(timeout=5) == ["first", "second"]
        RESUME.set()
        thread.join(10)
        assert not failures
        assert (runs(handle.id, "first"), runs(handle.id, "second-tx")) == (1, 1)
        assert frozen_conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        again = app.start(two, None)
        [claim] = app.store.claim_executions(["eo-two"], 1, 30)
        Executor(app.store).run_execution(claim, frozen_conn)
        assert again.result(timeout=5) == ["first", "second"]


# -- 8. a BaseException from user code must not kill a worker thread -----------------------

@zart.step("eo-exits")
def exits(kind: str) -> str:
    ran(kind)
    if kind == "exit":
        raise SystemExit("usage: tool [--flag]")  # argparse on bad input
    if kind == "interrupt":
        raise KeyboardInterrupt
    raise asyncio.CancelledError("cancelled inside the step")


@zart.workflow("eo-base-step")
def base_step(data: Any) -> Any:
    try:
        return (yield exits(data))
    except zart.StepFailed as exc:
        return {"step failed": exc.error_type}


@zart.workflow("eo-base-body")
def base_body(data: Any) -> Any:
    yield plain(0)
    raise SystemExit(3)


def test_a_base_exception_from_a_step_or_body_is_recorded_and_the_thread_lives_on(
        app: zart.Zart) -> None:
    with app.worker(threads=1, lease=2.0, poll_interval=0.2):
        kinds = ["exit", "interrupt", "cancelled"]
        handles = [app.start(base_step, kind) for kind in kinds]
        body = app.start(base_body, None)
        after = app.start(two, None)  # the one thread must still be alive to run this
        assert [h.result(timeout=20) for h in handles] == [
            {"step failed": "SystemExit"}, {"step failed": "KeyboardInterrupt"},
            {"step failed": "CancelledError"}]
        with pytest.raises(zart.WorkflowFailed) as failure:
            body.result(timeout=20)
        assert failure.value.cause_type == "SystemExit"
        assert after.result(timeout=20) == ["first", "second"]
    for handle, kind in zip(handles, kinds, strict=True):
        assert runs(handle.id, kind) == 1


# -- 9. a result or error that cannot be stored is one recorded failure, never a re-run -------

class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken too")


@zart.step("eo-unstorable", retry=zart.fixed(2, 0))
def unstorable(kind: str) -> Any:
    ran(kind)
    if kind == "set":
        return {1, 2, 3}  # not JSON: an LLM call paid once must not be paid three times
    raise Unprintable()


@zart.workflow("eo-unstorable-flow")
def unstorable_flow(data: Any) -> Any:
    try:
        return (yield unstorable(data))
    except zart.StepFailed as exc:
        return {"type": exc.error_type, "message": exc.message}


def test_a_result_that_cannot_be_stored_fails_the_step_once_without_retrying_it(
        app: zart.Zart) -> None:
    handle = app.start(unstorable_flow, "set")
    with app.worker(threads=1, lease=2.0, poll_interval=0.2):
        result = handle.result(timeout=20)
    assert runs(handle.id, "set") == 1
    assert result["type"] == "SerializationError"
    assert "eo-unstorable" in result["message"] and "set" in result["message"]


def test_an_exception_whose_str_raises_is_recorded_by_its_type(app: zart.Zart) -> None:
    handle = app.start(unstorable_flow, "unprintable")
    with app.worker(threads=1, lease=2.0, poll_interval=0.2):
        result = handle.result(timeout=20)
    assert runs(handle.id, "unprintable") == 3  # an ordinary failure: retried, then recorded
    assert result["type"] == "Unprintable"


# -- 10. the database decides: an event that arrives after its wait's deadline loses ----------

@zart.workflow("eo-event")
def event_flow(data: Any) -> Any:
    try:
        got = yield zart.wait_for_event("approval", timeout="10s")
    except zart.EventTimeout:
        got = "timed out"
    yield zart.sleep("eo-after", "1h")
    return got


def test_an_event_sent_after_the_deadline_of_its_wait_is_refused_and_never_wins(
        app: zart.Zart) -> None:
    handle = app.start(event_flow, None)
    with cancelled_at_exit(app, handle.id):
        run_due(app, "eo-event")  # now waiting for "approval", deadline in 10 s
        assert handle.status() == "waiting"
        app.store.shift_clock(11)  # the deadline passed; no worker has looked yet
        assert app.send_event(handle.id, "approval", {"ok": True}) is False
        run_due(app, "eo-event")  # times the wait out, then sleeps
        app.store.shift_clock(3601)
        run_due(app, "eo-event")
        assert handle.result(timeout=5) == "timed out"


def test_an_event_sent_after_its_wait_timed_out_is_refused(app: zart.Zart) -> None:
    handle = app.start(event_flow, None)
    with cancelled_at_exit(app, handle.id):
        run_due(app, "eo-event")
        app.store.shift_clock(11)
        run_due(app, "eo-event")  # timed out; now sleeping an hour
        assert handle.status() == "waiting"
        assert app.send_event(handle.id, "approval", {"ok": True}) is False
        app.store.shift_clock(3601)
        run_due(app, "eo-event")
        assert handle.result(timeout=5) == "timed out"


def test_an_event_sent_before_the_deadline_wins(app: zart.Zart) -> None:
    handle = app.start(event_flow, None)
    with cancelled_at_exit(app, handle.id):
        run_due(app, "eo-event")
        app.store.shift_clock(9)
        assert app.send_event(handle.id, "approval", {"ok": True}) is True
        app.store.shift_clock(2)  # the worker comes after the deadline: the event still counts
        run_due(app, "eo-event")
        app.store.shift_clock(3601)
        run_due(app, "eo-event")
        assert handle.result(timeout=5) == {"ok": True}


# -- a finally that yields while its execution suspends ---------------------------------------

@zart.workflow("eo-finally")
def finally_flow(data: Any) -> Any:
    try:
        yield zart.sleep("eo-finally-nap", "1h")
    finally:
        yield plain(7)  # runs at close too: a yield there is what Python calls ignoring exit
    return "done"


def test_a_finally_that_yields_during_a_suspension_logs_nothing_unexpected(
        app: zart.Zart, caplog: pytest.LogCaptureFixture) -> None:
    handle = app.start(finally_flow, None)
    with caplog.at_level(logging.DEBUG, logger="zart"), \
            app.worker(threads=1, lease=2.0, poll_interval=0.2):
        wait_until(lambda: handle.status() == "waiting", what="the sleep")
        app.store.shift_clock(3601)
        assert handle.result(timeout=20) == "done"
    unexpected = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert unexpected == []
