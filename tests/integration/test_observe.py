"""Observers (zart.observe): what a worker tells them, in which thread, with the context stored
at start; an observer's error never reaches zart's work; and observing adds no statement to a
step's path."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import zart
from zart.observe import Observer, RunEvent, StepEvent, add_observer, remove_observer
from zart.runtime.executor import Executor

from .conftest import wait_until
from .test_steps import CountingConnection

FLAKY: dict[str, int] = {}
STEP_THREADS: dict[str, int] = {}


@zart.step("ob-flaky", retry=zart.fixed(2, 0))
def flaky(key: str) -> str:
    STEP_THREADS[key] = threading.get_ident()
    FLAKY[key] = FLAKY.get(key, 0) + 1
    if FLAKY[key] == 1:
        raise ConnectionError("first attempt fails")
    return "ok"


@zart.workflow("ob-flow")
def flow(data: Any) -> Any:
    value = yield flaky(data)
    yield zart.sleep("ob-nap", 0.05)
    return value


@zart.step("ob-plain-{i}")
def plain(i: int) -> int:
    return i


@zart.workflow("ob-five")
def five(data: Any) -> Any:
    total = 0
    for i in range(5):
        total += yield plain(i)
    return total


@zart.workflow("ob-broken")
def broken(data: Any) -> Any:
    yield zart.sleep("ob-short", 0)
    raise ValueError("broken body")


class Recorder(Observer):
    """Records every call: (method, details), and the thread of each attempt's events."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def _add(self, method: str, details: Any) -> None:
        with self.lock:
            self.calls.append((method, details))

    def named(self, method: str) -> list[Any]:
        with self.lock:
            return [d for m, d in self.calls if m == method]

    def context_for_start(self) -> dict[str, Any] | None:
        return {"traceparent": "00-abc-def-01"}

    def execution_started(self, execution_id: str, workflow: str, created: bool) -> None:
        self._add("execution_started", (execution_id, workflow, created))

    def run_started(self, run: RunEvent) -> None:
        self._add("run_started", (run.execution_id, run.context))

    def run_ended(self, run: RunEvent, status: str, seconds: float) -> None:
        self._add("run_ended", (run.execution_id, status, seconds))

    def execution_finished(self, execution_id: str, workflow: str, status: str,
                           seconds: float | None) -> None:
        self._add("execution_finished", (execution_id, status, seconds))

    def attempt_started(self, step: StepEvent) -> None:
        self._add("attempt_started", (step.step, step.attempt, threading.get_ident()))

    def attempt_finished(self, step: StepEvent, ok: bool, seconds: float,
                         error: dict[str, Any] | None) -> None:
        self._add("attempt_finished", (step.step, ok, (error or {}).get("type")))

    def step_outcome(self, step: StepEvent, outcome: str) -> None:
        self._add("step_outcome", (step.step, step.attempt, outcome))

    def worker_threads(self, worker: str, busy: int, total: int) -> None:
        self._add("worker_threads", (busy, total))


class Exploding(Observer):
    """An observer with a bug in every hook."""

    def run_started(self, run: RunEvent) -> None:
        raise RuntimeError("observer bug")

    def attempt_started(self, step: StepEvent) -> None:
        raise RuntimeError("observer bug")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    observer = Recorder()
    add_observer(observer)
    yield observer
    remove_observer(observer)


def test_a_worker_tells_observers_each_run_attempt_and_outcome_in_the_steps_thread(
        app: zart.Zart, recorder: Recorder) -> None:
    with app.worker(threads=2, lease=5, poll_interval=0.2):
        handle = app.start(flow, "a")
        assert handle.result(timeout=20) == "ok"
    assert recorder.named("execution_started") == [(handle.id, "ob-flow", True)]
    runs = [(i, status) for i, status, _ in recorder.named("run_ended") if i == handle.id]
    # the failed attempt's retry suspends it, so does the sleep; the third run completes
    assert runs == [(handle.id, "suspended"), (handle.id, "suspended"),
                    (handle.id, "completed")]
    # what the observer stored at start comes back to every run, on any worker thread
    assert [ctx for i, ctx in recorder.named("run_started") if i == handle.id] == [
        {"traceparent": "00-abc-def-01"}] * 3
    assert [(s, a) for s, a, _ in recorder.named("attempt_started")] == [("ob-flaky", 1),
                                                                        ("ob-flaky", 2)]
    assert recorder.named("attempt_started")[-1][2] == STEP_THREADS["a"]
    assert recorder.named("attempt_finished") == [("ob-flaky", False, "ConnectionError"),
                                                  ("ob-flaky", True, None)]
    assert recorder.named("step_outcome") == [("ob-flaky", 1, "retry"), ("ob-flaky", 2, "ok")]
    [(finished_id, status, seconds)] = recorder.named("execution_finished")
    assert (finished_id, status) == (handle.id, "completed") and seconds > 0.05
    assert all(0 <= busy <= total == 2 for busy, total in recorder.named("worker_threads"))


