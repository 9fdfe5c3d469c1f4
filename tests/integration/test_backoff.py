"""Durable back-off (issue 11): a step raising ``zart.RetryAfter(delay)`` suspends its
execution without holding a thread and runs again after the delay, spending none of its retry
attempts; a step that asks too often in a row fails, so it cannot loop forever."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import zart

from .conftest import run_due, wait_until

RUNS: Counter[str] = Counter()


@zart.step("bo-rate-limited")
def rate_limited(times: int) -> dict[str, int]:
    key = zart.context().execution_id
    RUNS[key] += 1
    if RUNS[key] <= times:
        raise zart.RetryAfter("30s", "429 Too Many Requests")
    return {"runs": RUNS[key], "attempt": zart.context().attempt}


@zart.workflow("bo-flow")
def flow(data: Any) -> Any:
    try:
        return (yield rate_limited(data))
    except zart.StepFailed as exc:
        return {"failed": exc.error_type, "message": exc.message}


@zart.step("bo-child-{i}")
def child(i: int) -> int:
    key = f"{zart.context().execution_id}:{i}"
    RUNS[key] += 1
    if RUNS[key] == 1:
        raise zart.RetryAfter(60)
    return zart.context().attempt


@zart.workflow("bo-fan")
def fan(data: Any) -> Any:
    return (yield zart.parallel(child(0), child(1)))


def test_a_step_asking_to_run_again_later_suspends_and_spends_no_attempt(
        app: zart.Zart, sql: Any, schema: str) -> None:
    handle = app.start(flow, 2)  # the step has no retry policy: one attempt only
    run_due(app, "bo-flow")
    waiting = handle.waiting()
    assert (waiting.state, waiting.step) == ("backing_off", "bo-rate-limited")
    assert sql(f'SELECT status, wait_kind FROM "{schema}".executions WHERE id = %s',
               handle.id) == [("waiting", "backoff")]
    for _ in range(2):
        app.store.shift_clock(31)
        run_due(app, "bo-flow")
    assert handle.result(timeout=5) == {"runs": 3, "attempt": 1}
    [(backoffs,)] = sql(f'SELECT backoffs FROM "{schema}".steps WHERE execution_id = %s',
                        handle.id)
    assert backoffs == 2


def test_a_step_that_keeps_asking_fails_after_the_bound(app: zart.Zart,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zart.RetryAfter, "MAX_BACKOFFS", 3)
    handle = app.start(flow, 100)
    run_due(app, "bo-flow")
    for _ in range(3):
        app.store.shift_clock(31)
        run_due(app, "bo-flow")
    result = handle.result(timeout=5)
    assert result["failed"] == "RetryAfter" and "3 times in a row" in result["message"]
    assert RUNS[handle.id] == 4


def test_parallel_children_back_off_too(app: zart.Zart) -> None:
    handle = app.start(fan, None)
    with app.worker(threads=2, lease=5.0, poll_interval=0.2):
        wait_until(lambda: all(RUNS[f"{handle.id}:{i}"] == 1 for i in (0, 1)),
                   what="each child to ask once")
        app.store.shift_clock(61)
        assert handle.result(timeout=20) == [1, 1]  # the retry spent no attempt


@pytest.mark.parametrize("delay", ["soon", -1])
def test_a_bad_delay_is_refused_naming_it(delay: Any) -> None:
    with pytest.raises(ValueError, match="RetryAfter delay"):
        zart.RetryAfter(delay)
