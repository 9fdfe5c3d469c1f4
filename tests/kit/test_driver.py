"""run_until_idle: every due execution runs in the test's thread until nothing is due."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import zart
from zart.testing import advance, run_until_idle

from . import steps
from .ledger import Ledger

ORDER = {"id": "o-1"}


def test_a_workflow_runs_in_the_tests_own_thread(zart_app: zart.Zart) -> None:
    handle = zart_app.start(steps.where)
    idle = run_until_idle(zart_app)
    assert handle.result(timeout=0) == threading.current_thread().name
    assert (idle.runs, idle.crashed) == (1, [])


def test_it_stops_at_a_sleep_and_the_sleep_falls_due_when_the_clock_moves(
        zart_app: zart.Zart, ledger: Ledger) -> None:
    handle = zart_app.start(steps.checkout, ORDER)
    run_until_idle(zart_app)
    assert handle.status() == "waiting"
    assert ledger.counts() == {"reserve": 1, "charge": 1}
    advance(zart_app, "23h")
    assert run_until_idle(zart_app).runs == 0  # not due yet
    advance(zart_app, "1h")
    assert run_until_idle(zart_app).runs == 1
    assert handle.result(timeout=0) == {"reservation": "res-o-1", "txn": "txn-o-1",
                                        "tracking": "trk-o-1"}
    assert ledger.counts() == {"reserve": 1, "charge": 1, "ship": 1}


def test_an_event_wakes_the_waiting_execution_at_the_next_run(zart_app: zart.Zart) -> None:
    handle = zart_app.start(steps.approval)
    run_until_idle(zart_app)
    assert handle.status() == "waiting"
    zart_app.send_event(handle.id, "approved", {"by": "ada"})
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == "ada"


def test_an_event_timeout_falls_due_when_the_clock_passes_it(zart_app: zart.Zart) -> None:
    handle = zart_app.start(steps.approval)
    run_until_idle(zart_app)
    advance(zart_app, "3d")
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == "expired"


def test_retry_delays_fall_due_when_the_clock_moves(zart_app: zart.Zart,
                                                    ledger: Ledger) -> None:
    handle = zart_app.start(steps.retries)
    run_until_idle(zart_app)
    assert ledger.counts()["flaky"] == 1
    advance(zart_app, "1h")
    run_until_idle(zart_app)
    advance(zart_app, "1h")
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == "ok after 3"
    assert ledger.counts()["flaky"] == 3


def test_parallel_children_and_child_workflows_run_too(zart_app: zart.Zart,
                                                       ledger: Ledger) -> None:
    fanned = zart_app.start(steps.fan_out, {"boxes": 3})
    parent = zart_app.start(steps.parent, ORDER)
    idle = run_until_idle(zart_app)
    assert fanned.result(timeout=0) == [0, 10, 20]
    assert parent.result(timeout=0) == {"child": "txn-o-1"}
    assert ledger.counts() == {"pack-0": 1, "pack-1": 1, "pack-2": 1, "ship": 1, "charge": 1}
    # The fan-out (twice: before and after its barrier), its 3 children; the parent (twice)
    # and its child.
    assert idle.runs == 8


def test_queued_executions_run_too_within_their_queues_limits(zart_app: zart.Zart,
                                                              ledger: Ledger) -> None:
    handles = [zart_app.start(steps.queued, {"id": f"q-{i}"}) for i in range(3)]
    assert run_until_idle(zart_app).runs == 3
    assert [h.result(timeout=0) for h in handles] == ["res-q-0", "res-q-1", "res-q-2"]
    assert ledger.counts() == {"reserve": 3}


def test_a_workflow_that_never_settles_is_stopped_with_a_clear_error(
        zart_app: zart.Zart) -> None:
    zart_app.start(steps.never_settles)
    with pytest.raises(RuntimeError, match="ran 5 executions and children and work is still "
                                           "due"):
        run_until_idle(zart_app, max_runs=5)


@pytest.mark.parametrize(("kwargs", "error", "fragment"), [
    ({"lease": 0.1}, ValueError, "lease must be at least 0.5 s"),
    ({"lease": "soon"}, ValueError, "lease"),
    ({"max_runs": 0}, ValueError, "max_runs must be an int >= 1"),
    ({"max_runs": True}, ValueError, "max_runs must be an int >= 1"),
])
def test_bad_options_are_refused_naming_the_problem(zart_app: zart.Zart, kwargs: dict[str, Any],
                                                    error: type[Exception],
                                                    fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        run_until_idle(zart_app, **kwargs)


def test_it_needs_an_app() -> None:
    with pytest.raises(TypeError, match=r"run_until_idle\(\) takes a zart\.Zart app, got str"):
        run_until_idle("postgresql://localhost/db")  # type: ignore[arg-type]
