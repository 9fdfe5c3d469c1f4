"""Checkout, version 1: charge the card, wait until the warehouse ships, send the receipt.

One of the four versions of the README's walk-through "Changing a workflow safely" (not a
script: pass it to ``zart worker`` or ``zart replay-check``). Every version defines the same
workflow, ``checkout``; only one is deployed at a time.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import zart


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
    """Charge, wait up to a week for "shipped", send the receipt."""
    txn = yield charge(order)
    shipped = yield zart.wait_for_event("shipped", timeout="7d")
    receipt = yield send_receipt(order, txn, shipped["tracking"])
    return {"order": order["id"], "txn": txn, "receipt": receipt, "fraud_score": None}
