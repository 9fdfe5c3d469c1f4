"""Definition errors: workflows that cannot work as written fail with a clear cause, step
results that cannot be stored are step failures, and workers and the client refuse names they
do not know."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import zart
from zart.runtime.children import known_refs

from .conftest import run_due, wait_until

Sql = Callable[..., list[tuple[Any, ...]]]

_lock = threading.Lock()
RUNS: Counter[str] = Counter()
VERSION = {"defs-changing": 1}


def _count(what: str) -> None:
    with _lock:
        RUNS[what] += 1


def _tag() -> str:
    return uuid.uuid4().hex[:12]


def _failure(handle: zart.Handle) -> zart.WorkflowFailed:
    with pytest.raises(zart.WorkflowFailed) as failed:
        handle.result(timeout=10)
    assert handle.status() == "failed"
    return failed.value


def _history(sql: Sql, schema: str, execution_id: str) -> list[tuple[Any, ...]]:
    return sql(f'SELECT kind, name, status, ok FROM "{schema}".steps WHERE execution_id = %s '
               f"ORDER BY seq", execution_id)


@zart.step("defs-count-{what}")
def defs_count(what: str, tag: str) -> str:
    _count(f"{what}:{tag}")
    return what


# -- duplicate names ------------------------------------------------------------------------


@zart.step("defs-dup-step")
def defs_dup_step(tag: str) -> str:
    _count(f"dup:{tag}")
    return "once"


@zart.workflow("defs-duplicate")
def defs_duplicate(tag: str) -> Any:
    yield defs_dup_step(tag)
    yield defs_dup_step(tag)
    yield defs_count("after-dup", tag)
    return "unreachable"


def test_a_duplicate_step_name_fails_the_execution_with_duplicate_step_name(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    handle = app.start(defs_duplicate, tag, id=f"defs-dup-{tag}")
    failure = _failure(handle)
    assert failure.cause_type == "DuplicateStepName"
    assert "'defs-dup-step'" in failure.cause_message
    assert RUNS[f"dup:{tag}"] == 1, "the duplicate was refused, not served from the cache"
    assert RUNS[f"after-dup:{tag}"] == 0, "nothing after the duplicate ran"
    assert _history(sql, schema, handle.id) == [("step", "defs-dup-step", "done", True)]


# -- non-determinism ------------------------------------------------------------------------


@zart.step("defs-nd-a")
def defs_nd_a(tag: str) -> str:
    _count(f"nd-a:{tag}")
    return "a"


@zart.step("defs-nd-b")
def defs_nd_b(tag: str) -> str:
    _count(f"nd-b:{tag}")
    return "b"


@zart.workflow("defs-changing")
def defs_changing(tag: str) -> Any:
    if VERSION["defs-changing"] == 1:
        yield defs_nd_a(tag)
    else:  # "version 2" of the code: a new step first
        yield defs_nd_b(tag)
        yield defs_nd_a(tag)
    payload = yield zart.wait_for_event("defs-go")
    return payload


def test_a_workflow_changed_under_a_waiting_execution_fails_with_non_determinism_naming_both(
        app: zart.Zart, worker: zart.Worker) -> None:
    tag = _tag()
    handle = app.start(defs_changing, tag, id=f"defs-nd-{tag}")
    wait_until(lambda: handle.status() == "waiting", what="v1 to wait for its event")
    assert RUNS[f"nd-a:{tag}"] == 1
    VERSION["defs-changing"] = 2
    try:
        assert app.send_event(handle.id, "defs-go", "go") is True
        failure = _failure(handle)
    finally:
        VERSION["defs-changing"] = 1
    assert failure.cause_type == "NonDeterminismError"
    assert "'defs-nd-a'" in failure.cause_message
    assert "'defs-nd-b'" in failure.cause_message
    assert RUNS[f"nd-b:{tag}"] == 0, "the diverging step never ran"
    assert RUNS[f"nd-a:{tag}"] == 1


# -- invalid commands -----------------------------------------------------------------------


@zart.workflow("defs-yields-int")
def defs_yields_int(tag: str) -> Any:
    yield defs_count("before-int", tag)
    yield 42
    yield defs_count("after-int", tag)
    return "unreachable"


def test_yielding_something_that_is_not_a_command_fails_with_invalid_command_naming_its_type(
        app: zart.Zart, worker: zart.Worker) -> None:
    tag = _tag()
    handle = app.start(defs_yields_int, tag, id=f"defs-int-{tag}")
    failure = _failure(handle)
    assert failure.cause_type == "InvalidCommand"
    assert "int" in failure.cause_message
    assert "42" in failure.cause_message
    assert RUNS[f"before-int:{tag}"] == 1
    assert RUNS[f"after-int:{tag}"] == 0


# -- results that cannot be stored ----------------------------------------------------------


class _Opaque:
    pass


@zart.step("defs-returns-object")
def defs_returns_object() -> Any:
    return _Opaque()


@zart.step("defs-returns-nan")
def defs_returns_nan() -> Any:
    return {"ratio": float("nan")}


@zart.workflow("defs-unstorable-results")
def defs_unstorable_results(tag: str) -> Any:
    caught: dict[str, Any] = {}
    for command in (defs_returns_object(), defs_returns_nan()):
        try:
            value = yield command
            caught[command.name] = {"value": value}
        except zart.StepFailed as exc:
            caught[command.name] = {"class": type(exc).__name__, "error_type": exc.error_type,
                                    "message": exc.message, "text": str(exc),
                                    "attempts": exc.attempts}
    after = yield defs_count("after-unstorable", tag)
    return {"caught": caught, "after": after}


def test_an_unstorable_or_nan_step_result_is_a_step_failed_the_workflow_can_catch(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    handle = app.start(defs_unstorable_results, tag, id=f"defs-unstorable-{tag}")
    result = handle.result(timeout=10)
    assert result["after"] == "after-unstorable"
    opaque = result["caught"]["defs-returns-object"]
    nan = result["caught"]["defs-returns-nan"]
    for caught in (opaque, nan):
        assert caught["class"] == "StepFailed"
        assert caught["error_type"] == "SerializationError"
        assert "SerializationError" in caught["text"]
        assert caught["attempts"] == 1
    assert "JSON-serializable" in opaque["message"]
    assert "_Opaque" in opaque["message"] or "object" in opaque["message"]
    assert "NaN" in nan["message"]
    assert _history(sql, schema, handle.id) == [
        ("step", "defs-returns-object", "done", False),
        ("step", "defs-returns-nan", "done", False),
        ("step", "defs-count-after-unstorable", "done", True)]


# -- what a worker claims -------------------------------------------------------------------


@zart.workflow("defs-registered-control")
def defs_registered_control(data: Any) -> Any:
    value = yield defs_count("control", "raw")
    return {"data": data, "value": value}


@zart.workflow("defs-only-x")
def defs_only_x(tag: str) -> Any:
    value = yield defs_count("only-x", tag)
    return value


@zart.workflow("defs-only-y")
def defs_only_y(tag: str) -> Any:
    value = yield defs_count("only-y", tag)
    return value


def test_a_worker_never_claims_an_execution_of_an_unregistered_workflow(
        app: zart.Zart, worker: zart.Worker, sql: Sql, schema: str) -> None:
    tag = _tag()
    ghost, control = f"defs-ghost-{tag}", f"defs-control-{tag}"
    # Both rows inserted the same raw way, due now: only the registered one may be claimed.
    insert = (f'INSERT INTO "{schema}".executions (id, workflow, wake_at) '
              f'VALUES (%s, %s, "{schema}".clock_now())')
    sql(insert, ghost, "defs-not-registered-anywhere")
    sql(insert, control, defs_registered_control.name)
    assert app.handle(control).result(timeout=10) == {"data": None, "value": "control"}
    rows = sql(f'SELECT status, owner, attempt, lost_leases FROM "{schema}".executions '
               f"WHERE id = %s", ghost)
    assert rows == [("pending", None, 1, 0)]


def test_a_worker_limited_to_named_workflows_does_not_run_the_others(
        app: zart.Zart) -> None:
    tag = _tag()
    with app.worker(threads=2, lease=2.0, poll_interval=1.0,
                    workflows=[defs_only_x.name]) as only_x:
        y = app.start(defs_only_y, tag, id=f"defs-y-{tag}")
        x = app.start(defs_only_x, tag, id=f"defs-x-{tag}")
        assert x.result(timeout=10) == "only-x"
        wait_until(lambda: only_x.busy == 0, what="the limited worker to be idle")
        assert y.status() == "pending"
        assert RUNS[f"only-y:{tag}"] == 0
    with app.worker(threads=2, lease=2.0, poll_interval=1.0):
        assert y.result(timeout=10) == "only-y", "the other workflow was runnable all along"


def test_a_worker_asked_for_an_unregistered_workflow_is_a_configuration_error(
        app: zart.Zart) -> None:
    with pytest.raises(zart.ConfigurationError, match="defs-never-registered"):
        app.worker(threads=1, workflows=["defs-never-registered"])


# -- what start refuses ---------------------------------------------------------------------


def _rows(sql: Sql, schema: str) -> int:
    ((n,),) = sql(f'SELECT count(*) FROM "{schema}".executions')
    return int(n)


def test_start_with_an_unknown_workflow_name_raises_workflow_not_found_and_writes_nothing(
        app: zart.Zart, sql: Sql, schema: str) -> None:
    before = _rows(sql, schema)
    execution_id = f"defs-unknown-{_tag()}"
    with pytest.raises(zart.WorkflowNotFound, match="defs-no-such-workflow"):
        app.start("defs-no-such-workflow", {"x": 1}, id=execution_id)
    assert _rows(sql, schema) == before
    with pytest.raises(zart.ExecutionNotFound):
        app.handle(execution_id)


def test_start_with_unserializable_input_raises_serialization_error_and_writes_nothing(
        app: zart.Zart, sql: Sql, schema: str) -> None:
    before = _rows(sql, schema)
    execution_id = f"defs-badinput-{_tag()}"
    with pytest.raises(zart.SerializationError, match="defs-only-x"):
        app.start(defs_only_x, {"handle": object()}, id=execution_id)
    with pytest.raises(zart.SerializationError, match="NaN"):
        app.start(defs_only_x, float("nan"), id=execution_id)
    assert _rows(sql, schema) == before
    with pytest.raises(zart.ExecutionNotFound):
        app.handle(execution_id)


# -- children are found by their registered step name (issue 8, item 3) -------------------------

def test_children_started_by_a_script_run_on_a_worker_that_imports_it_as_a_module(
        app: zart.Zart, dsn: str, schema: str, sql: Any) -> None:
    """The script's functions live in ``__main__``; the other process knows them as
    ``tests.integration.script_app``: children stored by registered step name run on both."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    count = 6
    script = subprocess.Popen([sys.executable, str(root / "tests/integration/script_app.py"),
                               "START", dsn, schema, str(count)], cwd=root, env=env)
    worker = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tests.integration import script_app as m; "
         "m.main(sys.argv)", "WORK", dsn, schema, str(count)], cwd=root, env=env)
    try:
        assert script.wait(90) == 0
        assert worker.wait(90) == 0
    finally:
        for process in (script, worker):
            if process.poll() is None:
                process.kill()
    results = [app.handle(f"script-{n}").result(timeout=5) for n in range(count)]
    assert all([p["i"] for p in parts] == list(range(6)) for parts in results), results
    pids = {p["pid"] for parts in results for p in parts}
    assert len(pids) == 2  # both processes ran children
    assert sql(f'SELECT count(*) FROM "{schema}".steps WHERE child AND NOT ok') == [(0,)]


