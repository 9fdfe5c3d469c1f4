"""Child workflows (issue 11): ``yield zart.child(workflow, data)`` starts another workflow as
a durable command and returns its result (or raises ChildFailed at the yield); usable inside
``zart.parallel`` next to steps; the default child id is deterministic, so a replay never
starts a second child; cancelling a parent cancels its open children; each side's description
shows the other."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import zart

from .conftest import run_due, wait_until

RUNS: Counter[str] = Counter()


@zart.step("cw-invoice-line-{n}")
def invoice_line(n: int) -> int:
    RUNS[f"{zart.context().execution_id}:line"] += 1
    return n * 10


@zart.workflow("cw-invoice")
def invoice(data: Any) -> Any:
    total = 0
    for n in range(data["lines"]):
        total += yield invoice_line(n)
    if data.get("fail"):
        raise ValueError(f"invoice {data['lines']} rejected")
    if data.get("wait"):
        yield zart.wait_for_event("cw-approve")
    return {"total": total}


@zart.step("cw-notify")
def notify(total: int) -> str:
    RUNS[f"{zart.context().execution_id}:notify"] += 1
    return f"notified {total}"


@zart.workflow("cw-order")
def order(data: Any) -> Any:
    first = yield zart.child(invoice, {"lines": 2})
    try:
        second = yield zart.child(invoice, {"lines": 3, "fail": data.get("fail", False)},
                                  name="cw-invoice-second")
    except zart.ChildFailed as exc:
        second = {"failed": exc.error_type, "child": exc.child_id, "status": exc.status}
    note = yield notify(first["total"])
    return [first, second, note]


@zart.workflow("cw-fan")
def fan(data: Any) -> Any:
    return (yield zart.parallel(
        invoice_line(7),
        zart.child(invoice, {"lines": 1}, name="cw-fan-a"),
        zart.child(invoice, {"lines": 4}, name="cw-fan-b")))


@zart.workflow("cw-waiting-parent")
def waiting_parent(data: Any) -> Any:
    return (yield zart.child(invoice, {"lines": 1, "wait": True}, id=data))


def test_a_child_workflows_result_comes_back_at_the_yield(app: zart.Zart) -> None:
    handle = app.start(order, {})
    with app.worker(threads=2, lease=5.0, poll_interval=0.2):
        result = handle.result(timeout=30)
    assert result == [{"total": 10}, {"total": 30}, "notified 10"]
    detail = handle.describe()
    assert [c.id for c in detail.children] == [f"{handle.id}/cw-invoice",
                                               f"{handle.id}/cw-invoice-second"]
    child = app.handle(f"{handle.id}/cw-invoice").describe()
    assert child.parent_id == handle.id and child.status == "completed"
    assert [c.kind for c in detail.history[:2]] == ["child", "child"]


def test_a_failed_child_raises_child_failed_in_the_parent(app: zart.Zart) -> None:
    handle = app.start(order, {"fail": True})
    with app.worker(threads=2, lease=5.0, poll_interval=0.2):
        result = handle.result(timeout=30)
    assert result[1] == {"failed": "ValueError", "child": f"{handle.id}/cw-invoice-second",
                         "status": "failed"}
    assert result[2] == "notified 10"


def test_a_replay_never_starts_a_second_child(app: zart.Zart, sql: Any, schema: str) -> None:
    handle = app.start(order, {})
    run_due(app, "cw-order")  # starts the first child and waits for it
    assert handle.waiting().state == "child"
    [(count,)] = sql(f'SELECT count(*) FROM "{schema}".executions WHERE parent_id = %s',
                     handle.id)
    assert count == 1
    with app.worker(threads=2, lease=5.0, poll_interval=0.2):
        handle.result(timeout=30)
    [(count,)] = sql(f'SELECT count(*) FROM "{schema}".executions WHERE parent_id = %s',
                     handle.id)
    assert count == 2
    first = f"{handle.id}/cw-invoice"
    assert RUNS[f"{first}:line"] == 2  # each line of the first invoice ran once


def test_children_run_inside_parallel_next_to_steps(app: zart.Zart) -> None:
    handle = app.start(fan, None)
    with app.worker(threads=2, lease=5.0, poll_interval=0.2):
        assert handle.result(timeout=30) == [70, {"total": 0}, {"total": 60}]


def test_cancelling_a_parent_cancels_its_open_children(app: zart.Zart) -> None:
    child_id = "cw-explicit-child"
    handle = app.start(waiting_parent, child_id)
    with app.worker(threads=2, lease=5.0, poll_interval=0.2):
        wait_until(lambda: _status(app, child_id) == "waiting", what="the child's wait")
        assert handle.waiting().child == child_id
        assert app.cancel(handle.id) is True
    assert _status(app, child_id) == "cancelled"
    assert handle.status() == "cancelled"
    assert handle.describe().history[0].status == "pending"  # nothing written after the cancel


def test_a_child_id_taken_by_another_execution_fails_the_parent(app: zart.Zart) -> None:
    app.start(invoice, {"lines": 0}, id="cw-taken")
    handle = app.start(waiting_parent, "cw-taken")
    run_due(app, "cw-waiting-parent")
    with pytest.raises(zart.WorkflowFailed, match="already another execution's"):
        handle.result(timeout=5)
    app.cancel("cw-taken")


def test_an_unregistered_child_workflow_is_refused_before_anything_starts() -> None:
    with pytest.raises(TypeError, match="child"):
        zart.child(42)


def _status(app: zart.Zart, execution_id: str) -> str | None:
    try:
        return app.handle(execution_id).status()
    except zart.ExecutionNotFound:
        return None
