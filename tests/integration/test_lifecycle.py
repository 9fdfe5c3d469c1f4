"""Starting, observing, cancelling and waiting for executions through the client API."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

import zart

from .conftest import wait_until

RAN: dict[str, int] = {}
GATE = threading.Event()
INSIDE_BLOCK = threading.Event()
CLEANED_UP: list[str] = []


@zart.step("life-count-{key}")
def count(key: str) -> int:
    RAN[key] = RAN.get(key, 0) + 1
    return RAN[key]


@zart.step("life-block")
def block() -> str:
    INSIDE_BLOCK.set()
    GATE.wait(30)
    return "unblocked"


@zart.workflow("life-one-step")
def one_step(data: Any) -> Any:
    value = yield count(data["key"])
    return {"ran": value, "echo": data}


@zart.workflow("life-blocking")
def blocking(data: Any) -> Any:
    try:
        first = yield block()
        yield count(data["after"])
        return first
    finally:
        CLEANED_UP.append(zart.context().execution_id)


@zart.workflow("life-other")
def other(data: Any) -> Any:
    yield count("other")
    return "other"


def count_calls(target: Any, method: str) -> list[int]:
    """Wrap ``target.method`` to count its calls; the count is the list's only item."""
    calls = [0]
    original = getattr(target, method)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    setattr(target, method, counting)
    return calls


def test_a_one_step_workflow_completes_and_returns_its_value(app: zart.Zart,
                                                             worker: zart.Worker) -> None:
    handle = app.start(one_step, {"key": "basic"})
    assert handle.result(timeout=15) == {"ran": 1, "echo": {"key": "basic"}}
    assert handle.status() == "completed"


def test_start_is_idempotent_by_id_and_never_runs_twice(app: zart.Zart,
                                                        worker: zart.Worker) -> None:
    first = app.start(one_step, {"key": "idem", "n": 1.0}, id="life-idem-1")
    assert first.result(timeout=15)["ran"] == 1
    again = app.start("life-one-step", {"n": 1, "key": "idem"}, id="life-idem-1")
    assert again.id == first.id
    assert again.result(timeout=5) == {"ran": 1, "echo": {"key": "idem", "n": 1.0}}
    assert RAN["idem"] == 1


def test_starting_an_existing_id_with_another_input_is_a_conflict_naming_the_id(
        app: zart.Zart, sql: Any, schema: str) -> None:
    app.start(one_step, {"key": "first input"}, id="life-conflict-input")
    with pytest.raises(zart.ExecutionConflict, match=r"'life-conflict-input'.*different input"):
        app.start(one_step, {"key": "second input"}, id="life-conflict-input")
    assert sql(f'SELECT input::text FROM "{schema}".executions WHERE id = %s',
               "life-conflict-input") == [('{"key":"first input"}',)]
    app.cancel("life-conflict-input")


def test_start_with_an_id_used_by_another_workflow_is_a_conflict(app: zart.Zart) -> None:
    app.start(one_step, {"key": "conflict"}, id="life-conflict")
    with pytest.raises(zart.ExecutionConflict, match="life-one-step"):
        app.start(other, None, id="life-conflict")