@zart.step("defs-known-child")
def known_child() -> int:
    return 1


@zart.workflow("defs-unknown-children")
def unknown_children(data: Any) -> Any:
    return (yield zart.parallel(known_child()))


def test_a_worker_that_does_not_know_a_childs_step_never_claims_it(
        app: zart.Zart, sql: Any, schema: str) -> None:
    handle = app.start(unknown_children, None)
    run_due(app, "defs-unknown-children")
    assert app.store.claim_children(["some-other-step"], 10, 30) == []
    assert sql(f'SELECT status FROM "{schema}".steps WHERE execution_id = %s',
               handle.id) == [("pending",)]
    [child] = app.store.claim_children(known_refs(), 10, 30)
    assert child.fn == "defs-known-child"
    app.cancel(handle.id)


def test_a_child_stored_by_the_first_schema_version_under_its_import_path_still_runs(
        app: zart.Zart, sql: Any, schema: str) -> None:
    handle = app.start(unknown_children, None)
    run_due(app, "defs-unknown-children")
    sql(f'UPDATE "{schema}".steps SET fn = %s WHERE execution_id = %s',
        f"{known_child.fn.__module__}:{known_child.fn.__qualname__}", handle.id)
    with app.worker(threads=1, lease=5.0, poll_interval=0.2):
        assert handle.result(timeout=20) == [1]
