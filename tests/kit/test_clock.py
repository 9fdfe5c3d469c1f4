"""advance: the database's clock and Python's move together, so a day-long workflow tests in
milliseconds and what its body and steps read of the time agrees with the database."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import zart
from tests.conftest import registered_for_now
from zart.testing import advance, reset_clock, run_until_idle

from . import steps


def test_advance_moves_the_database_clock_and_pythons_together(zart_app: zart.Zart) -> None:
    database_before = zart_app.store.clock_now()
    python_before = datetime.now(UTC)
    wall_before = time.time()
    database_after = advance(zart_app, "1d")
    assert zart_app.store.clock_now() >= database_after
    assert timedelta(days=1) <= database_after - database_before < timedelta(days=1, seconds=5)
    python_moved = datetime.now(UTC) - python_before
    assert timedelta(days=1) <= python_moved < timedelta(days=1, seconds=5)
    assert 86400 <= time.time() - wall_before < 86405
    # The two clocks agree (the database runs on this machine's clock, or close to it).
    assert abs((datetime.now(UTC) - zart_app.store.clock_now()).total_seconds()) < 5


def test_python_clock_keeps_ticking_after_a_move(zart_app: zart.Zart) -> None:
    advance(zart_app, "1h")
    first = time.monotonic()
    deadline = time.perf_counter() + 0.05
    while time.perf_counter() < deadline:  # a timeout measured in Python still passes
        pass
    assert time.monotonic() > first


def test_what_the_body_reads_of_the_clock_follows_the_moves(zart_app: zart.Zart) -> None:
    handle = zart_app.start(steps.times)
    run_until_idle(zart_app)
    advance(zart_app, "1d")
    run_until_idle(zart_app)
    result = handle.result(timeout=0)
    assert 86400 <= result["seconds"] < 86405


def test_a_sleep_until_a_time_computed_on_the_moved_clock_falls_due_on_it(
        zart_app: zart.Zart) -> None:
    advance(zart_app, "3d")  # zart.now() in the body reads the moved clock from here on
    handle = zart_app.start(steps.until_tomorrow)
    run_until_idle(zart_app)
    advance(zart_app, "23h")
    run_until_idle(zart_app)
    assert handle.status() == "waiting"
    advance(zart_app, "1h")
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == "woke"


def test_the_real_clock_comes_back_after_a_reset(zart_app: zart.Zart) -> None:
    real_before = time.time()
    advance(zart_app, "30d")
    assert time.time() - real_before >= 30 * 86400
    reset_clock()
    assert abs(time.time() - real_before) < 5
    assert datetime.now(UTC).timestamp() - real_before < 5
    # The database's offset belongs to the app's schema (dropped with it after the test).
    assert zart_app.store.clock_now().timestamp() - time.time() > 30 * 86400 - 5


def test_a_started_worker_is_woken_when_the_clock_moves(zart_app: zart.Zart,
                                                        zart_worker: zart.Worker) -> None:
    handle = zart_app.start(steps.approval)
    zart_app.send_event(handle.id, "ignored", None)  # an event it does not wait for
    with pytest.raises(zart.ResultTimeout):
        handle.result(timeout=0.5)
    advance(zart_app, "3d")  # the wait's timeout, due at once: the worker hears of it
    assert handle.result(timeout=5) == "expired"


@pytest.mark.parametrize(("duration", "error", "fragment"), [
    (0, ValueError, "moves time forward only"),
    (-5, ValueError, "moves time forward only|must not be negative"),
    ("tomorrow", ValueError, "advance"),
    (None, ValueError, "advance\\(\\) must be a number of seconds"),
])
def test_bad_durations_are_refused_naming_the_problem(zart_app: zart.Zart, duration: Any,
                                                      error: type[Exception],
                                                      fragment: str) -> None:
    before = zart_app.store.clock_now()
    with pytest.raises(error, match=fragment):
        advance(zart_app, duration)
    assert zart_app.store.clock_now() - before < timedelta(seconds=5)  # nothing moved


def test_advance_needs_the_app() -> None:
    with pytest.raises(TypeError, match=r"takes the zart\.Zart app whose clock moves"):
        advance("1d", "1d")  # type: ignore[arg-type]


def test_a_nightly_schedule_falls_due_when_the_clock_moves_a_day(zart_app: zart.Zart) -> None:
    def nightly(data: Any) -> Any:
        return (yield zart.now("ran-at"))

    def define() -> zart.Workflow:
        return zart.workflow("kit-nightly", schedule=zart.cron("0 3 * * *",
                                                               tz="Europe/Paris"))(nightly)

    with registered_for_now(define):
        first = run_until_idle(zart_app)  # stores the schedule: its first tick is ahead
        assert first.scheduled == 0
        advance(zart_app, "1d")
        ran = run_until_idle(zart_app)
        assert (ran.scheduled, ran.runs) == (1, 1)
        [execution] = zart_app.executions(workflow="kit-nightly").items
        assert execution.status == "completed" and execution.id.startswith("kit-nightly@")
        assert run_until_idle(zart_app).scheduled == 0  # the tick never fires twice
