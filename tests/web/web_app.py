"""Workflows the web tests drive through the HTTP API and the dashboard."""

from __future__ import annotations

import os
from typing import Any

import zart


class PaymentError(Exception):
    """The payment provider refused the charge."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@zart.step("web-reserve")
def reserve(order: dict[str, Any]) -> dict[str, Any]:
    return {"order": order["id"], "items": 2}


@zart.step("web-charge", retry=zart.fixed(2, "50ms"))
def charge(order: dict[str, Any]) -> str:
    # Fails until the file named in the input exists: a test makes the "fix" between the
    # failure and the retry, as an operator would deploy one.
    if not os.path.exists(order.get("fixed_if", "/nonexistent")):
        raise PaymentError("card processor rejected the API key", code=401)
    return f"txn-{order['id']}"


@zart.workflow("web-order")
def order(data: Any) -> Any:
    """Reserve, charge (failing until fixed), then wait for "shipped"."""
    reservation = yield reserve(data)
    txn = yield charge(data)
    return {"reservation": reservation, "txn": txn}


@zart.workflow("web-approval")
def approval(data: Any) -> Any:
    """Waits for the event ``approved``."""
    decision = yield zart.wait_for_event("approved", timeout="1h")
    return {"approved_by": decision["by"]}


@zart.step("web-double")
def double(n: int) -> int:
    return 2 * n


@zart.step("web-square")
def square(n: int) -> int:
    return n * n


@zart.workflow("web-fanout")
def fanout(data: Any) -> Any:
    """A step, a short sleep, two parallel children, a step."""
    a = yield double(data["n"])
    yield zart.sleep("web-nap", "50ms")
    b, c = yield zart.parallel(double(a).named("web-left"), square(a).named("web-right"))
    return (yield double(b + c).named("web-last"))
