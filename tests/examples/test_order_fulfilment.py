"""examples/order_fulfilment.py, the main demo, without its subprocess and its seconds: the
gateway failure is retried, the worker dies in the middle of "reserve", and a takeover finishes
the order. Side effects are counted in the demo's own table, as the demo counts them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from types import ModuleType

import psycopg
import pytest

import zart
from zart.testing import DEFAULT_LEASE, advance, crash_at, run_until_idle

from .conftest import loaded

ORDER = {"id": "order-1001", "email": "ada@example.com",
         "items": [{"sku": "KB-42", "price": 59.90, "quantity": 1},
                   {"sku": "MOUSE-7", "price": 24.50, "quantity": 2}]}


@pytest.fixture(scope="module")
def demo() -> Iterator[ModuleType]:
    yield from loaded("order_fulfilment")


@pytest.fixture
def effects(demo: ModuleType, zart_app: zart.Zart,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection[tuple[int]]]:
    """The demo's effects table, in the test's schema; the reserve step's 2.5 s are skipped."""
    monkeypatch.setattr(demo, "SCHEMA", zart_app.schema)
    monkeypatch.setattr(demo, "RESERVE_SECONDS", 0)
    monkeypatch.setenv("ZART_DATABASE_URL", zart_app.dsn)
    with psycopg.connect(zart_app.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{zart_app.schema}".effects (id serial PRIMARY KEY, '
                     "order_id text, action text, detail text, pid int, at timestamptz)")
        yield conn  # type: ignore[misc]


def counts(conn: psycopg.Connection[tuple[int]], schema: str) -> Counter[str]:
    rows = conn.execute(f'SELECT action, count(*) FROM "{schema}".effects GROUP BY action')
    return Counter({action: n for action, n in rows})  # type: ignore[misc]


def test_a_crash_mid_reserve_costs_one_repeated_reservation_and_nothing_else(
        demo: ModuleType, zart_app: zart.Zart, effects: psycopg.Connection[tuple[int]]) -> None:
    app, schema = zart_app, zart_app.schema
    crash = crash_at(app, demo.reserve, when="after")
    handle = app.start(demo.fulfil_order, ORDER, id=ORDER["id"])

    run_until_idle(app)  # validate; the gateway times out on the first charge
    assert counts(effects, schema) == {"charge-failed": 1}
    advance(app, "500ms")  # the retry's delay
    run_until_idle(app)  # charged; reserve runs, and the worker dies before its checkpoint
    assert crash.crashed == [ORDER["id"]]
    assert counts(effects, schema) == {"charge-failed": 1, "charge": 1, "reserve": 1}
    assert handle.status() == "running"

    advance(app, DEFAULT_LEASE)  # the dead worker's lease runs out; the takeover replays
    run_until_idle(app)  # reserve again (at least once), then the durable sleep
    advance(app, "1s")
    run_until_idle(app)  # now waiting for "shipped"
    assert handle.status() == "waiting"
    app.send_event(ORDER["id"], "shipped", {"carrier": "DHL", "tracking": "DHL-00042"})
    run_until_idle(app)

    result = handle.result(timeout=0)
    assert counts(effects, schema) == {"charge-failed": 1, "charge": 1, "reserve": 2,
                                       "receipt": 1}
    [(txn,)] = effects.execute(f'SELECT detail FROM "{schema}".effects '
                               "WHERE action = 'charge'").fetchall()
    assert result == {"order": ORDER["id"], "total": 108.9, "txn": txn,
                      "reservation": f"res-{ORDER['id']}", "tracking": "DHL-00042"}


def test_an_order_never_shipped_fails_at_the_wait_timeout(
        demo: ModuleType, zart_app: zart.Zart, effects: psycopg.Connection[tuple[int]]) -> None:
    handle = zart_app.start(demo.fulfil_order, ORDER, id=ORDER["id"])
    for delay in ("500ms", "1s", "5m"):
        run_until_idle(zart_app)
        advance(zart_app, delay)
    run_until_idle(zart_app)
    with pytest.raises(zart.WorkflowFailed, match="EventTimeout"):
        handle.result(timeout=0)
    assert counts(effects, zart_app.schema)["receipt"] == 0