def test_start_inside_a_rolled_back_transaction_leaves_no_execution(app: zart.Zart,
                                                                    dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        app.start(one_step, {"key": "rollback"}, id="life-tx-rollback", conn=conn)
        conn.rollback()
    with pytest.raises(zart.ExecutionNotFound):
        app.handle("life-tx-rollback")


def test_start_inside_a_committed_transaction_runs_after_commit(app: zart.Zart, dsn: str,
                                                                worker: zart.Worker) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TEMP TABLE orders (id text)")
        conn.execute("INSERT INTO orders VALUES ('o-1')")
        handle = app.start(one_step, {"key": "commit"}, id="life-tx-commit", conn=conn)
        # Not visible to others before the commit: the worker cannot have run it.
        with pytest.raises(zart.ExecutionNotFound):
            app.handle("life-tx-commit")
        conn.commit()
    assert handle.result(timeout=15)["ran"] == 1


def test_status_goes_pending_then_running_then_completed(app: zart.Zart) -> None:
    GATE.clear()
    handle = app.start(blocking, {"after": "status"})
    assert handle.status() == "pending"
    with app.worker(threads=2, lease=5) as w:
        wait_until(lambda: handle.status() == "running", what="running")
        wait_until(lambda: w.busy == 1, what="one busy thread")
        GATE.set()
        assert handle.result(timeout=15) == "unblocked"
    assert handle.status() == "completed"


def test_result_timeout_raises_a_zart_error(app: zart.Zart) -> None:
    handle = app.start(one_step, {"key": "never-run"})
    with pytest.raises(zart.ResultTimeout, match="pending"):
        handle.result(timeout=0.2)


def test_unknown_execution_ids_are_a_clear_error(app: zart.Zart) -> None:
    with pytest.raises(zart.ExecutionNotFound, match="nope"):
        app.handle("nope")
    with pytest.raises(zart.ExecutionNotFound):
        app.cancel("nope")


def test_cancel_mid_step_refuses_the_checkpoint_and_closes_the_body(app: zart.Zart) -> None:
    GATE.clear()
    INSIDE_BLOCK.clear()
    handle = app.start(blocking, {"after": "after-cancel"})
    with app.worker(threads=2, lease=5):
        wait_until(INSIDE_BLOCK.is_set, what="the step to be in flight")
        assert app.cancel(handle.id) is True
        GATE.set()
        wait_until(lambda: handle.id in CLEANED_UP, what="the body's finally block")
    with pytest.raises(zart.WorkflowFailed) as failure:
        handle.result(timeout=5)
    assert failure.value.status == "cancelled"
    assert "after-cancel" not in RAN  # nothing after the cancelled step ran
    assert app.cancel(handle.id) is False  # already finished


def test_a_worker_stop_lets_the_in_flight_step_finish_and_hands_the_rest_back(
        app: zart.Zart, sql: Any, schema: str) -> None:
    GATE.clear()
    INSIDE_BLOCK.clear()
    handle = app.start(blocking, {"after": "after-stop"})
    w = app.worker(threads=2, lease=5).start()
    wait_until(INSIDE_BLOCK.is_set, what="the step to be in flight")
    stopper = threading.Thread(target=w.stop, kwargs={"timeout": 15})
    stopper.start()
    GATE.set()
    stopper.join(20)
    # The in-flight step checkpointed; the next one was not started; the execution is free.
    assert sql(f'SELECT name FROM "{schema}".steps WHERE execution_id = %s', handle.id) == [
        ("life-block",)]
    assert handle.status() == "pending"
    assert "after-stop" not in RAN
    with app.worker(threads=2, lease=5):
        assert handle.result(timeout=15) == "unblocked"
    assert RAN["after-stop"] == 1


def test_a_new_execution_on_an_idle_worker_is_woken_by_notify_not_polling(
        app: zart.Zart) -> None:
    with app.worker(threads=2, poll_interval=60):
        time.sleep(0.2)  # let the worker go idle: its next poll is a minute away
        started = time.perf_counter()
        handle = app.start(one_step, {"key": "notify"})
        assert handle.result(timeout=10)["ran"] == 1
        elapsed = time.perf_counter() - started
    # Only NOTIFY can explain finishing well before the 60 s poll; the figure is informative.
    print(f"start -> result of a 1-step workflow: {elapsed * 1000:.1f} ms")
    assert elapsed < 10


def test_leases_are_renewed_at_the_heartbeat_pace_while_a_stop_waits_for_a_step(
        app: zart.Zart) -> None:
    GATE.clear()
    INSIDE_BLOCK.clear()
    handle = app.start(blocking, {"after": "after-heartbeat"})
    w = app.worker(threads=2, lease=3).start()  # heartbeat every second
    calls = count_calls(w.store, "heartbeat")
    wait_until(INSIDE_BLOCK.is_set, what="the step to be in flight")
    stopper = threading.Thread(target=w.stop, kwargs={"timeout": 15})
    stopper.start()
    wait_until(w._stopping.is_set, what="the stop to begin")
    threading.Event().wait(0.5)  # the stop now waits on the step for half a second
    GATE.set()
    stopper.join(20)
    assert calls[0] <= 2  # a busy loop made thousands of calls here
    with app.worker(threads=2):
        assert handle.result(timeout=15) == "unblocked"


FINALLY_RAN: list[str] = []


@zart.workflow("life-finally")
def with_finally(data: Any) -> Any:
    try:
        yield zart.sleep("life-finally-nap", "1h")
        return "woke"
    finally:
        FINALLY_RAN.append(zart.context().execution_id)


def test_a_finally_around_a_yield_runs_when_the_execution_suspends_as_documented(
        app: zart.Zart, worker: zart.Worker) -> None:
    handle = app.start(with_finally, None)
    wait_until(lambda: handle.status() == "waiting", what="the sleep")
    wait_until(lambda: FINALLY_RAN.count(handle.id) == 1, what="the finally at suspension")
    app.store.shift_clock(3700)
    worker._wake.set()
    assert handle.result(timeout=15) == "woke"
    assert FINALLY_RAN.count(handle.id) == 2  # once at the suspension, once on return


def test_an_idle_worker_does_not_spin_on_due_work_another_worker_holds_locked(
        app: zart.Zart, dsn: str, schema: str) -> None:
    handle = app.start(one_step, {"key": "locked-elsewhere"})
    with psycopg.connect(dsn) as holder:  # another worker, mid-claim, as far as SQL can tell
        holder.execute(f'SELECT 1 FROM "{schema}".executions WHERE id = %s FOR UPDATE',
                       (handle.id,))
        w = app.worker(threads=2, poll_interval=5)
        rounds = count_calls(w.store, "claim_executions")
        with w:
            threading.Event().wait(1.0)  # one second of an idle worker facing locked due work
            spun = rounds[0]
        holder.rollback()
    assert spun <= 15  # about 10 looks a second; a spin made well over a hundred
    with app.worker(threads=2):
        assert handle.result(timeout=15)["ran"] == 1
