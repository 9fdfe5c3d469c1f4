"""examples/approval.py: the event inbox (an early decision is kept, a second one ignored, a
late one refused) and a request nobody decides on within its week."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

import zart
from zart.testing import advance, replace_step, run_until_idle

from .conftest import loaded

REQUEST = {"id": "expense-1", "employee": "dana", "amount": 89.0,
           "purpose": "conference ticket", "approver": "carol"}


@pytest.fixture(scope="module")
def approval() -> Iterator[ModuleType]:
    yield from loaded("approval")


@pytest.fixture
def app(approval: ModuleType, zart_app: zart.Zart) -> zart.Zart:
    """The test's app, with a fast back office (the real submit step takes 0.3 s)."""
    replace_step(zart_app, approval.submit,
                 lambda request: f"EXP-{request['id'].split('-')[-1].zfill(4)}")
    return zart_app


def test_an_early_decision_is_kept_and_a_second_one_ignored(approval: ModuleType,
                                                            app: zart.Zart) -> None:
    handle = app.start(approval.expense_approval, REQUEST, id=REQUEST["id"])
    assert app.send_event(handle.id, "approval", {"approved": True, "by": "carol"}) is True
    assert app.send_event(handle.id, "approval", {"approved": False, "by": "mallory",
                                                  "reason": "no"}) is False
    run_until_idle(app)
    assert handle.result(timeout=0) == {"ticket": "EXP-0001", "status": "paid", "by": "carol",
                                        "transfer": "TR-EXP-0001"}


def test_a_rejection_is_explained_and_a_late_decision_refused(approval: ModuleType,
                                                              app: zart.Zart) -> None:
    handle = app.start(approval.expense_approval, {**REQUEST, "id": "expense-2"})
    run_until_idle(app)
    assert handle.status() == "waiting"
    app.send_event(handle.id, "approval", {"approved": False, "by": "carol",
                                           "reason": "over the limit"})
    run_until_idle(app)
    assert handle.result(timeout=0)["status"] == "rejected"
    with pytest.raises(zart.ExecutionFinished):
        app.send_event(handle.id, "approval", {"approved": True, "by": "carol"})


def test_a_request_nobody_decides_on_within_a_week_fails(approval: ModuleType,
                                                         app: zart.Zart) -> None:
    handle = app.start(approval.expense_approval, REQUEST)
    run_until_idle(app)
    advance(app, "7d")
    run_until_idle(app)
    with pytest.raises(zart.WorkflowFailed, match="EventTimeout"):
        handle.result(timeout=0)
