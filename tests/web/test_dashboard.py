"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): the pages load
without a console error, filters and pagination work, and an action clicked in the page
changes the execution in the database (checked through the library, not the page)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zart
from zart.web import create_app

from .conftest import OPERATE, TOKENS, wait_until

CHROMIUM = os.environ.get("ZART_CHROMIUM", "/usr/bin/chromium")

playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="the browser tests need playwright (zart[test])")
pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run "
                              f"does), or point ZART_CHROMIUM at one"),
    pytest.mark.usefixtures("web_worker"),
]
expect = playwright_api.expect


@pytest.fixture(scope="module")
def base_url(app: zart.Zart) -> Iterator[str]:
    """The app on waitress in a thread, on a free loopback port, mounted under /zart."""
    import waitress

    server = waitress.create_server(create_app(app, tokens=TOKENS), host="127.0.0.1", port=0,
                                    threads=8, url_prefix="/zart")
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}/zart"
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


class Console:
    """Every console error, uncaught exception and failed request of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                if r.status >= 400 else None)


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    """A page logged in with the operate token through the login form."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.console = Console(tab)
    tab.goto(f"{base_url}/")
    expect(tab).to_have_url(f"{base_url}/login")
    tab.fill("input[name=token]", OPERATE)
    tab.click("button[type=submit]")
    expect(tab.locator("#who")).to_have_text("operate (session)")
    yield tab
    context.close()


def settled(app: zart.Zart, execution_id: str, status: str) -> None:
    wait_until(lambda: app.handle(execution_id).status() == status,
               what=f"{execution_id} to be {status}")


def test_every_page_loads_without_a_console_error(page: Any, base_url: str,
                                                  app: zart.Zart) -> None:
    app.start("web-fanout", {"n": 3}, id="ui-fan-1")
    settled(app, "ui-fan-1", "completed")
    expect(page.locator(".count[data-status=completed] b")).not_to_have_text("0")
    expect(page.locator("#activity .col").first).to_be_visible()
    expect(page.locator("#workers td").first).to_be_visible()
    page.click("text=Executions")
    expect(page.locator("#executions tr[data-id=ui-fan-1]")).to_be_visible()
    page.click("a:text('ui-fan-1')")
    expect(page.locator("#result")).to_have_text("96")  # 2 * (2*6 + 6*6)
    expect(page.locator(".timeline .label.group")).to_have_text("parallel \u00d7 2")
    expect(page.locator(".seg.sleep")).to_have_count(1)
    page.locator(".lane[data-seq='0'] .seg").first.click()
    expect(page.locator("#details h2").first).to_have_text("#0 step web-double")
    expect(page.locator("#details .value")).to_have_text("6")
    assert page.console.errors == []


def test_filters_and_pagination_show_the_matching_executions(page: Any, base_url: str,
                                                            app: zart.Zart) -> None:
    for n in range(30):
        app.start("web-approval", None, id=f"ui-page-{n:02d}")
    app.cancel("ui-page-07")
    page.goto(f"{base_url}/#/executions?id_prefix=ui-page-")
    expect(page.locator("#executions tbody tr")).to_have_count(25)
    expect(page.locator("#executions tbody tr").first).to_have_attribute("data-id", "ui-page-29")
    page.click("#next")
    expect(page.locator("#executions tbody tr")).to_have_count(5)
    expect(page.locator("#executions tbody tr").last).to_have_attribute("data-id", "ui-page-00")
    page.click("#prev")
    expect(page.locator("#executions tbody tr")).to_have_count(25)
    page.check("input[name=status][value=cancelled]")
    page.click("#filters button[type=submit]")
    expect(page.locator("#executions tbody tr")).to_have_count(1)
    expect(page.locator("#executions tbody tr")).to_have_attribute("data-id", "ui-page-07")
    assert "status=cancelled" in page.url
    assert page.console.errors == []


