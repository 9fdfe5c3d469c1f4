"""Takes the dashboard screenshots in docs/ (not a test): a shop's executions in a schema of
their own, the app on waitress, Debian's Chromium through Playwright.

    ZART_DATABASE_URL=postgresql://... .venv/bin/python -m tests.web.screenshots [docs]
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import waitress
from playwright.sync_api import sync_playwright

import zart
from zart.web import create_app

SCHEMA = "dashboard_screenshots"


@zart.step("reserve-stock")
def reserve_stock(order: dict[str, Any]) -> dict[str, Any]:
    time.sleep(0.05)
    return {"sku": order["sku"], "reserved": order["qty"]}


@zart.step("charge-card", retry=zart.fixed(3, "150ms"))
def charge_card(order: dict[str, Any]) -> str:
    time.sleep(0.04)
    if order.get("declined") or zart.context().attempt < order.get("flaky", 1):
        raise ConnectionError("payment provider timed out")
    return f"txn-{order['id']}"


@zart.step("pack-item")
def pack_item(item: str) -> str:
    time.sleep(random.uniform(0.05, 0.25))
    return f"packed {item}"


@zart.step("ship")
def ship(order: dict[str, Any]) -> dict[str, str]:
    time.sleep(0.03)
    return {"carrier": "UPS", "tracking": f"1Z-{order['id']}"}


@zart.workflow("fulfil-order")
def fulfil_order(order: dict[str, Any]) -> Any:
    yield reserve_stock(order)
    txn = yield charge_card(order)
    yield zart.sleep("cool-off", "300ms")
    yield zart.parallel(*[pack_item(item).named(f"pack-{item}") for item in order["items"]])
    if order.get("approval"):
        yield zart.wait_for_event("approved", timeout="2d")
    shipment = yield ship(order)
    return {"txn": txn, **shipment}


def main(out: Path) -> None:
    with psycopg.connect(os.environ["ZART_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    app = zart.Zart(schema=SCHEMA)
    server = waitress.create_server(create_app(app, tokens=""), host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{server.effective_port}/"
    with app.worker(threads=4, lease=5.0, poll_interval=0.2):
        for n in range(1, 19):
            order = {"id": f"order-{1000 + n}", "sku": "mug", "qty": n % 3 + 1,
                     "items": ["mug", "box", "card"][: 1 + n % 3], "flaky": 1 + n % 3,
                     "declined": n in (7, 13), "approval": n in (16, 18)}
            app.start(fulfil_order, order, id=order["id"])
        app.start(fulfil_order, {"id": "order-1042", "sku": "teapot", "qty": 1, "flaky": 3,
                                 "items": ["teapot", "box", "card"]}, id="order-1042")
        app.handle("order-1042").result(timeout=60)
        app.schedules.create("nightly-restock", "fulfil-order", "0 3 * * *", tz="Europe/Paris",
                             data={"id": "restock", "sku": "mug", "qty": 50})
        deadline = time.monotonic() + 60
        while any(app.executions(status=["pending", "running"]).items):
            if time.monotonic() > deadline:
                raise SystemExit("the demo executions did not settle")
            time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1320, "height": 860})
            page.goto(url)
            page.select_option("#span", "1h")
            page.wait_for_selector("#activity .col")
            page.wait_for_selector("#workers td")
            page.wait_for_selector("#schedules td")
            page.screenshot(path=str(out / "dashboard-overview.png"), full_page=True)
            page.goto(f"{url}#/executions/order-1042")
            page.wait_for_selector(".timeline .seg")
            page.locator(".label", has_text="charge-card").click()
            page.wait_for_selector("#details .attempts")
            page.screenshot(path=str(out / "dashboard-execution.png"), full_page=True)
            page.goto(f"{url}#/executions")
            page.wait_for_selector("#executions tbody tr")
            page.screenshot(path=str(out / "dashboard-executions.png"))
            browser.close()
    server.close()
    app.close()
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
