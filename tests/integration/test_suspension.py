"""Suspension: durable sleeps, event waits and parallel fan-outs free the worker's thread.

The execution's rows say when (``wake_at``) or on what (``waiting_for``) it wakes; time moves
through the database clock (``store.shift_clock``), never by sleeping. The clock is shifted only
while this module's executions are waiting, never while a step runs (a shift also expires
running leases).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

import zart
from zart.runtime.children import known_refs

from .conftest import run_due, wait_until

Sql = Callable[..., list[tuple[Any, ...]]]

_lock = threading.Lock()
RUNS: Counter[str] = Counter()
GATES: dict[str, threading.Event] = {}
FINISHED: dict[str, list[int]] = {}
STARTED: dict[str, list[str]] = {}


def _count(what: str) -> None:
    with _lock:
        RUNS[what] += 1


def _tag() -> str:
    return uuid.uuid4().hex[:12]


def _wake(worker: zart.Worker) -> None:
    """Have the worker look for due work now rather than at its next poll."""
    worker._wake.set()


def _steps(sql: Sql, schema: str, execution_id: str) -> list[tuple[Any, ...]]:
    return sql(f'SELECT seq, kind, name, status, ok FROM "{schema}".steps '
               f"WHERE execution_id = %s ORDER BY seq", execution_id)


def _waiting_on_sleep(app: zart.Zart, sql: Sql, schema: str, execution_id: str,
                      sleep: str) -> bool:
    rows = sql(f'SELECT 1 FROM "{schema}".steps WHERE execution_id = %s AND kind = %s '
               f"AND name = %s", execution_id, "sleep", sleep)
    return bool(rows) and app.handle(execution_id).status() == "waiting"


# -- durable sleeps -------------------------------------------------------------------------


@zart.step("susp-sleep-before")
def susp_sleep_before(tag: str) -> str:
    _count(f"sleep-before:{tag}")
    return f"before-{tag}"


@zart.step("susp-sleep-after")
def susp_sleep_after(tag: str) -> str:
    _count(f"sleep-after:{tag}")
    return f"after-{tag}"


@zart.workflow("susp-sleep")
def susp_sleep(tag: str) -> Any:
    first = yield susp_sleep_before(tag)
    yield zart.sleep("susp-nap", "1h")
    second = yield susp_sleep_after(tag)
    return [first, second]


@zart.workflow("susp-sleep-until")
def susp_sleep_until(data: dict[str, str]) -> Any:
    yield zart.sleep_until("susp-until", datetime.fromisoformat(data["until"]))
    done = yield susp_sleep_after(data["tag"])
    return {"until": data["until"], "done": done}


@zart.workflow("susp-thousand")
def susp_thousand(n: int) -> Any:
    yield zart.sleep("susp-thousand-nap", "1h")
    return n * 2


def test_a_durable_sleep_frees_the_thread_and_resumes_only_after_the_db_clock_passes_it(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    handle = app.start(susp_sleep, tag, id=f"susp-sleep-{tag}")
    wait_until(lambda: handle.status() == "waiting", what="the sleep to suspend the execution")
    wait_until(lambda: worker.busy == 0, what="the worker thread to be freed")
    assert RUNS[f"sleep-before:{tag}"] == 1
    assert RUNS[f"sleep-after:{tag}"] == 0
    ((left, owner),) = sql(
        f'SELECT EXTRACT(EPOCH FROM wake_at - "{schema}".clock_now())::float8, owner '
        f'FROM "{schema}".executions WHERE id = %s', handle.id)
    assert 3500 < left <= 3600, "the execution wakes one hour after the DB clock"
    assert owner is None, "a waiting execution is held by no worker"

    app.store.shift_clock(59 * 60)  # one minute short of the wake time
    assert app.store.claim_executions([susp_sleep.name], 10, 2.0) == [], \
        "a sleeping execution must not be claimable before its wake time"
    due = app.store.next_due([susp_sleep.name])
    assert due is not None and 0 < due <= 60
    assert handle.status() == "waiting"

    app.store.shift_clock(2 * 60)
    _wake(worker)
    assert handle.result(timeout=10) == [f"before-{tag}", f"after-{tag}"]
    assert RUNS[f"sleep-before:{tag}"] == 1, "the step before the sleep replayed, not re-ran"
    assert RUNS[f"sleep-after:{tag}"] == 1
    assert [r[1:] for r in _steps(sql, schema, handle.id)] == [
        ("step", "susp-sleep-before", "done", True),
        ("sleep", "susp-nap", "done", True),
        ("step", "susp-sleep-after", "done", True)]


def test_work_gated_at_infinity_is_never_due_and_does_not_break_the_next_due_time(
        app: zart.Zart, sql: Sql, schema: str) -> None:
    # 'infinity' is how an operator (or a benchmark) parks an execution by hand; the
    # dispatcher's next-due query must not fail on it ("cannot subtract infinite timestamps"
    # once stopped every idle round's look-ahead).
    tag = _tag()
    handle = app.start(susp_sleep, tag, id=f"susp-gated-{tag}")
    sql(f'UPDATE "{schema}".executions SET wake_at = \'infinity\' WHERE id = %s', handle.id)
    assert app.store.next_due([susp_sleep.name]) == math.inf
    assert app.store.claim_executions([susp_sleep.name], 10, 2.0) == []


def test_sleep_until_an_aware_datetime_wakes_at_that_instant(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    ((db_now,),) = sql(f'SELECT "{schema}".clock_now()')
    # An hour ahead of the DB clock, written in a zone that is neither UTC nor the session's.
    until = (db_now + timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5, minutes=-30)))
    handle = app.start(susp_sleep_until, {"tag": tag, "until": until.isoformat()},
                       id=f"susp-until-{tag}")
    wait_until(lambda: handle.status() == "waiting", what="sleep_until to suspend")
    wait_until(lambda: worker.busy == 0, what="the worker thread to be freed")
    ((wake_at,),) = sql(f'SELECT wake_at FROM "{schema}".steps WHERE execution_id = %s '
                        f"AND kind = 'sleep'", handle.id)
    assert wake_at == until, "the stored wake time is the same instant as the aware datetime"

    app.store.shift_clock(50 * 60)
    assert app.store.claim_executions([susp_sleep_until.name], 10, 2.0) == []
    assert handle.status() == "waiting"

    app.store.shift_clock(20 * 60)
    _wake(worker)
    assert handle.result(timeout=10) == {"until": until.isoformat(), "done": f"after-{tag}"}


def test_a_thousand_sleeping_executions_hold_no_threads_and_all_complete_after_the_clock_moves(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str, dsn: str) -> None:
    started = time.monotonic()
    threads_before = threading.active_count()
    prefix = f"susp-k-{_tag()}-"
    with psycopg.connect(dsn) as conn, conn.transaction():
        for n in range(1000):
            app.start(susp_thousand, n, id=f"{prefix}{n:04d}", conn=conn)

    def counts() -> dict[str, int]:
        rows = sql(f'SELECT status, count(*) FROM "{schema}".executions WHERE id LIKE %s '
                   f"GROUP BY status", prefix + "%")
        return {status: int(n) for status, n in rows}

    wait_until(lambda: counts() == {"waiting": 1000}, timeout=20,
               what="all 1000 executions to be waiting")
    wait_until(lambda: worker.busy == 0, what="every worker thread to be free")
    assert threading.active_count() <= threads_before + 3, \
        "sleeping executions must not hold (or create) threads"
    ((held,),) = sql(f'SELECT count(*) FROM "{schema}".executions WHERE id LIKE %s '
                     f"AND (owner IS NOT NULL OR lease_until IS NOT NULL)", prefix + "%")
    assert held == 0

    app.store.shift_clock(2 * 3600)
    _wake(worker)
    wait_until(lambda: counts() == {"completed": 1000}, timeout=20,
               what="all 1000 executions to complete")
    ((total,),) = sql(f'SELECT sum((result::text)::int) FROM "{schema}".executions '
                      f"WHERE id LIKE %s", prefix + "%")
    assert total == 2 * sum(range(1000))
    assert time.monotonic() - started < 45


# -- events ---------------------------------------------------------------------------------


@zart.step("susp-ev-prepare")
def susp_ev_prepare(tag: str) -> str:
    _count(f"ev-prepare:{tag}")
    return tag


@zart.workflow("susp-event")
def susp_event(tag: str) -> Any:
    yield susp_ev_prepare(tag)
    payload = yield zart.wait_for_event("susp-go")
    return payload


@zart.workflow("susp-event-dup")
def susp_event_dup(tag: str) -> Any:
    first = yield zart.wait_for_event("susp-dup")
    yield zart.wait_for_event("susp-release")
    return first


@zart.workflow("susp-quick")
def susp_quick(tag: str) -> Any:
    value = yield susp_ev_prepare(tag)
    return value


@zart.step("susp-to-fallback")
def susp_to_fallback(tag: str) -> str:
    _count(f"to-fallback:{tag}")
    return f"fallback-{tag}"


@zart.step("susp-to-final")
def susp_to_final(tag: str) -> str:
    _count(f"to-final:{tag}")
    return f"final-{tag}"


@zart.workflow("susp-event-timeout")
def susp_event_timeout(tag: str) -> Any:
    _count(f"to-body:{tag}")
    try:
        payload = yield zart.wait_for_event("susp-approval", timeout="10m")
        outcome: dict[str, Any] = {"approved": payload}
    except zart.EventTimeout as exc:
        fallback = yield susp_to_fallback(tag)
        outcome = {"error": type(exc).__name__, "event": exc.step, "fallback": fallback}
    yield zart.sleep("susp-to-cooldown", "1h")
    final = yield susp_to_final(tag)
    return {**outcome, "final": final}


def test_an_event_sent_before_any_worker_runs_is_buffered_and_consumed_at_the_wait(
        app: zart.Zart) -> None:
    tag = _tag()
    handle = app.start(susp_event, tag, id=f"susp-early-{tag}")
    assert handle.status() == "pending", "no worker has touched the execution yet"
    assert app.send_event(handle.id, "susp-go", {"early": True}) is True
    assert handle.status() == "pending"
    with app.worker(threads=2, lease=2.0, poll_interval=1.0):
        assert handle.result(timeout=10) == {"early": True}
    assert RUNS[f"ev-prepare:{tag}"] == 1


def test_an_event_sent_while_waiting_wakes_the_execution_by_notify_not_by_polling(
        app: zart.Zart) -> None:
    tag = _tag()
    with app.worker(threads=2, lease=2.0, poll_interval=30.0) as slow_poller:
        handle = app.start(susp_event, tag, id=f"susp-wake-{tag}")
        wait_until(lambda: handle.status() == "waiting", what="the event wait to suspend")
        wait_until(lambda: slow_poller.busy == 0, what="the worker thread to be freed")
        sent = time.monotonic()
        assert app.send_event(handle.id, "susp-go", "hello") is True
        assert handle.result(timeout=10) == "hello"
        assert time.monotonic() - sent < 5, "woken by NOTIFY, long before the 30 s poll"


def test_a_second_delivery_of_an_event_returns_false_and_the_first_payload_stands(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    handle = app.start(susp_event_dup, tag, id=f"susp-dup-{tag}")
    wait_until(lambda: handle.status() == "waiting", what="the event wait to suspend")
    assert app.send_event(handle.id, "susp-dup", {"n": 1}) is True
    assert app.send_event(handle.id, "susp-dup", {"n": 2}) is False
    assert app.send_event(handle.id, "susp-release") is True
    assert handle.result(timeout=10) == {"n": 1}
    rows = sql(f'SELECT payload::text FROM "{schema}".events WHERE execution_id = %s '
               f"AND name = 'susp-dup'", handle.id)
    assert rows == [('{"n":1}',)]


def test_send_event_to_an_unknown_execution_raises_execution_not_found(
        app: zart.Zart, sql: Sql, schema: str) -> None:
    missing = f"susp-missing-{_tag()}"
    with pytest.raises(zart.ExecutionNotFound, match=missing):
        app.send_event(missing, "susp-go", 1)
    assert sql(f'SELECT 1 FROM "{schema}".events WHERE execution_id = %s', missing) == []


def test_send_event_to_a_completed_execution_raises_execution_finished(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    handle = app.start(susp_quick, tag, id=f"susp-done-{tag}")
    assert handle.result(timeout=10) == tag
    with pytest.raises(zart.ExecutionFinished, match="completed"):
        app.send_event(handle.id, "susp-go", 1)
    assert sql(f'SELECT 1 FROM "{schema}".events WHERE execution_id = %s', handle.id) == []


def test_an_event_timeout_is_caught_in_the_workflow_replays_identically_and_a_late_event_is_ignored(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    handle = app.start(susp_event_timeout, tag, id=f"susp-timeout-{tag}")
    wait_until(lambda: handle.status() == "waiting", what="the event wait to suspend")
    wait_until(lambda: worker.busy == 0, what="the worker thread to be freed")
    assert RUNS[f"to-fallback:{tag}"] == 0

    app.store.shift_clock(11 * 60)  # past the 10 minute timeout
    _wake(worker)
    wait_until(lambda: _waiting_on_sleep(app, sql, schema, handle.id, "susp-to-cooldown"),
               what="the handled timeout to run the fallback and suspend on the sleep")
    assert RUNS[f"to-fallback:{tag}"] == 1
    assert [r[1:] for r in _steps(sql, schema, handle.id)][:2] == [
        ("event", "susp-approval", "done", False),
        ("step", "susp-to-fallback", "done", True)], "the timeout is a recorded outcome"

    app.send_event(handle.id, "susp-approval", {"late": True})  # after the timeout: too late
    app.store.shift_clock(2 * 3600)
    _wake(worker)
    assert handle.result(timeout=10) == {"error": "EventTimeout", "event": "susp-approval",
                                         "fallback": f"fallback-{tag}", "final": f"final-{tag}"}
    assert RUNS[f"to-body:{tag}"] == 3, "first run, run after the timeout, replay after the sleep"
    assert RUNS[f"to-fallback:{tag}"] == 1, "the handled path replayed from history"
    assert RUNS[f"to-final:{tag}"] == 1


# -- parallel -------------------------------------------------------------------------------


@zart.step("susp-par-item-{i}")
def susp_par_item(tag: str, i: int) -> dict[str, int]:
    if i == 0:  # finish last, after the last child
        GATES[tag].wait(10)
    with _lock:
        FINISHED.setdefault(tag, []).append(i)
    if i == 2:
        GATES[tag].set()
    return {"i": i, "square": i * i}


@zart.workflow("susp-par-order")
def susp_par_order(tag: str) -> Any:
    results = yield zart.parallel([susp_par_item(tag, i) for i in range(3)])
    return results


@zart.step("susp-par-where-{i}")
def susp_par_where(tag: str, i: int) -> str:
    with _lock:
        STARTED.setdefault(tag, []).append(threading.current_thread().name)
    GATES[tag].wait(20)
    return threading.current_thread().name


@zart.step("susp-par-where-after")
def susp_par_where_after() -> str:
    return threading.current_thread().name


@zart.workflow("susp-par-where")
def susp_par_where_wf(tag: str) -> Any:
    children = yield zart.parallel([susp_par_where(tag, i) for i in range(3)])
    after = yield susp_par_where_after()
    return {"children": children, "after": after}


@zart.step("susp-par-flaky-{i}", retry=zart.fixed(2, 0))
def susp_par_flaky(tag: str, i: int) -> dict[str, int]:
    attempt = zart.context().attempt
    _count(f"par-flaky:{tag}:{i}")
    if i == 1 and attempt == 1:
        raise RuntimeError("the first attempt of child 1 fails")
    return {"i": i, "attempt": attempt}


@zart.workflow("susp-par-retry")
def susp_par_retry(tag: str) -> Any:
    results = yield zart.parallel(susp_par_flaky(tag, 0), susp_par_flaky(tag, 1))
    return results


@zart.step("susp-par-maybe-{i}")
def susp_par_maybe(tag: str, i: int) -> int:
    if i == 1:  # fail after child 3 has: "first" means first in order, not in time
        GATES[tag].wait(10)
    if i == 3:
        GATES[tag].set()
    if i in (1, 3):
        raise ValueError(f"child {i} refuses")
    return i * 100


def _describe(result: Any) -> Any:
    if isinstance(result, zart.StepFailed):
        return {"failed": type(result).__name__, "step": result.step,
                "error_type": result.error_type, "message": result.message}
    return result


@zart.workflow("susp-par-gather")
def susp_par_gather(tag: str) -> Any:
    results = yield zart.parallel([susp_par_maybe(tag, i) for i in range(3)],
                                  return_exceptions=True)
    return [_describe(r) for r in results]


@zart.step("susp-par-recover")
def susp_par_recover(tag: str) -> str:
    _count(f"par-recover:{tag}")
    return "recovered"


@zart.workflow("susp-par-raise")
def susp_par_raise(tag: str) -> Any:
    try:
        yield zart.parallel([susp_par_maybe(tag, i) for i in range(4)])
    except zart.StepFailed as exc:
        recovered = yield susp_par_recover(tag)
        return {**_describe(exc), "recovered": recovered}
    return "no error reached the workflow"


@zart.step("susp-par-count-{i}")
def susp_par_count(tag: str, i: int) -> int:
    _count(f"par-count:{tag}:{i}")
    return i + 1


@zart.step("susp-par-after-nap")
def susp_par_after_nap(tag: str, values: list[int]) -> int:
    _count(f"par-after-nap:{tag}")
    return sum(values)


@zart.workflow("susp-par-then-sleep")
def susp_par_then_sleep(tag: str) -> Any:
    values = yield zart.parallel([susp_par_count(tag, i) for i in range(3)])
    yield zart.sleep("susp-par-nap", "1h")
    total = yield susp_par_after_nap(tag, values)
    return {"values": values, "total": total}


@zart.step("susp-par-fine")
def susp_par_fine(tag: str) -> str:
    _count(f"par-fine:{tag}")
    return "fine"


@zart.step("susp-par-unstorable-arg")
def susp_par_unstorable_arg(value: Any) -> str:
    return "never runs"


@zart.workflow("susp-par-bad-args")
def susp_par_bad_args(tag: str) -> Any:
    results = yield zart.parallel(susp_par_fine(tag), susp_par_unstorable_arg(object()))
    return results


@zart.workflow("susp-par-nested-child")
def susp_par_nested_child(tag: str) -> Any:
    @zart.step("susp-par-local")
    def local_child() -> str:  # not importable by another worker
        return "never runs"

    results = yield zart.parallel(susp_par_fine(tag), local_child())
    return results


@zart.step("susp-par-many-{i}")
def susp_par_many(tag: str, i: int) -> int:
    _count(f"par-many:{tag}:{i}")
    return i


@zart.step("susp-par-many-after")
def susp_par_many_after(tag: str, values: list[int]) -> int:
    _count(f"par-many-after:{tag}")
    return sum(values)


@zart.workflow("susp-par-many")
def susp_par_many_wf(tag: str) -> Any:
    _count(f"par-many-body:{tag}")
    values = yield zart.parallel([susp_par_many(tag, i) for i in range(20)])
    total = yield susp_par_many_after(tag, values)
    return {"values": values, "total": total}


def test_parallel_results_come_back_in_argument_order_not_completion_order(
        app: zart.Zart, worker: zart.Worker) -> None:
    tag = _tag()
    GATES[tag] = threading.Event()
    handle = app.start(susp_par_order, tag, id=f"susp-order-{tag}")
    assert handle.result(timeout=15) == [{"i": 0, "square": 0}, {"i": 1, "square": 1},
                                         {"i": 2, "square": 4}]
    assert FINISHED[tag][-1] == 0, "child 0 finished last"


def test_parallel_children_are_claimable_work_that_another_worker_completes(
        app: zart.Zart) -> None:
    tag = _tag()
    gate = GATES[tag] = threading.Event()

    def started_on(worker: zart.Worker) -> int:
        with _lock:
            names = list(STARTED.get(tag, []))
        return sum(1 for n in names if n.startswith(f"{worker.name}-thread-"))

    worker_a = app.worker(threads=1, lease=2.0, poll_interval=1.0).start()
    worker_b: zart.Worker | None = None
    stopper = threading.Thread(target=worker_a.stop, kwargs={"timeout": 30})
    try:
        handle = app.start(susp_par_where_wf, tag, id=f"susp-where-{tag}")
        # A's only thread ran the parent up to the barrier, then took one child and is in it.
        wait_until(lambda: handle.status() == "waiting" and started_on(worker_a) == 1,
                   what="the parent to wait on its children while A runs one of them")
        stopper.start()  # A claims nothing more; its in-flight child finishes at the gate
        worker_b = app.worker(threads=4, lease=2.0, poll_interval=1.0).start()
        b = worker_b
        wait_until(lambda: started_on(b) == 2, what="B to run the two children A did not take")
        assert handle.status() == "waiting", "the parent waits until every child is done"
        gate.set()
        result = handle.result(timeout=15)
        stopper.join(30)
        assert not stopper.is_alive()
    finally:
        gate.set()
        if stopper.ident is not None:
            stopper.join(30)
        worker_a.stop()
        if worker_b is not None:
            worker_b.stop()
    ran_on_a = [n for n in result["children"] if n.startswith(f"{worker_a.name}-thread-")]
    ran_on_b = [n for n in result["children"] if n.startswith(f"{worker_b.name}-thread-")]
    assert (len(ran_on_a), len(ran_on_b)) == (1, 2), result
    assert result["after"].startswith(f"{worker_b.name}-thread-"), \
        "the barrier woke the parent on the worker still running"


@zart.workflow("susp-stop-race")
def susp_stop_race(tag: str) -> Any:
    value = yield susp_ev_prepare(tag)
    return value


def test_a_claim_in_flight_when_a_worker_stops_is_handed_back_not_stranded(
        app: zart.Zart, sql: Sql, schema: str, dsn: str) -> None:
    tag = _tag()
    handle = app.start(susp_stop_race, tag, id=f"susp-stop-race-{tag}")
    # Every claim reads the DB clock: holding the clock table makes the dispatcher's claim of
    # this (due) execution wait inside its statement, i.e. "in flight".
    blocker = psycopg.connect(dsn)
    blocker.execute(f'LOCK TABLE "{schema}".clock IN ACCESS EXCLUSIVE MODE')
    stopping = app.worker(threads=1, lease=2.0, poll_interval=1.0).start()
    stopper = threading.Thread(target=stopping.stop, kwargs={"timeout": 5})
    try:
        wait_until(lambda: sql(f"SELECT count(*) FROM pg_locks WHERE NOT granted "
                               f"AND relation = '\"{schema}\".clock'::regclass")[0][0] >= 1,
                   what="the dispatcher's claim to wait on the clock")
        stopper.start()
        wait_until(stopping._stopping.is_set, what="the stop to begin")
        # Give a stop that does not wait for the dispatcher time to drain its queue and let
        # its threads exit while the claim is still in flight (the bug this test guards).
        threading.Event().wait(0.3)
        blocker.rollback()  # the claim statement now completes
        stopper.join(10)
        assert not stopper.is_alive()
        rows = sql(f'SELECT status, owner FROM "{schema}".executions WHERE id = %s', handle.id)
        assert rows == [("pending", None)], "a stopped worker must not keep a claim"
        assert stopping.busy == 0
    finally:
        blocker.close()
        if stopper.ident is not None:
            stopper.join(10)
        if stopping.busy:  # contain the bug: drop the stranded claim from the stopped worker
            stopping._release_unstarted()
        app.cancel(handle.id)


def test_a_parallel_child_with_retry_fails_its_first_attempt_and_succeeds_on_its_second(
        app: zart.Zart, worker: zart.Worker) -> None:
    tag = _tag()
    handle = app.start(susp_par_retry, tag, id=f"susp-retry-{tag}")
    assert handle.result(timeout=15) == [{"i": 0, "attempt": 1}, {"i": 1, "attempt": 2}]
    assert RUNS[f"par-flaky:{tag}:0"] == 1
    assert RUNS[f"par-flaky:{tag}:1"] == 2


def test_parallel_with_return_exceptions_puts_a_step_failed_in_the_list(
        app: zart.Zart, worker: zart.Worker) -> None:
    tag = _tag()
    GATES[tag] = threading.Event()
    GATES[tag].set()  # no child 3 here: child 1 fails at once
    handle = app.start(susp_par_gather, tag, id=f"susp-gather-{tag}")
    assert handle.result(timeout=15) == [
        0,
        {"failed": "StepFailed", "step": "susp-par-maybe-1", "error_type": "ValueError",
         "message": "child 1 refuses"},
        200]


def test_parallel_raises_the_first_failed_child_in_order_at_the_yield_and_it_can_be_caught(
        app: zart.Zart, worker: zart.Worker) -> None:
    tag = _tag()
    GATES[tag] = threading.Event()
    handle = app.start(susp_par_raise, tag, id=f"susp-raise-{tag}")
    assert handle.result(timeout=15) == {
        "failed": "StepFailed", "step": "susp-par-maybe-1", "error_type": "ValueError",
        "message": "child 1 refuses", "recovered": "recovered"}
    assert RUNS[f"par-recover:{tag}"] == 1


def test_a_sleep_and_a_step_after_a_parallel_barrier_work_and_children_do_not_rerun(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    handle = app.start(susp_par_then_sleep, tag, id=f"susp-then-{tag}")
    wait_until(lambda: _waiting_on_sleep(app, sql, schema, handle.id, "susp-par-nap"),
               what="the parent to pass the barrier and suspend on its sleep")
    wait_until(lambda: worker.busy == 0, what="the worker threads to be free")
    assert RUNS[f"par-after-nap:{tag}"] == 0
    app.store.shift_clock(2 * 3600)
    _wake(worker)
    assert handle.result(timeout=10) == {"values": [1, 2, 3], "total": 6}
    assert [RUNS[f"par-count:{tag}:{i}"] for i in range(3)] == [1, 1, 1]
    assert RUNS[f"par-after-nap:{tag}"] == 1


def test_unserializable_parallel_child_arguments_fail_the_execution_naming_the_child(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    handle = app.start(susp_par_bad_args, tag, id=f"susp-badargs-{tag}")
    with pytest.raises(zart.WorkflowFailed) as failed:
        handle.result(timeout=10)
    assert failed.value.cause_type == "SerializationError"
    assert "susp-par-unstorable-arg" in failed.value.cause_message
    assert "JSON-serializable" in failed.value.cause_message
    assert handle.status() == "failed"
    assert RUNS[f"par-fine:{tag}"] == 0, "no child runs when the fan-out cannot be stored"
    assert _steps(sql, schema, handle.id) == []


def test_a_parallel_child_that_is_not_a_module_level_function_fails_the_execution_naming_it(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    handle = app.start(susp_par_nested_child, tag, id=f"susp-nested-{tag}")
    with pytest.raises(zart.WorkflowFailed) as failed:
        handle.result(timeout=10)
    assert failed.value.cause_type == "SerializationError"
    assert "local_child" in failed.value.cause_message
    assert "module-level" in failed.value.cause_message
    assert RUNS[f"par-fine:{tag}"] == 0
    assert _steps(sql, schema, handle.id) == []


def test_the_barrier_wakes_the_parent_exactly_once_with_twenty_children_on_four_threads(
        app: zart.Zart, worker: zart.Worker) -> None:
    tag = _tag()
    handle = app.start(susp_par_many_wf, tag, id=f"susp-many-{tag}")
    assert handle.result(timeout=20) == {"values": list(range(20)), "total": sum(range(20))}
    assert [RUNS[f"par-many:{tag}:{i}"] for i in range(20)] == [1] * 20
    assert RUNS[f"par-many-after:{tag}"] == 1
    assert RUNS[f"par-many-body:{tag}"] == 2, "one run up to the barrier, one wake-up after it"


@zart.step("susp-count-child-{i}")
def susp_count_child(i: int) -> int:
    return i * 10


@zart.workflow("susp-count-wf")
def susp_count_wf(data: Any) -> Any:
    return (yield zart.parallel(*[susp_count_child(i) for i in range(3)]))


def test_the_barrier_counts_open_children_down_and_only_the_last_completion_wakes_the_parent(
        app: zart.Zart, sql: Sql, schema: str) -> None:
    """No worker runs here: the test claims and completes the children itself, out of order,
    and reads the parent's row after each completion."""
    handle = app.start(susp_count_wf, None)
    run_due(app, "susp-count-wf")

    def parent() -> tuple[Any, ...]:
        return sql(f'SELECT status, wait_kind, open_children FROM "{schema}".executions '
                   f"WHERE id = %s", handle.id)[0]

    assert parent() == ("waiting", "children", 3)
    children = sorted(app.store.claim_children(known_refs(), 10, 30), key=lambda c: -c.seq)
    assert [c.seq for c in children] == [2, 1, 0]
    with app.store.connection() as conn:
        for n, child in enumerate(children):
            assert app.store.complete_child(child, True, str(child.seq * 10), None, conn)
            assert parent() == (("waiting", "children", 2 - n) if n < 2 else
                                ("pending", None, 0))
        # a child completed twice (a zombie's late write) is refused and counts nothing
        assert not app.store.complete_child(children[0], True, "99", None, conn)
    assert parent() == ("pending", None, 0)
    run_due(app, "susp-count-wf")
    assert handle.result(timeout=5) == [0, 10, 20]