def test_cancel_and_send_event_clicked_in_the_page_change_the_execution(
        page: Any, base_url: str, app: zart.Zart) -> None:
    app.start("web-approval", None, id="ui-cancel-1")
    app.start("web-approval", None, id="ui-event-1")
    settled(app, "ui-event-1", "waiting")
    page.goto(f"{base_url}/#/executions/ui-cancel-1")
    page.click("#do-cancel")
    page.click("#do-cancel")  # the second click confirms
    settled(app, "ui-cancel-1", "cancelled")
    expect(page.locator("h1 .badge")).to_have_text("cancelled")
    page.goto(f"{base_url}/#/executions/ui-event-1")
    expect(page.locator("#event-name")).to_have_value("approved")
    page.fill("#event-payload", '{"by": "dana"}')
    page.click("#event-form button")
    settled(app, "ui-event-1", "completed")
    assert app.handle("ui-event-1").result() == {"approved_by": "dana"}
    assert page.console.errors == []


def test_retry_and_rerun_from_a_step_picked_on_the_timeline(
        page: Any, base_url: str, app: zart.Zart, tmp_path: Path) -> None:
    fix = tmp_path / "fixed"
    app.start("web-order", {"id": "o-7", "fixed_if": str(fix)}, id="ui-retry-1")
    settled(app, "ui-retry-1", "failed")
    page.goto(f"{base_url}/#/executions/ui-retry-1")
    expect(page.locator("#error")).to_contain_text("PaymentError: card processor rejected")
    expect(page.locator(".lane[data-seq='1'] .seg.failed")).to_have_count(3)
    expect(page.locator(".lane[data-seq='1'] .seg.delay")).to_have_count(2)
    fix.touch()
    page.click("#do-retry")
    settled(app, "ui-retry-1", "completed")
    expect(page.locator("h1 .badge")).to_have_text("completed")
    page.locator(".label[data-seq='1']").click()
    page.click("#do-rerun")
    page.click("#do-rerun")
    wait_until(lambda: app.handle("ui-retry-1").describe().run == 2, what="a second run")
    settled(app, "ui-retry-1", "completed")
    detail = app.handle("ui-retry-1").describe()
    assert detail.runs[-1].rerun_from == "web-charge" and detail.actions[-1].action == "rerun"
    assert page.console.errors == []


def test_a_pause_rule_is_created_and_lifted_from_the_overview(page: Any, base_url: str,
                                                              app: zart.Zart) -> None:
    page.goto(f"{base_url}/#/")
    page.fill("#pause-form input[name=workflow]", "web-never")
    page.fill("#pause-form input[name=reason]", "stocktake")
    page.click("#pause-form button")
    wait_until(lambda: [r.reason for r in app.pauses()] == ["stocktake"], what="the rule")
    [rule] = app.pauses()
    page.click(f"#pause-rules tr[data-rule='{rule.id}'] button")
    wait_until(lambda: app.pauses() == [], what="the rule to be lifted")
    assert page.console.errors == []


def test_a_schedule_is_paused_resumed_and_run_now_from_the_overview(page: Any, base_url: str,
                                                                    app: zart.Zart) -> None:
    app.schedules.create("ui-nightly", "web-approval", "0 3 * * *", tz="Europe/Paris",
                         data={"amount": 3})
    page.goto(f"{base_url}/#/")
    row = "#schedules tr[data-schedule='ui-nightly']"
    page.wait_for_selector(f"{row} >> text=0 3 * * * (Europe/Paris)")
    page.click(f"{row} button:has-text('Pause')")
    wait_until(lambda: app.schedules.get("ui-nightly").paused, what="the schedule to pause")
    page.click(f"{row} button:has-text('Resume')")
    wait_until(lambda: not app.schedules.get("ui-nightly").paused, what="it to resume")
    page.click(f"{row} button:has-text('Run now')")
    wait_until(lambda: app.executions(id_prefix="ui-nightly@manual-").items,
               what="the execution it started")
    app.schedules.delete("ui-nightly")
    assert page.console.errors == []
