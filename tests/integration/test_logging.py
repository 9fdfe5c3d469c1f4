"""Nothing fails silently (issue 8, item 6): a failed attempt logs a warning and a failed
execution an error, each with execution id, workflow, step and attempt as fields; loggers are
named per module under ``zart``; a normal cancel logs no lost lease."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

import zart

from .conftest import wait_until

INSIDE = threading.Event()
GATE = threading.Event()


@zart.step("log-flaky", retry=zart.fixed(1, 0))
def flaky() -> str:
    raise TimeoutError(f"upstream timed out on attempt {zart.context().attempt}")


@zart.workflow("log-failing")
def failing(data: Any) -> Any:
    return (yield flaky())


@zart.step("log-gated")
def gated() -> str:
    INSIDE.set()
    GATE.wait(30)
    return "through"


@zart.workflow("log-cancelled")
def cancelled(data: Any) -> Any:
    yield gated()
    yield gated().named("log-gated-again")


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == level and r.name.startswith("zart")]


def test_failed_attempts_and_executions_are_logged_with_their_ids_as_fields(
        app: zart.Zart, caplog: pytest.LogCaptureFixture) -> None:
    handle = app.start(failing, None)
    with caplog.at_level(logging.INFO, logger="zart"), \
            app.worker(threads=1, lease=5.0, poll_interval=0.2), pytest.raises(zart.WorkflowFailed):
        handle.result(timeout=20)
    attempts = [r for r in records(caplog, logging.WARNING)
                if getattr(r, "execution_id", None) == handle.id]
    assert [(r.step, r.attempt, r.workflow) for r in attempts] == [  # type: ignore[attr-defined]
        ("log-flaky", 1, "log-failing"), ("log-flaky", 2, "log-failing")]
    assert "retrying" in attempts[0].getMessage()
    assert "no attempt left" in attempts[1].getMessage()
    [failed] = [r for r in records(caplog, logging.ERROR)
                if getattr(r, "execution_id", None) == handle.id]
    assert failed.workflow == "log-failing"  # type: ignore[attr-defined]
    assert "TimeoutError" in failed.getMessage() and "attempt 2" in failed.getMessage()


def test_loggers_are_named_per_module_under_zart(
        app: zart.Zart, caplog: pytest.LogCaptureFixture) -> None:
    handle = app.start(failing, None)
    with caplog.at_level(logging.INFO, logger="zart"), \
            app.worker(threads=1, lease=5.0, poll_interval=0.2), pytest.raises(zart.WorkflowFailed):
        handle.result(timeout=20)
    names = {r.name for r in caplog.records if r.name.startswith("zart")}
    assert names and all(name.startswith("zart.") for name in names), names
    assert "zart.runtime.worker" in names


def test_a_normal_cancel_logs_no_lost_lease(app: zart.Zart,
                                            caplog: pytest.LogCaptureFixture) -> None:
    INSIDE.clear()
    GATE.clear()
    handle = app.start(cancelled, None)
    with caplog.at_level(logging.INFO, logger="zart"), \
            app.worker(threads=1, lease=5.0, poll_interval=0.2) as worker:
        assert INSIDE.wait(10)
        app.cancel(handle.id)
        GATE.set()  # the step returns: its checkpoint is refused, the body closed
        wait_until(lambda: worker.busy == 0, what="the thread to let go")
    assert handle.status() == "cancelled"
    assert records(caplog, logging.WARNING) == []
    assert any("was cancelled" in r.getMessage() for r in records(caplog, logging.INFO))