def test_a_failed_execution_is_reported_failed(app: zart.Zart, recorder: Recorder) -> None:
    with app.worker(threads=2, lease=5, poll_interval=0.2):
        handle = app.start(broken, None)
        with pytest.raises(zart.WorkflowFailed):
            handle.result(timeout=20)
    assert [s for i, s, _ in recorder.named("run_ended") if i == handle.id][-1] == "failed"
    assert [(i, s) for i, s, _ in recorder.named("execution_finished")] == [(handle.id,
                                                                           "failed")]


def test_an_observers_error_is_logged_and_never_reaches_the_work(
        app: zart.Zart, caplog: pytest.LogCaptureFixture) -> None:
    observer = Exploding()
    add_observer(observer)
    try:
        with app.worker(threads=2, lease=5, poll_interval=0.2):
            assert app.start(flow, "b").result(timeout=20) == "ok"
    finally:
        remove_observer(observer)
    assert "observer" in caplog.text and "observer bug" in caplog.text


def test_observing_adds_no_statement_to_a_steps_path(app: zart.Zart, dsn: str,
                                                     recorder: Recorder) -> None:
    with CountingConnection.connect(dsn, autocommit=True) as conn:
        conn.reset_counts()
        warm = app.start(five, None)
        [claim] = app.store.claim_executions(["ob-five"], 1, 30)
        Executor(app.store).run_execution(claim, conn)
        assert warm.result(timeout=5) == 10
        handle = app.start(five, None)
        [claim] = app.store.claim_executions(["ob-five"], 1, 30)
        conn.reset_counts()
        Executor(app.store).run_execution(claim, conn)
        assert conn.round_trips == 5 + 1  # as without observers (test_steps.py)
    assert handle.result(timeout=5) == 10
    assert len(recorder.named("attempt_started")) == 10


RUNS: dict[str, int] = {}


@zart.step("ob-counted")
def counted(key: str) -> str:
    RUNS[key] = RUNS.get(key, 0) + 1
    return key


@zart.workflow("ob-once")
def once(data: Any) -> Any:
    value = yield counted(data)
    yield zart.sleep("ob-once-nap", 0)
    return value


class Cancelled(Observer):
    """An observer whose every hook raises a BaseException, as asyncio.CancelledError is
    (an observer handing its work to an event loop that was shut down, say)."""

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name not in vars(Observer):
            return object.__getattribute__(self, name)

        def hook(*args: Any) -> Any:
            raise asyncio.CancelledError(f"observer's {name} cancelled")

        return hook


def test_an_observer_raising_a_base_exception_never_reaches_the_work(
        app: zart.Zart, caplog: pytest.LogCaptureFixture) -> None:
    observer = Cancelled()
    add_observer(observer)
    try:
        with app.worker(threads=2, lease=5, poll_interval=0.2):
            handle = app.start(once, "c")
            assert handle.result(timeout=20) == "c"
    finally:
        remove_observer(observer)
    assert RUNS["c"] == 1  # a successful attempt is never taken for a failed one
    assert handle.describe().history[0].attempts[-1].attempt == 1
    assert "observer's attempt_finished cancelled" in caplog.text


class Unstorable(Observer):
    """An observer whose start context cannot be stored (or is not even a dict)."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def context_for_start(self) -> Any:
        return self.context


@pytest.mark.parametrize("context", [{"span": object()}, ["not", "a", "dict"]])
def test_a_start_context_that_cannot_be_stored_is_left_out_and_the_start_goes_on(
        app: zart.Zart, recorder: Recorder, caplog: pytest.LogCaptureFixture,
        context: Any) -> None:
    observer = Unstorable(context)
    add_observer(observer)
    try:
        handle = app.start(once, f"d-{len(context)}")
    finally:
        remove_observer(observer)
    with app.worker(threads=2, lease=5, poll_interval=0.2):
        assert handle.result(timeout=20) == f"d-{len(context)}"
    # the other observer's context is stored and handed back to the run
    assert {"traceparent": "00-abc-def-01"} in [
        ctx for i, ctx in recorder.named("run_started") if i == handle.id]
    assert "context_for_start" in caplog.text


BODY_BLOCKED = threading.Event()
BODY_GO = threading.Event()


@zart.workflow("ob-body-retries", retry=zart.fixed(3, 0))
def body_retries(data: Any) -> Any:
    BODY_BLOCKED.set()
    BODY_GO.wait(20)
    raise ValueError("the body fails, to be retried")
    yield  # a generator


def test_a_run_cancelled_while_its_body_raises_is_reported_cancelled_not_suspended(
        app: zart.Zart, recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zart.runtime.executor")
    BODY_BLOCKED.clear()
    BODY_GO.clear()
    with app.worker(threads=1, lease=5, poll_interval=0.2):
        handle = app.start(body_retries, None)
        assert BODY_BLOCKED.wait(20)
        assert app.cancel(handle.id)
        BODY_GO.set()  # the body raises; its retry is refused: the execution is cancelled
        wait_until(lambda: [s for i, s, _ in recorder.named("run_ended") if i == handle.id],
                   what="the run to end")
    assert handle.status() == "cancelled"
    assert [s for i, s, _ in recorder.named("run_ended") if i == handle.id] == ["cancelled"]
    assert f"execution {handle.id} (workflow ob-body-retries) was cancelled" in caplog.text
