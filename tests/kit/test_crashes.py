"""crash_at: the next attempt of a step dies before it runs, or between its side effect and its
checkpoint. Proved by counting real runs of the steps in a ledger table, not by the engine's
view of them."""

from __future__ import annotations

from typing import Any

import pytest

import zart
from tests.conftest import wait_until
from zart.testing import DEFAULT_LEASE, advance, crash_at, run_until_idle
from zart.testing.database import drop_schema, fresh_schema_name

from . import steps
from .ledger import Ledger

ORDER = {"id": "o-7"}


def test_a_crash_after_the_side_effect_runs_the_step_again_after_the_lease(
        zart_app: zart.Zart, ledger: Ledger) -> None:
    crash = crash_at(zart_app, steps.charge, when="after")
    handle = zart_app.start(steps.checkout, ORDER)
    idle = run_until_idle(zart_app)
    assert idle.crashed == [handle.id]
    assert crash.crashed == [handle.id] and not crash.armed
    assert ledger.counts() == {"reserve": 1, "charge": 1}  # the card was charged...
    assert handle.describe().history[1:] == []  # ...and nothing says so: no checkpoint
    assert handle.status() == "running"  # a dead worker's lease, renewed by no one
    assert run_until_idle(zart_app).runs == 0  # not before the lease runs out
    advance(zart_app, DEFAULT_LEASE)
    run_until_idle(zart_app)
    assert ledger.counts() == {"reserve": 1, "charge": 2}  # at least once: charged again
    advance(zart_app, "1d")
    run_until_idle(zart_app)
    assert handle.result(timeout=0)["txn"] == "txn-o-7"
    assert ledger.counts() == {"reserve": 1, "charge": 2, "ship": 1}
    names = [(c.kind, c.name) for c in handle.describe().history]
    assert names == [("step", "kit-reserve"), ("step", "kit-charge"), ("sleep", "cool-off"),
                     ("step", "kit-ship")]  # each checkpoint written once


def test_a_crash_before_the_step_runs_leaves_no_side_effect(zart_app: zart.Zart,
                                                            ledger: Ledger) -> None:
    crash_at(zart_app, "kit-charge", when="before")
    handle = zart_app.start(steps.checkout, ORDER)
    run_until_idle(zart_app)
    assert ledger.counts() == {"reserve": 1}
    advance(zart_app, DEFAULT_LEASE)
    run_until_idle(zart_app)
    assert ledger.counts() == {"reserve": 1, "charge": 1}
    assert handle.status() == "waiting"


def test_a_transactional_step_crashed_after_its_writes_rolls_them_back(
        zart_app: zart.Zart, ledger: Ledger) -> None:
    crash_at(zart_app, steps.charge_in_transaction, when="after")
    handle = zart_app.start(steps.checkout_in_transaction, ORDER)
    run_until_idle(zart_app)
    assert ledger.counts() == {"reserve": 1}  # the write died with its transaction
    advance(zart_app, DEFAULT_LEASE)
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == "txn-o-7"
    assert ledger.counts() == {"reserve": 1, "charge": 1}  # exactly once


def test_a_crash_can_fire_several_times_and_each_takeover_is_a_lost_lease(
        zart_app: zart.Zart, ledger: Ledger) -> None:
    crash = crash_at(zart_app, steps.reserve, times=2)
    handle = zart_app.start(steps.checkout, ORDER)
    for _ in range(3):
        run_until_idle(zart_app)
        advance(zart_app, DEFAULT_LEASE)
    assert crash.crashed == [handle.id, handle.id]
    assert ledger.counts() == {"reserve": 3, "charge": 1}
    assert zart_app.store.describe(handle.id).lost_leases == 2


def test_a_crash_in_a_parallel_child_runs_that_child_again(zart_app: zart.Zart,
                                                           ledger: Ledger) -> None:
    crash_at(zart_app, "kit-pack-1", when="after")  # one child, by its name in the history
    handle = zart_app.start(steps.fan_out, {"boxes": 3})
    assert run_until_idle(zart_app).crashed == [handle.id]
    advance(zart_app, DEFAULT_LEASE)
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == [0, 10, 20]
    assert ledger.counts() == {"pack-0": 1, "pack-1": 2, "pack-2": 1, "ship": 1}


def test_a_crash_by_template_hits_the_first_attempt_of_any_of_its_steps(
        zart_app: zart.Zart, ledger: Ledger) -> None:
    crash = crash_at(zart_app, "kit-pack-{box}", when="before")
    handle = zart_app.start(steps.fan_out, {"boxes": 2})
    run_until_idle(zart_app)
    assert crash.happened
    assert sum(ledger.counts().values()) == 1  # one child ran, the other died before it ran
    advance(zart_app, DEFAULT_LEASE)
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == [0, 10]


def test_a_worker_thread_dies_the_same_way_and_another_claim_takes_over(
        zart_app: zart.Zart, zart_worker: zart.Worker, ledger: Ledger) -> None:
    crash = crash_at(zart_app, steps.charge_in_transaction, when="after")
    handle = zart_app.start(steps.checkout_in_transaction, ORDER)
    wait_until(lambda: crash.happened, what="the crash in the worker's thread")
    assert handle.status() == "running"
    assert ledger.counts() == {"reserve": 1}
    advance(zart_app, "6s")  # past the worker's 5 s lease; the worker is woken and takes over
    assert handle.result(timeout=10) == "txn-o-7"
    assert ledger.counts() == {"reserve": 1, "charge": 1}


def test_a_crash_only_hits_the_app_it_was_armed_for(zart_app: zart.Zart, zart_dsn: str,
                                                    ledger: Ledger) -> None:
    schema = fresh_schema_name("other app")
    other = zart.Zart(zart_dsn, schema=schema)
    try:
        crash = crash_at(other, steps.reserve)
        handle = zart_app.start(steps.checkout, ORDER)
        run_until_idle(zart_app)
        assert not crash.happened
        assert handle.status() == "waiting"
    finally:
        other.close()
        drop_schema(zart_dsn, schema)


@pytest.mark.parametrize(("args", "error", "fragment"), [
    (("kit-charge", "during"), ValueError, "when must be 'before' or 'after', got 'during'"),
    (("kit-charge", "after", 0), ValueError, "times must be an int >= 1, got 0"),
    (("", "after"), ValueError, "step name must not be empty"),
    ((42, "after"), TypeError, "takes a @zart.step function or a step's name, got int"),
])
def test_bad_crash_points_are_refused_naming_the_problem(
        zart_app: zart.Zart, args: tuple[Any, ...], error: type[Exception],
        fragment: str) -> None:
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        crash_at(zart_app, *args)


def test_crash_at_needs_the_app() -> None:
    with pytest.raises(TypeError, match=r"takes the zart\.Zart app"):
        crash_at("kit-charge", "charge")  # type: ignore[arg-type]
