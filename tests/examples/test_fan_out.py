"""examples/fan_out.py: each customer invoiced once by its own child workflow, even when the
worker dies right after an invoice was written and before its checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import psycopg
import pytest

import zart
from zart.testing import advance, crash_at, run_until_idle

from .conftest import loaded


@pytest.fixture(scope="module")
def fan_out() -> Iterator[ModuleType]:
    yield from loaded("fan_out")


@pytest.fixture
def invoices(fan_out: ModuleType, zart_app: zart.Zart, zart_dsn: str,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The example's invoices table, in the test's schema; invoices per customer."""
    monkeypatch.setattr(fan_out, "SCHEMA", zart_app.schema)
    with psycopg.connect(zart_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{zart_app.schema}".invoices (customer text, '
                     f"amount numeric)")

        def per_customer() -> dict[str, int]:
            return dict(conn.execute(f'SELECT customer, count(*)::int FROM '
                                     f'"{zart_app.schema}".invoices GROUP BY customer'))

        yield per_customer


def test_a_crash_between_an_invoice_and_its_checkpoint_invoices_nobody_twice(
        fan_out: ModuleType, zart_app: zart.Zart, invoices: Any) -> None:
    crash = crash_at(zart_app, fan_out.issue_invoice, when="after")
    parent = zart_app.start(fan_out.month_end_billing, fan_out.CUSTOMERS, id="billing-test")
    run_until_idle(zart_app)
    assert crash.happened and parent.status() == "waiting"
    advance(zart_app, "30s")  # the dead run's lease ends; the next run takes it over
    run_until_idle(zart_app)
    result = parent.result(timeout=0)
    assert sorted(result["failed"]) == ["globex"]
    # the transactional step's write rolled back with the crash: every customer once
    assert invoices() == {"acme": 1, "initech": 1, "umbrella": 1}
    assert len(parent.describe().children) == 4
