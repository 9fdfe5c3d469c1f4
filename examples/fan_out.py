"""A parent workflow fanning out to child workflows: ``zart.child`` inside ``zart.parallel``.

Month-end billing: the parent starts one ``invoice-customer`` child workflow per customer,
side by side, and collects their results. Each child is a workflow of its own (its own
steps, retries, history and page in ``zart show``), started durably: the child's id is
derived from the parent's id and the command's name, so a parent that crashes and replays
never starts a second child. With ``return_exceptions=True`` a child that fails comes back
as a ``zart.ChildFailed`` in the list instead of failing the parent.

One customer ("globex") has no payment method on file: its child fails, the others are
invoiced, and the parent reports it. Each invoice is recorded in a table by a transactional
step: the evidence that every customer was invoiced at most once.

Run it with ``python examples/fan_out.py`` (embedded PostgreSQL unless ``ZART_DATABASE_URL``
is set).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from typing import Any

import psycopg

import zart
from zart.embedded import embedded_dsn

SCHEMA = "example_fan_out"
CUSTOMERS = {"acme": 120.0, "globex": 75.5, "initech": 40.0, "umbrella": 310.25}
NO_PAYMENT_METHOD = {"globex"}


def say(message: str = "") -> None:
    """Print at once."""
    print(message, flush=True)


@zart.step("issue-invoice", transactional=True)
def issue_invoice(customer: str, amount: float) -> str:
    """Record the invoice in the checkpoint's transaction: invoiced once, or not at all."""
    if customer in NO_PAYMENT_METHOD:
        raise zart.NonRetryableError(f"{customer} has no payment method on file")
    conn = zart.context().connection
    conn.execute(f"INSERT INTO {SCHEMA}.invoices (customer, amount) VALUES (%s, %s)",
                 (customer, amount))
    return f"INV-{customer.upper()}"


@zart.workflow("invoice-customer")
def invoice_customer(data: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    """One customer's month-end invoice (a child workflow)."""
    number = yield issue_invoice(data["customer"], data["amount"])
    return {"customer": data["customer"], "invoice": number}


@zart.workflow("month-end-billing", timeout="1h")
def month_end_billing(customers: dict[str, float]) -> Generator[Any, Any, dict[str, Any]]:
    """Invoice every customer in a child workflow of its own, side by side."""
    outcomes = yield zart.parallel(
        *[zart.child(invoice_customer, {"customer": name, "amount": amount},
                     name=f"invoice-{name}") for name, amount in customers.items()],
        return_exceptions=True)
    invoiced, failed = [], {}
    for name, outcome in zip(customers, outcomes, strict=True):
        if isinstance(outcome, zart.ChildFailed):
            failed[name] = outcome.message
        else:
            invoiced.append(outcome["invoice"])
    return {"invoiced": invoiced, "failed": failed}


def reset(dsn: str) -> None:
    """Drop this example's own schema so every run starts clean."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def main() -> int:
    """Run the billing; 0 if every customer but globex was invoiced exactly once."""
    say("== zart example: a parent fanning out to child workflows ==")
    dsn = os.environ.get("ZART_DATABASE_URL") or embedded_dsn()
    reset(dsn)
    app = zart.Zart(dsn, schema=SCHEMA)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {SCHEMA}.invoices (customer text, amount numeric)")
    with app.worker(threads=6, lease=5, poll_interval=0.5):
        parent = app.start(month_end_billing, CUSTOMERS, id="billing-2026-11")
        result = parent.result(timeout=60)
        detail = parent.describe()
    say(f"Invoiced: {', '.join(result['invoiced'])}")
    for name, reason in result["failed"].items():
        say(f"Failed:   {name}: {reason}")
    say(f"\nThe parent's page lists its {len(detail.children)} children:")
    for child in detail.children:
        say(f"  {child.id}  {child.workflow}  {child.status}")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"SELECT customer, count(*) FROM {SCHEMA}.invoices "
                            f"GROUP BY customer ORDER BY customer").fetchall()
    app.close()
    expected = sorted(set(CUSTOMERS) - NO_PAYMENT_METHOD)
    if rows == [(name, 1) for name in expected] and set(result["failed"]) == NO_PAYMENT_METHOD \
            and len(detail.children) == len(CUSTOMERS):
        say("OK: every customer was invoiced once by its own child workflow; globex's "
            "failure came back as a ChildFailed.")
        return 0
    say(f"WRONG: invoices per customer {rows}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
