"""Workflows and steps the kit's tests drive; each step's side effect goes to the ledger."""

from __future__ import annotations

import threading
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import zart

from .ledger import Ledger

Body = Generator[Any, Any, Any]

LEDGER: Ledger | None = None
"""The current test's ledger (set by the ``ledger`` fixture)."""


def effect(name: str) -> None:
    """Record a side effect in the current test's ledger."""
    assert LEDGER is not None, "this test needs the ledger fixture"
    LEDGER.record(name)


@zart.step("kit-reserve")
def reserve(order: dict[str, Any]) -> str:
    effect("reserve")
    return f"res-{order['id']}"


@zart.step("kit-charge")
def charge(order: dict[str, Any]) -> str:
    effect("charge")
    return f"txn-{order['id']}"


@zart.step("kit-charge-in-tx", transactional=True)
def charge_in_transaction(order: dict[str, Any]) -> str:
    assert LEDGER is not None
    LEDGER.record("charge", zart.context().connection)  # commits with the checkpoint
    return f"txn-{order['id']}"


@zart.step("kit-ship")
def ship(order: dict[str, Any]) -> str:
    effect("ship")
    return f"trk-{order['id']}"


@zart.step("kit-thread")
def thread_name() -> str:
    return threading.current_thread().name


@zart.workflow("kit-checkout")
def checkout(order: dict[str, Any]) -> Body:
    """Reserve, charge, a day's sleep, ship."""
    reservation = yield reserve(order)
    txn = yield charge(order)
    yield zart.sleep("cool-off", "1d")
    tracking = yield ship(order)
    return {"reservation": reservation, "txn": txn, "tracking": tracking}


@zart.workflow("kit-checkout-in-tx")
def checkout_in_transaction(order: dict[str, Any]) -> Body:
    """Reserve, then charge inside the checkpoint's transaction."""
    yield reserve(order)
    return (yield charge_in_transaction(order))


@zart.workflow("kit-where")
def where() -> Body:
    """Which thread ran its step."""
    return (yield thread_name())


@zart.step("kit-pack-{box}")
def pack(box: int) -> int:
    effect(f"pack-{box}")
    return box * 10


@zart.workflow("kit-fan-out")
def fan_out(data: dict[str, Any]) -> Body:
    """Packs boxes in parallel, then ships."""
    packed = yield zart.parallel([pack(box) for box in range(data["boxes"])])
    yield ship({"id": "fan"})
    return packed


@zart.workflow("kit-child")
def child_body(data: dict[str, Any]) -> Body:
    return (yield charge(data))


@zart.workflow("kit-parent")
def parent(data: dict[str, Any]) -> Body:
    """Runs kit-child as a child workflow."""
    return {"child": (yield zart.child(child_body, data))}


@zart.workflow("kit-approval")
def approval(data: Any) -> Body:
    """Waits up to 3 days for the event "approved"."""
    try:
        decision = yield zart.wait_for_event("approved", timeout="3d")
    except zart.EventTimeout:
        return "expired"
    return decision["by"]


@zart.step("kit-flaky", retry=zart.fixed(3, "1h"))
def flaky() -> str:
    assert LEDGER is not None
    tries = LEDGER.counts()["flaky"] + 1
    effect("flaky")
    if tries < 3:
        raise ConnectionError(f"try {tries} failed")
    return f"ok after {tries}"


@zart.workflow("kit-retries")
def retries() -> Body:
    """A step that succeeds at its third attempt, an hour apart."""
    return (yield flaky())


@zart.step("kit-always-fails", retry=zart.fixed(1000, 0))
def always_fails() -> None:
    raise RuntimeError("never works")


@zart.workflow("kit-never-settles")
def never_settles() -> Body:
    """Retries at once, a thousand times."""
    yield always_fails()


@zart.workflow("kit-times")
def times() -> Body:
    """What zart.now() and the step's own clock read, a day apart."""
    before = yield zart.now("before")
    yield zart.sleep("wait", "1d")
    after = yield zart.now("after")
    return {"before": before.isoformat(), "after": after.isoformat(),
            "seconds": (after - before).total_seconds()}


@zart.step("kit-read-clock")
def read_clock() -> str:
    return datetime.now().astimezone().isoformat()


@zart.workflow("kit-queued", queue=zart.Queue("kit-queue", concurrency=1))
def queued(data: Any) -> Body:
    """A workflow whose executions go to a queue with a limit."""
    return (yield reserve(data))


@zart.workflow("kit-until-tomorrow")
def until_tomorrow() -> Body:
    """Sleeps until a day after the time it recorded."""
    started = yield zart.now("started")
    yield zart.sleep_until("tomorrow", started + timedelta(days=1))
    return "woke"
