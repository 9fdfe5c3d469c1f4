"""The README's "Testing workflows" snippets, run as written, on the README's own example
workflow (charge, a 2 s cool-off, the "shipped" event)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

import zart
from zart.testing import advance, crash_at, isolated_registry, run_until_idle

from . import steps
from .ledger import Ledger


@pytest.fixture(scope="module")
def readme() -> Iterator[dict[str, Any]]:
    """The README's example, registered apart from the rest of the suite."""
    with isolated_registry():
        @zart.step("charge", retry=zart.exponential(3, "1s"))
        def charge(order_id: str, amount: float) -> str:
            if steps.LEDGER is not None:
                steps.LEDGER.record("charge")
            return f"txn-{order_id}"

        @zart.workflow("checkout", timeout="30m")
        def checkout(order: dict[str, Any]) -> Generator[Any, Any, Any]:
            txn = yield charge(order["id"], order["amount"])
            yield zart.sleep("cool-off", "2s")
            shipped = yield zart.wait_for_event("shipped", timeout="7d")
            return {"txn": txn, "tracking": shipped["tracking"]}

        yield {"charge": charge, "checkout": checkout}


def test_checkout_completes_once_shipped(readme: dict[str, Any], zart_app: zart.Zart) -> None:
    checkout = readme["checkout"]
    handle = zart_app.start(checkout, {"id": "o-1", "amount": 9.5})
    run_until_idle(zart_app)
    assert handle.status() == "waiting"
    advance(zart_app, "2s")
    zart_app.send_event(handle.id, "shipped", {"tracking": "UPS-1"})
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == {"txn": "txn-o-1", "tracking": "UPS-1"}


def test_a_crash_after_charging_charges_again(readme: dict[str, Any], zart_app: zart.Zart,
                                              ledger: Ledger) -> None:
    charge, checkout = readme["charge"], readme["checkout"]
    crash = crash_at(zart_app, charge, when="after")
    zart_app.start(checkout, {"id": "o-7", "amount": 5})
    run_until_idle(zart_app)
    assert crash.happened and ledger.counts()["charge"] == 1
    advance(zart_app, "30s")
    run_until_idle(zart_app)
    assert ledger.counts()["charge"] == 2
