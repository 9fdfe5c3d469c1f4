"""Order fulfilment with a simulated crash: the main zart demo.

The workflow validates an order, charges the card (the payment gateway fails once, the retry
policy tries again), reserves stock in the warehouse, sleeps durably, waits for the warehouse's
"shipped" event and e-mails a receipt.

To show what durability buys, the demo runs the first worker in a child process and kills it
with SIGKILL while the slow "reserve" step is in flight. A fresh worker, started afterwards,
takes the execution over once the dead worker's lease expires and finishes it:

* the charge is NOT repeated: its outcome was checkpointed before the crash, so the replay
  hands the stored transaction id to the workflow instead of calling the gateway again;
* the reserve step runs a second time: a step that was cut short by a crash re-runs (steps run
  at least once), which is why the warehouse call carries the order id as an idempotency key.

Every side effect is written to the table ``example_orders.effects`` so that the demo can
count them at the end; it exits 0 only if the counts are what durable execution promises.

Run it with ``make demo`` or ``python examples/order_fulfilment.py`` (without
``ZART_DATABASE_URL`` it uses the embedded PostgreSQL in ``./.zart/pgdata``). The argument
``--worker`` is for the child process the demo starts itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Generator
from typing import Any

import psycopg

import zart
from zart.embedded import embedded_dsn

SCHEMA = "example_orders"
ORDER_ID = "order-1001"
RESERVE_SECONDS = 2.5  # long enough to kill the worker in the middle of it


def say(message: str = "") -> None:
    """Print at once: the child process shares this terminal."""
    print(message, flush=True)


# -- side effects: what the outside world sees, counted in a table of our own ---------------


def record(order_id: str, action: str, detail: str) -> None:
    """Write one side effect to ``example_orders.effects`` (its own connection, autocommit)."""
    with psycopg.connect(os.environ["ZART_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {SCHEMA}.effects (order_id, action, detail, pid) "
            "VALUES (%s, %s, %s, %s)", (order_id, action, detail, os.getpid()))


def count(conn: psycopg.Connection[Any], action: str) -> int:
    """How many times ``action`` happened for the demo's order."""
    row = conn.execute(f"SELECT count(*) FROM {SCHEMA}.effects WHERE order_id = %s "
                       "AND action = %s", (ORDER_ID, action)).fetchone()
    return int(row[0]) if row else 0


# -- steps ------------------------------------------------------------------------------------


@zart.step("validate")
def validate(order: dict[str, Any]) -> float:
    """Check the order and return its total."""
    if not order["items"]:
        raise ValueError("an order needs at least one item")
    total = round(sum(float(i["price"]) * int(i["quantity"]) for i in order["items"]), 2)
    say(f"  [pid {os.getpid()}] validate: {len(order['items'])} item(s), total {total:.2f}")
    return total


@zart.step("charge", retry=zart.exponential(3, "500ms"))
def charge(order_id: str, amount: float) -> str:
    """Charge the card. The simulated gateway times out on the first attempt."""
    ctx = zart.context()
    if ctx.attempt == 1:
        record(order_id, "charge-failed", "gateway timeout")
        say(f"  [pid {os.getpid()}] charge: attempt {ctx.attempt}/{ctx.max_attempts} failed "
            "(payment gateway timed out); zart retries it in 0.5 s")
        raise TimeoutError("payment gateway timed out")
    txn = f"txn-{uuid.uuid4().hex[:8]}"
    record(order_id, "charge", txn)
    say(f"  [pid {os.getpid()}] charge: attempt {ctx.attempt}/{ctx.max_attempts} captured "
        f"{amount:.2f} as {txn}")
    return txn


@zart.step("reserve")
def reserve(order_id: str, items: list[dict[str, Any]]) -> str:
    """Reserve stock in the (slow) warehouse system; the order id is the idempotency key."""
    record(order_id, "reserve", f"{len(items)} item(s)")
    say(f"  [pid {os.getpid()}] reserve: asking the warehouse to hold {len(items)} item(s) "
        f"(takes {RESERVE_SECONDS} s)...")
    time.sleep(RESERVE_SECONDS)
    reservation = f"res-{order_id}"
    say(f"  [pid {os.getpid()}] reserve: done, reservation {reservation}")
    return reservation


@zart.step("send-receipt")
def send_receipt(order_id: str, email: str, txn: str, tracking: str) -> str:
    """E-mail the receipt."""
    record(order_id, "receipt", f"{txn} {tracking}")
    say(f"  [pid {os.getpid()}] send-receipt: mailed {email}: paid by {txn}, "
        f"tracking {tracking}")
    return "sent"


# -- the workflow -------------------------------------------------------------------------------


