"""Workflows the CLI tests drive. Both the test process (its worker runs them) and the ``zart``
subprocess (``--module tests.cli.cli_app``) import this module, so both know them."""

from __future__ import annotations

import os
from typing import Any

import zart


class PaymentError(Exception):
    """The payment provider refused the charge."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@zart.step("cli-greet")
def greet(name: str) -> str:
    return f"hello {name}"


@zart.workflow("cli-hello")
def hello(data: Any) -> Any:
    """One step: completes at once."""
    text = yield greet(data["name"])
    return {"greeting": text}


@zart.step("cli-reserve")
def reserve(order: dict[str, Any]) -> dict[str, Any]:
    return {"order": order["id"], "items": 2}


@zart.step("cli-charge", retry=zart.fixed(2, 0))
def charge(order: dict[str, Any]) -> str:
    # "Fixed" once the file named in the input exists: the test makes the fix between the
    # failure and the retry, as an operator would deploy one.
    if not os.path.exists(order["fixed_if"]):
        raise PaymentError("card processor rejected the API key", code=401)
    return f"txn-{order['id']}"


@zart.workflow("cli-order")
def order(data: Any) -> Any:
    """Fails at its second step until the fix exists; then ``zart retry`` completes it."""
    reservation = yield reserve(data)
    txn = yield charge(data)
    return {"reservation": reservation, "txn": txn}


@zart.workflow("cli-approval")
def approval(data: Any) -> Any:
    """Waits for the event ``approved`` (no deadline)."""
    decision = yield zart.wait_for_event("approved")
    yield greet(decision["by"])
    return decision


@zart.step("cli-first")
def first() -> int:
    return 1


@zart.step("cli-second")
def second() -> int:
    return 2


@zart.workflow("cli-two-steps")
def two_steps(data: Any) -> Any:
    """Two steps, to rerun from the second."""
    a = yield first()
    b = yield second()
    return a + b
