"""Checkout, version 2 done right: the fraud check behind ``zart.patched("fraud-check")``.

An execution that reaches the check with this code runs it (and records the patch's marker);
one whose history already went past that point (started under version 1) replays without it.
``zart replay-check`` passes, and old and new executions both complete.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import zart


@zart.step("check-fraud")
def check_fraud(order: dict[str, Any]) -> float:
    """The fraud service's risk score, 0 (fine) to 1 (fraud)."""
    return 0.9 if order.get("card") == "stolen" else 0.1


@zart.step("charge")
def charge(order: dict[str, Any]) -> str:
    """Charge the card (the payment provider's transaction id)."""
    return f"txn-{order['id']}"


@zart.step("send-receipt")
def send_receipt(order: dict[str, Any], txn: str, tracking: str) -> str:
    """E-mail the receipt."""
    return f"receipt {order['id']}: {txn}, {tracking}"


@zart.workflow("checkout")
def checkout(order: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    """Check for fraud (executions that reach it now), charge, wait for "shipped", send the
    receipt."""
    score = None
    if (yield zart.patched("fraud-check")):
        score = yield check_fraud(order)
        if score > 0.8:
            return {"order": order["id"], "refused": "fraud", "fraud_score": score}
    txn = yield charge(order)
    shipped = yield zart.wait_for_event("shipped", timeout="7d")
    receipt = yield send_receipt(order, txn, shipped["tracking"])
    return {"order": order["id"], "txn": txn, "receipt": receipt, "fraud_score": score}