@zart.workflow("order-fulfilment", timeout="10m")
def fulfil_order(order: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    """Validate, charge, reserve, let the warehouse pick, wait until shipped, send a receipt."""
    total = yield validate(order)
    txn = yield charge(order["id"], total)
    reservation = yield reserve(order["id"], order["items"])
    yield zart.sleep("let-warehouse-pick", "1s")
    shipped = yield zart.wait_for_event("shipped", timeout="5m")
    yield send_receipt(order["id"], order["email"], txn, shipped["tracking"])
    return {"order": order["id"], "total": total, "txn": txn, "reservation": reservation,
            "tracking": shipped["tracking"]}


# -- the two roles of this script ---------------------------------------------------------------


def run_worker() -> None:
    """Child process: a worker that runs until it is killed (or gets SIGINT/SIGTERM)."""
    app = zart.Zart(schema=SCHEMA)  # ZART_DATABASE_URL comes from the parent
    say(f"  [pid {os.getpid()}] worker process started (lease 2 s)")
    app.worker(threads=4, lease=2, poll_interval=0.5).run()


def reset(dsn: str) -> None:
    """Drop this demo's own schema so every run starts clean; nothing else is touched."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate`` until it is true, or exit with an error after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"FAILED: timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def main() -> int:
    """Run the demo; 0 if every count is right."""
    say("== zart demo: order fulfilment with a crash in the middle ==")
    dsn = os.environ.get("ZART_DATABASE_URL") or embedded_dsn()
    where = "ZART_DATABASE_URL" if os.environ.get("ZART_DATABASE_URL") else \
        "the embedded PostgreSQL in ./.zart/pgdata"
    say(f"database: {where}; schema {SCHEMA!r} (reset for a clean run)")
    reset(dsn)
    app = zart.Zart(dsn, schema=SCHEMA)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {SCHEMA}.effects (id serial PRIMARY KEY, order_id text, "
                     "action text, detail text, pid int, at timestamptz DEFAULT now())")
    os.environ["ZART_DATABASE_URL"] = app.dsn  # the child (and our steps) use the same server

    order = {"id": ORDER_ID, "email": "ada@example.com",
             "items": [{"sku": "KB-42", "price": 59.90, "quantity": 1},
                       {"sku": "MOUSE-7", "price": 24.50, "quantity": 2}]}
    handle = app.start(fulfil_order, order, id=ORDER_ID)
    say(f"\n1. Started execution {handle.id!r}; it is {handle.status()}.")

    say("\n2. A worker in a child process picks it up:")
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"],
                             env=dict(os.environ))
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            def reserving() -> bool:
                if child.poll() is not None:
                    raise SystemExit(f"FAILED: the worker exited early ({child.returncode})")
                return count(conn, "reserve") > 0

            wait_for(reserving, 30, "the reserve step to start")
            time.sleep(0.3)
            say(f"\n3. CRASH: kill -9 the worker process (pid {child.pid}) while 'reserve' "
                "is running.")
            child.send_signal(signal.SIGKILL)
            child.wait()
            say(f"   The execution is still {handle.status()!r}: its lease names the dead "
                "worker, and nobody renews it any more.")
            say(f"   So far: charge succeeded {count(conn, 'charge')}x, reserve started "
                f"{count(conn, 'reserve')}x, receipt sent {count(conn, 'receipt')}x.")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    say("\n4. A fresh worker starts in this process (lease 2 s). Once the dead worker's "
        "lease\n   expires it takes the execution over and replays its history: validate "
        "and charge\n   come from their checkpoints, reserve runs again.")
    with app.worker(threads=4, lease=2, poll_interval=0.5):
        tracking = "DHL-00042"
        app.send_event(ORDER_ID, "shipped", {"carrier": "DHL", "tracking": tracking})
        say(f"   The warehouse ships the parcel: event 'shipped' sent (tracking {tracking}); "
            "zart\n   keeps it in the execution's inbox until the workflow waits for it.")
        result = handle.result(timeout=60)
    say(f"\n5. Execution {handle.id!r} is {handle.status()}: {result}")

    with psycopg.connect(dsn, autocommit=True) as conn:
        counts = {a: count(conn, a) for a in ("charge-failed", "charge", "reserve", "receipt")}
        charge_txn = conn.execute(f"SELECT detail FROM {SCHEMA}.effects WHERE action = "
                                  "'charge'").fetchone()
    app.close()

    checks = [
        ("the gateway failure was retried (1 failed attempt)", counts["charge-failed"] == 1),
        ("charge ran once: the card was charged exactly 1 time", counts["charge"] == 1),
        ("the receipt carries the transaction id of that one charge",
         charge_txn is not None and result["txn"] == charge_txn[0]),
        ("reserve ran again after the crash (at least once: 2 runs)", counts["reserve"] == 2),
        ("the receipt was sent once", counts["receipt"] == 1),
        ("the workflow got the tracking number from the 'shipped' event",
         result["tracking"] == "DHL-00042"),
    ]
    say("\nSummary:")
    for text, ok in checks:
        say(f"  [{'ok' if ok else 'WRONG'}] {text}")
    if all(ok for _, ok in checks):
        say("\nAll good: the crash cost one repeated reservation and nothing else.")
        return 0
    say("\nFAILED: the side effects are not what durable execution promises.")
    return 1


if __name__ == "__main__":
    if "--worker" in sys.argv[1:]:
        run_worker()
    else:
        sys.exit(main())
