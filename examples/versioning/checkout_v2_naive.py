"""Checkout, version 2 done wrong: a fraud check added at the top, with nothing else.

Executions started under version 1 recorded ``step 'charge'`` at position 0; this code yields
``step 'check-fraud'`` there, so each of them would fail with ``zart.NonDeterminismError`` at
its next wake-up (the "shipped" event). ``zart replay-check`` says so before the deploy.
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
    """Check for fraud, charge, wait up to a week for "shipped", send the receipt."""
    score = yield check_fraud(order)
    if score > 0.8:
        return {"order": order["id"], "refused": "fraud", "fraud_score": score}
    txn = yield charge(order)
    shipped = yield zart.wait_for_event("shipped", timeout="7d")
    receipt = yield send_receipt(order, txn, shipped["tracking"])
    return {"order": order["id"], "txn": txn, "receipt": receipt, "fraud_score": score}
