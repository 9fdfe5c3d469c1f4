"""Pause rules, enforced (issue 9; the Rust Zart's never were): a paused execution is not
claimed; a step matching a paused pattern is not started (its execution suspends in front of
it); steps in flight finish; expiry lifts a rule by itself; lifting one wakes what it held at
once, without waiting for a poll."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

import zart

from .conftest import run_due, wait_until
from .test_lifecycle import count_calls

RUNS: Counter[str] = Counter()
INSIDE = threading.Event()
GATE = threading.Event()


def ran(step: str) -> None:
    RUNS[f"{zart.context().execution_id}:{step}"] += 1


@zart.step("pz-validate")
def validate() -> str:
    ran("validate")
    return "valid"


@zart.step("pz-charge-{kind}")
def charge(kind: str) -> str:
    ran(f"charge-{kind}")
    if kind == "slow":
        INSIDE.set()
        GATE.wait(30)
    return f"charged {kind}"


@zart.workflow("pz-pay")
def pay(data: Any) -> Any:
    checked = yield validate()
    first = yield charge(data["first"])
    second = yield charge("final")
    return [checked, first, second]


@zart.step("pz-part-{i}")
def part(i: int) -> int:
    ran(f"part-{i}")
    return i


@zart.workflow("pz-fan")
def fan(data: Any) -> Any:
    return (yield zart.parallel(*[part(i) for i in range(3)]))


def test_a_paused_workflow_is_not_claimed_and_unpausing_wakes_it_at_once(
        app: zart.Zart) -> None:
    rule = app.pause(workflow="pz-pay", reason="provider incident", by="ops")
    assert rule.active and rule.step_pattern is None
    handle = app.start(pay, {"first": "card"})
    assert app.store.claim_executions(["pz-pay"], 1, 30) == []
    waiting = handle.waiting()
    assert waiting.state == "paused" and waiting.rule == rule.id
    assert "provider incident" in waiting.text
    with app.worker(threads=1, lease=5.0, poll_interval=60):  # no poll: only a NOTIFY
        assert handle.status() == "pending"
        started = time.monotonic()
        app.unpause(rule.id, by="ops")
        assert handle.result(timeout=20) == ["valid", "charged card", "charged final"]
        assert time.monotonic() - started < 10
    [lifted] = [r for r in app.pauses(active_only=False) if r.id == rule.id]
    assert (lifted.active, lifted.lifted_by) == (False, "ops")


def test_an_idle_worker_does_not_look_again_and_again_at_a_due_execution_a_rule_holds(
        app: zart.Zart) -> None:
    rule = app.pause(workflow="pz-pay", reason="held")
    try:
        handle = app.start(pay, {"first": "card"})  # due now, but paused
        # This workflow only: the whole suite's workflows (and their schedules) are
        # registered in this process, and other due work would be looked at, rightly.
        worker = app.worker(threads=1, poll_interval=5, workflows=["pz-pay"])
        rounds = count_calls(worker.store, "claim_executions")
        with worker:
            threading.Event().wait(1.0)  # one second of an idle worker facing held due work
            looked = rounds[0]
        assert looked <= 3, looked  # not a look every tenth of a second (due work's recheck)
        assert handle.status() == "pending"
    finally:
        app.unpause(rule.id)


def test_a_step_matching_a_paused_pattern_is_not_started_and_its_execution_waits_in_front(
        app: zart.Zart) -> None:
    rule = app.pause(step="pz-charge-*", reason="card processor down")
    handle = app.start(pay, {"first": "card"})
    with app.worker(threads=1, lease=5.0, poll_interval=60):
        wait_until(lambda: handle.status() == "waiting", what="the pause in front of charge")
        waiting = handle.waiting()
        assert (waiting.state, waiting.rule, waiting.step) == ("paused", rule.id,
                                                                 "pz-charge-card")
        assert RUNS[f"{handle.id}:validate"] == 1
        assert RUNS[f"{handle.id}:charge-card"] == 0
        app.unpause(rule.id)
        assert handle.result(timeout=20) == ["valid", "charged card", "charged final"]
    assert (RUNS[f"{handle.id}:charge-card"], RUNS[f"{handle.id}:charge-final"]) == (1, 1)


def test_a_pause_applied_while_a_matching_step_runs_lets_it_finish_and_holds_the_next(
        app: zart.Zart) -> None:
    INSIDE.clear()
    GATE.clear()
    handle = app.start(pay, {"first": "slow"})
    with app.worker(threads=1, lease=5.0, poll_interval=60) as worker:
        assert INSIDE.wait(20)  # inside pz-charge-slow
        rule = app.pause(step="pz-charge-*", execution=handle.id, by="ops")
        wait_until(lambda: worker.pauses.holding("pz-pay", handle.id, "pz-charge-final"),
                   what="the worker to learn of the rule")
        GATE.set()  # the step in flight finishes and is recorded
        wait_until(lambda: handle.status() == "waiting", what="the pause in front of the next")
        assert [c.name for c in handle.describe().history if c.status == "done"] == [
            "pz-validate", "pz-charge-slow"]
        assert RUNS[f"{handle.id}:charge-final"] == 0
        app.unpause(rule.id)
        assert handle.result(timeout=20) == ["valid", "charged slow", "charged final"]
    actions = [a.action for a in handle.describe().actions]
    assert actions == ["pause", "unpause"]


def test_a_rule_lifts_by_itself_when_its_until_passes(app: zart.Zart) -> None:
    rule = app.pause(workflow="pz-pay", until="1h")
    handle = app.start(pay, {"first": "card"})
    assert app.store.claim_executions(["pz-pay"], 1, 30) == []
    app.store.shift_clock(3601)
    assert not [r for r in app.pauses() if r.id == rule.id]
    run_due(app, "pz-pay")
    assert handle.result(timeout=5) == ["valid", "charged card", "charged final"]


def test_parallel_children_matching_a_paused_pattern_are_not_claimed(app: zart.Zart) -> None:
    handle = app.start(fan, None)
    run_due(app, "pz-fan")  # three children spawned, the parent waits
    from zart.runtime.children import known_refs

    rule = app.pause(step="pz-part-1")
    claimed = app.store.claim_children(known_refs(), 10, 30)
    assert sorted(c.name for c in claimed) == ["pz-part-0", "pz-part-2"]
    for child in claimed:
        app.store.release_child(child)
    with app.worker(threads=2, lease=5.0, poll_interval=60):
        wait_until(lambda: RUNS[f"{handle.id}:part-2"] == 1 and RUNS[f"{handle.id}:part-0"] == 1,
                   what="the other children")
        assert RUNS[f"{handle.id}:part-1"] == 0 and handle.status() == "waiting"
        app.unpause(rule.id)
        assert handle.result(timeout=20) == [0, 1, 2]


def test_unpausing_a_rule_that_is_no_longer_active_is_refused(app: zart.Zart) -> None:
    rule = app.pause(workflow="pz-nothing")
    app.unpause(rule.id, by="first")
    with pytest.raises(zart.ActionRefused, match=f"pause rule {rule.id} is no longer active"):
        app.unpause(rule.id)
    with pytest.raises(zart.PauseRuleNotFound, match="no pause rule 999999"):
        app.unpause(999999)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"workflow": ""}, "workflow name"),
    ({"until": "soon"}, "until"),
    ({"until": -5}, "negative"),
    ({"reason": "x" * 2000}, "reason"),
    ({"reason": "nul \x00 inside"}, "without NUL"),
    ({"reason": "lone \ud800 surrogate"}, "lone surrogates"),
    ({"by": ""}, "by must be"),
    ({"by": "ops\x00"}, "without NUL"),
])
def test_bad_pause_rules_are_refused_naming_the_problem(app: zart.Zart, kwargs: dict[str, Any],
                                                        message: str) -> None:
    before = len(app.pauses(active_only=False))
    with pytest.raises((zart.ConfigurationError, ValueError), match=message):
        app.pause(**kwargs)
    assert len(app.pauses(active_only=False)) == before
