"""Repairing executions (issue 9): retry, restart, rerun, resume and cancel, each one
transaction, accepted from the states where it makes sense and refused with the reason from
every other, recorded in the audit trail; earlier runs are never destroyed. Evidence: the
``RUNS`` ledger of real step runs."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

import zart

from .conftest import run_due, wait_until

RUNS: Counter[str] = Counter()
BROKEN: set[str] = set()
GATE = threading.Event()


def ran(step: str) -> None:
    RUNS[f"{zart.context().execution_id}:{step}"] += 1


def runs(execution_id: str, step: str) -> int:
    return RUNS[f"{execution_id}:{step}"]


@zart.step("rep-reserve")
def reserve(item: str) -> str:
    ran("reserve")
    return f"reserved {item}"


@zart.step("rep-charge", retry=zart.fixed(1, 0))
def charge(amount: int) -> str:
    ran("charge")
    if zart.context().execution_id in BROKEN:  # the bug a deploy will fix
        raise RuntimeError("payment provider rejected the request")
    return f"charged {amount}"


@zart.step("rep-ship")
def ship() -> str:
    ran("ship")
    return "shipped"


@zart.workflow("rep-order")
def order(data: Any) -> Any:
    reserved = yield reserve(data["item"])
    charged = yield charge(data["amount"])
    yield zart.sleep("rep-cool-off", data.get("nap", 0))
    shipped = yield ship()
    return [reserved, charged, shipped]


def finish(app: zart.Zart, handle: zart.Handle) -> Any:
    """Drive the execution by hand until it finishes; its result, or the failure."""
    for _ in range(10):
        if handle.status() in ("completed", "failed", "cancelled"):
            break
        run_due(app, "rep-order")
    try:
        return handle.result(timeout=1)
    except zart.WorkflowFailed as failure:
        return failure


def failed_order(app: zart.Zart) -> zart.Handle:
    handle = app.start(order, {"item": "book", "amount": 12})
    BROKEN.add(handle.id)
    assert isinstance(finish(app, handle), zart.WorkflowFailed)
    return handle


# -- retry --------------------------------------------------------------------------------------

def test_retry_carries_a_failed_execution_on_from_where_it_failed(app: zart.Zart) -> None:
    handle = failed_order(app)
    assert (runs(handle.id, "reserve"), runs(handle.id, "charge")) == (1, 2)
    BROKEN.discard(handle.id)  # the fix is deployed
    details = app.retry(handle.id, by="ops@example")
    assert details["forgotten"] == ["rep-charge"]
    assert handle.status() == "pending"
    assert finish(app, handle) == ["reserved book", "charged 12", "shipped"]
    assert runs(handle.id, "reserve") == 1  # completed steps replay
    assert runs(handle.id, "charge") == 3  # a fresh set of attempts: the third run succeeded
    detail = handle.describe()
    [charge_step] = [c for c in detail.history if c.name == "rep-charge"]
    assert [a.ok for a in charge_step.attempts] == [False, False, True]
    assert [(a.action, a.by) for a in detail.actions] == [("retry", "ops@example")]


@pytest.mark.parametrize("state", ["pending", "waiting", "completed", "cancelled"])
def test_retry_is_refused_unless_the_execution_failed(app: zart.Zart, state: str) -> None:
    handle = app.start(order, {"item": "pen", "amount": 1, "nap": 3600})
    if state in ("waiting", "completed"):
        run_due(app, "rep-order")
    if state == "completed":
        app.store.shift_clock(3601)
        run_due(app, "rep-order")
    if state == "cancelled":
        app.cancel(handle.id)
    assert handle.status() == state
    with pytest.raises(zart.ActionRefused, match=f"it is {state}") as refused:
        app.retry(handle.id)
    assert refused.value.status == state and refused.value.action == "retry"
    assert handle.describe().actions == [] or state == "cancelled"
    app.cancel(handle.id)


def test_two_retries_at_once_repair_it_once(app: zart.Zart) -> None:
    handle = failed_order(app)
    BROKEN.discard(handle.id)
    outcomes: list[Any] = []
    barrier = threading.Barrier(2)

    def retry() -> None:
        barrier.wait()
        try:
            outcomes.append(app.retry(handle.id))
        except zart.ActionRefused as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=retry) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(type(o).__name__ for o in outcomes) == ["ActionRefused", "dict"]
    assert finish(app, handle) == ["reserved book", "charged 12", "shipped"]


def test_a_retry_while_a_worker_runs_executes_it_once(app: zart.Zart) -> None:
    handle = failed_order(app)
    BROKEN.discard(handle.id)
    with app.worker(threads=2, lease=5.0, poll_interval=0.2):
        app.retry(handle.id)
        assert handle.result(timeout=20) == ["reserved book", "charged 12", "shipped"]
    assert (runs(handle.id, "reserve"), runs(handle.id, "charge"),
            runs(handle.id, "ship")) == (1, 3, 1)


# -- restart and rerun --------------------------------------------------------------------------

def completed_order(app: zart.Zart, amount: int = 5) -> zart.Handle:
    handle = app.start(order, {"item": "lamp", "amount": amount})
    assert finish(app, handle) == ["reserved lamp", f"charged {amount}", "shipped"]
    return handle


def test_restart_runs_a_new_run_from_the_beginning_and_keeps_the_old_one(
        app: zart.Zart) -> None:
    handle = completed_order(app)
    app.restart(handle.id, data={"item": "desk", "amount": 40}, by="support")
    assert finish(app, handle) == ["reserved desk", "charged 40", "shipped"]
    assert (runs(handle.id, "reserve"), runs(handle.id, "ship")) == (2, 2)
    detail = handle.describe()
    assert [(r.run, r.began_by, r.status) for r in detail.runs] == [
        (1, "start", "completed"), (2, "restart", "completed")]
    assert detail.runs[0].result == ["reserved lamp", "charged 5", "shipped"]
    assert [c.name for c in detail.runs[0].history] == [
        "rep-reserve", "rep-charge", "rep-cool-off", "rep-ship"]
    assert detail.input == {"item": "desk", "amount": 40}


def test_restart_without_data_keeps_the_input(app: zart.Zart) -> None:
    handle = completed_order(app, amount=7)
    app.restart(handle.id)
    assert finish(app, handle) == ["reserved lamp", "charged 7", "shipped"]


def test_rerun_keeps_the_history_before_the_step_and_runs_it_and_what_follows(
        app: zart.Zart) -> None:
    handle = completed_order(app)
    details = app.rerun(handle.id, from_step="rep-charge", by="ops")
    assert details["from_position"] == 1
    assert finish(app, handle) == ["reserved lamp", "charged 5", "shipped"]
    assert (runs(handle.id, "reserve"), runs(handle.id, "charge"),
            runs(handle.id, "ship")) == (1, 2, 2)
    runs_seen = handle.describe().runs
    assert [(r.run, r.began_by, r.rerun_from) for r in runs_seen] == [
        (1, "start", None), (2, "rerun", "rep-charge")]


def test_rerun_from_a_command_the_history_lacks_is_refused_naming_the_ones_it_has(
        app: zart.Zart) -> None:
    handle = completed_order(app)
    with pytest.raises(zart.ActionRefused, match=r"no command 'rep-refund'.*rep-reserve"):
        app.rerun(handle.id, from_step="rep-refund")
    assert handle.describe().run == 1


@pytest.mark.parametrize("action", ["restart", "rerun"])
def test_restart_and_rerun_of_a_running_execution_are_refused(app: zart.Zart,
                                                              action: str) -> None:
    handle = app.start(order, {"item": "cup", "amount": 2})
    [claim] = app.store.claim_executions(["rep-order"], 1, 30)
    assert claim.execution_id == handle.id and handle.status() == "running"
    with pytest.raises(zart.ActionRefused, match="it is running"):
        if action == "restart":
            app.restart(handle.id)
        else:
            app.rerun(handle.id, from_step="rep-reserve")
    app.cancel(handle.id)


# -- cancel and resume --------------------------------------------------------------------------

def test_resume_carries_a_cancelled_execution_on_where_it_stopped(app: zart.Zart) -> None:
    handle = app.start(order, {"item": "map", "amount": 3, "nap": 3600})
    run_due(app, "rep-order")  # reserved, charged, now sleeping an hour
    assert app.cancel(handle.id, by="me") is True
    assert app.cancel(handle.id) is False  # already finished: nothing more recorded
    app.resume(handle.id, by="me")
    run_due(app, "rep-order")
    assert handle.status() == "waiting"  # back on its sleep, which had not passed
    app.store.shift_clock(3601)
    assert finish(app, handle) == ["reserved map", "charged 3", "shipped"]
    assert (runs(handle.id, "reserve"), runs(handle.id, "charge")) == (1, 1)
    assert [a.action for a in handle.describe().actions] == ["cancel", "resume"]


@pytest.mark.parametrize("state", ["pending", "completed"])
def test_resume_is_refused_unless_the_execution_was_cancelled(app: zart.Zart,
                                                             state: str) -> None:
    handle = app.start(order, {"item": "ink", "amount": 1})
    if state == "completed":
        finish(app, handle)
    with pytest.raises(zart.ActionRefused, match=f"cannot resume .* it is {state}"):
        app.resume(handle.id)
    app.cancel(handle.id)


@pytest.mark.parametrize("action", ["retry", "restart", "resume", "cancel"])
def test_an_action_on_an_unknown_execution_says_so(app: zart.Zart, action: str) -> None:
    with pytest.raises(zart.ExecutionNotFound, match="rep-nobody"):
        getattr(app, action)("rep-nobody")


def test_by_must_be_a_short_text(app: zart.Zart) -> None:
    handle = app.start(order, {"item": "x", "amount": 1})
    with pytest.raises(zart.ConfigurationError, match="by must be"):
        app.cancel(handle.id, by="x" * 500)
    assert handle.status() == "pending"
    app.cancel(handle.id)


def test_a_cancel_while_a_worker_runs_the_step_writes_nothing_after(app: zart.Zart) -> None:
    GATE.clear()
    handle = app.start(gated_order, None)
    with app.worker(threads=1, lease=5.0, poll_interval=0.2) as worker:
        wait_until(lambda: runs(handle.id, "gate") == 1, what="the step")
        app.cancel(handle.id)
        GATE.set()
        wait_until(lambda: worker.busy == 0, what="the thread to let go")
    detail = handle.describe()
    assert detail.status == "cancelled" and detail.history == []  # its outcome was refused


@zart.step("rep-gate")
def gate() -> str:
    ran("gate")
    GATE.wait(30)
    return "through"


@zart.workflow("rep-gated")
def gated_order(data: Any) -> Any:
    return (yield gate())
