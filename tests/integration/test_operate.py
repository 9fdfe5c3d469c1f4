"""Seeing every execution (issue 9): list with filters and keyset pages, describe with its
history and attempts, why it is waiting (every case, in words and data), stats and workers."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import zart
from zart.views import ExecutionDetail

from .conftest import run_due, wait_until

GATE = threading.Event()


@zart.step("op-fetch-{i}")
def fetch(i: int) -> dict[str, Any]:
    return {"page": i, "rows": list(range(3))}


@zart.step("op-flaky", retry=zart.fixed(2, "1h"))
def flaky() -> str:
    raise ConnectionError(f"attempt {zart.context().attempt} refused")


@zart.step("op-gated")
def gated() -> str:
    GATE.wait(30)
    return "through"


@zart.workflow("op-list")
def listed(data: Any) -> Any:
    yield zart.sleep("op-list-nap", "1h")
    return data


@zart.workflow("op-sleeper")
def sleeper(data: Any) -> Any:
    yield fetch(1)
    yield zart.sleep("op-nap", "1h")
    return "rested"


@zart.workflow("op-waiter")
def waiter(data: Any) -> Any:
    return (yield zart.wait_for_event("op-approval", timeout="2h"))


@zart.workflow("op-retrier")
def retrier(data: Any) -> Any:
    return (yield flaky())


@zart.workflow("op-fan")
def fan(data: Any) -> Any:
    return (yield zart.parallel(*[fetch(i) for i in range(3)]))


@zart.workflow("op-held")
def held(data: Any) -> Any:
    return (yield gated())


@zart.workflow("op-orphan")
def orphan(data: Any) -> Any:
    yield zart.sleep("op-orphan-nap", 0)
    return "never run here"


# -- listing ------------------------------------------------------------------------------------

def test_list_pages_newest_first_with_a_cursor_and_filters(app: zart.Zart) -> None:
    ids = [app.start(listed, {"n": n}, id=f"op-list-{n:02d}").id for n in range(7)]
    seen: list[str] = []
    page = app.executions(workflow="op-list", limit=3)
    while True:
        seen.extend(item.id for item in page.items)
        if page.cursor is None:
            break
        page = app.executions(workflow="op-list", limit=3, cursor=page.cursor)
    assert seen == list(reversed(ids))  # newest first, every one exactly once
    assert [e.id for e in app.executions(id_prefix="op-list-0", limit=50).items] == \
        list(reversed(ids))
    assert app.executions(workflow="op-list", status="completed").items == []
    assert {e.status for e in app.executions(workflow="op-list", status=["pending"]).items} == \
        {"pending"}
    later = datetime.now(UTC) + timedelta(days=1)
    assert app.executions(workflow="op-list", created_after=later).items == []
    assert len(app.executions(workflow="op-list", created_before=later).items) == 7
    for execution_id in ids:
        app.cancel(execution_id)


def test_an_id_prefix_with_like_wildcards_matches_only_literally(app: zart.Zart) -> None:
    app.start(listed, None, id="op_under%score")
    app.start(listed, None, id="opXunderYscore")
    assert [e.id for e in app.executions(id_prefix="op_under%").items] == ["op_under%score"]
    app.cancel("op_under%score")
    app.cancel("opXunderYscore")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"status": "sleeping"}, "unknown status"),
    ({"limit": 0}, "limit"),
    ({"limit": 5000}, "limit"),
    ({"created_after": datetime(2026, 1, 1)}, "timezone-aware"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"workflow": ""}, "workflow name"),
])
def test_bad_list_filters_are_refused_naming_the_problem(app: zart.Zart, kwargs: dict[str, Any],
                                                         message: str) -> None:
    with pytest.raises((zart.ConfigurationError, ValueError, TypeError), match=message):
        app.executions(**kwargs)


# -- describing and explaining -------------------------------------------------------------------

def describe(app: zart.Zart, execution_id: str) -> ExecutionDetail:
    return app.handle(execution_id).describe()


def test_describe_shows_input_history_times_and_preview(app: zart.Zart) -> None:
    handle = app.start(sleeper, {"who": "me"})
    run_due(app, "op-sleeper")
    detail = describe(app, handle.id)
    assert (detail.status, detail.input, detail.run) == ("waiting", {"who": "me"}, 1)
    [fetched, nap] = detail.history
    assert (fetched.kind, fetched.name, fetched.status, fetched.ok) == (
        "step", "op-fetch-1", "done", True)
    assert fetched.preview == '{"page":1,"rows":[0,1,2]}'
    assert fetched.started_at is not None and fetched.finished_at is not None
    assert [a.attempt for a in fetched.attempts] == [1]
    assert (nap.kind, nap.status, nap.wake_at is not None) == ("sleep", "pending", True)
    assert detail.waiting.state == "sleeping" and "op-nap" in detail.waiting.text
    assert detail.waiting.until == nap.wake_at
    assert detail.to_json()["runs"][0]["history"][0]["name"] == "op-fetch-1"
    app.cancel(handle.id)


def test_every_failed_attempt_is_in_the_history_with_its_traceback(app: zart.Zart) -> None:
    handle = app.start(retrier, None)
    run_due(app, "op-retrier")
    app.store.shift_clock(3601)
    run_due(app, "op-retrier")
    detail = describe(app, handle.id)
    [step] = detail.history
    assert [(a.attempt, a.ok) for a in step.attempts] == [(1, False), (2, False)]
    assert all("ConnectionError" in (a.error or {}).get("traceback", "") for a in step.attempts)
    assert detail.waiting.state == "retrying"
    assert "op-flaky" in detail.waiting.text and detail.waiting.attempt == 3
    app.cancel(handle.id)


def test_why_waiting_names_the_event_and_its_deadline(app: zart.Zart) -> None:
    handle = app.start(waiter, None)
    run_due(app, "op-waiter")
    waiting = app.handle(handle.id).waiting()
    assert (waiting.state, waiting.event) == ("event", "op-approval")
    assert waiting.deadline is not None and "deadline" in waiting.text
    app.cancel(handle.id)


def test_why_waiting_counts_the_open_children(app: zart.Zart) -> None:
    handle = app.start(fan, None)
    run_due(app, "op-fan")
    waiting = app.handle(handle.id).waiting()
    assert (waiting.state, waiting.open_children, waiting.children) == ("children", 3, 3)
    assert "3 of 3" in waiting.text
    app.cancel(handle.id)


def test_why_waiting_says_no_live_worker_runs_the_workflow(app: zart.Zart) -> None:
    handle = app.start(orphan, None)
    waiting = app.handle(handle.id).waiting()
    assert waiting.state == "no_worker" and "'op-orphan'" in waiting.text
    with app.worker(threads=1, lease=5.0, poll_interval=0.2, workflows=["op-list"]):
        wait_until(lambda: app.workers(), what="the worker's row")
        assert app.handle(handle.id).waiting().state == "no_worker"  # it runs others only
    app.cancel(handle.id)


def test_why_waiting_names_the_worker_holding_it_and_its_lease(app: zart.Zart) -> None:
    GATE.clear()
    handle = app.start(held, None)
    with app.worker(threads=1, lease=5.0, poll_interval=0.2):
        wait_until(lambda: handle.status() == "running", what="the claim")
        waiting = app.handle(handle.id).waiting()
        assert waiting.state == "held" and waiting.lease_until is not None
        assert waiting.worker is not None and waiting.worker.endswith(f":{os.getpid()}")
        GATE.set()
        handle.result(timeout=10)
    assert app.handle(handle.id).waiting().state == "finished"


# -- stats and workers -----------------------------------------------------------------------------

def test_stats_count_by_status_and_workflow_and_age_the_oldest_due(app: zart.Zart) -> None:
    app.start(orphan, None, id="op-stats-due")
    app.store.shift_clock(10)
    stats = app.stats()
    assert stats.by_workflow["op-orphan"]["pending"] >= 1
    assert stats.by_status["pending"] >= 1
    assert stats.oldest_due_seconds is not None and stats.oldest_due_seconds >= 10
    app.cancel("op-stats-due")


def test_workers_lists_live_ones_and_stopped_ones_on_request(app: zart.Zart) -> None:
    worker = app.worker(threads=2, lease=1.0, poll_interval=0.2)
    with worker:
        live = wait_until(lambda: [w for w in app.workers() if w.name == worker.name],
                          what="the worker")
        assert live[0].alive and live[0].threads == 2
    assert not [w for w in app.workers() if w.name == worker.name]
    [stopped] = [w for w in app.workers(include_stopped=True) if w.name == worker.name]
    assert stopped.stopped_at is not None and not stopped.alive
