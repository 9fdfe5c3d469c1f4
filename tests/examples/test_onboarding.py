"""examples/onboarding.py: a confirmation that arrives, and one that never does (the wait's
timeout moved past with the clock, not waited out)."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

import zart
from zart.testing import advance, run_until_idle

from .conftest import loaded


@pytest.fixture(scope="module")
def onboarding() -> Iterator[ModuleType]:
    yield from loaded("onboarding")


def test_a_confirmed_user_is_activated_and_a_silent_one_reminded(
        onboarding: ModuleType, zart_app: zart.Zart) -> None:
    alice = zart_app.start(onboarding.onboard, {"name": "alice", "email": "a@example.com"})
    bob = zart_app.start(onboarding.onboard, {"name": "bob", "email": "b@example.com"})
    run_until_idle(zart_app)
    assert (alice.status(), bob.status()) == ("waiting", "waiting")
    zart_app.send_event(alice.id, "email-confirmed", {"at": "2026-01-05T10:42:00Z"})
    run_until_idle(zart_app)
    assert alice.result(timeout=0) == {"user": "alice", "customer": "cus_alice_0001",
                                       "confirmed": True, "reminded": False}
    assert bob.status() == "waiting"
    advance(zart_app, "2s")
    run_until_idle(zart_app)
    assert bob.result(timeout=0) == {"user": "bob", "customer": "cus_bob_0001",
                                     "confirmed": False, "reminded": True}


def test_onboarding_past_its_hour_fails_with_the_workflow_timeout(
        onboarding: ModuleType, zart_app: zart.Zart) -> None:
    # A confirmation can only come within its 2 s; the workflow's own limit is an hour.
    handle = zart_app.start(onboarding.onboard, {"name": "cy", "email": "c@example.com"})
    run_until_idle(zart_app)
    advance(zart_app, "2h")
    run_until_idle(zart_app)
    with pytest.raises(zart.WorkflowFailed, match="WorkflowTimeout"):
        handle.result(timeout=0)
