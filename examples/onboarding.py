"""User onboarding: wait for an event with a timeout, and handle the timeout in plain Python.

Each new user gets a welcome e-mail and a billing account, then the workflow waits up to two
seconds for the event "email-confirmed" (in real life: days). Two users sign up:

* alice clicks the confirmation link: the event arrives, her account is activated;
* bob never clicks: ``zart.wait_for_event`` raises ``zart.EventTimeout`` at the ``yield``, and
  the workflow catches it with an ordinary ``try/except`` and sends him a reminder.

While a workflow waits, it holds no thread: the execution is suspended in the database and
resumes when the event (or the timeout) comes. The timeout is a recorded outcome, so a replay
takes the same branch.

Run it with ``python examples/onboarding.py`` (embedded PostgreSQL unless
``ZART_DATABASE_URL`` is set).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Generator
from typing import Any

import psycopg

import zart
from zart.embedded import embedded_dsn

SCHEMA = "example_onboarding"


def say(message: str = "") -> None:
    """Print at once."""
    print(message, flush=True)


@zart.step("send-welcome-email")
def send_welcome_email(user: str, email: str) -> None:
    """Send the welcome e-mail with the confirmation link."""
    say(f"  [{user}] welcome e-mail with a confirmation link sent to {email}")


@zart.step("setup-billing", retry=zart.fixed(2, "200ms"))
def setup_billing(user: str) -> str:
    """Create the customer in the billing system."""
    customer = f"cus_{user}_0001"
    say(f"  [{user}] billing account {customer} created")
    return customer


@zart.step("activate-account")
def activate_account(user: str, confirmed_at: str) -> None:
    """Unlock the account."""
    say(f"  [{user}] e-mail confirmed at {confirmed_at}: account activated")


@zart.step("send-reminder")
def send_reminder(user: str, email: str) -> None:
    """Nudge a user who did not confirm in time."""
    say(f"  [{user}] no confirmation in time: reminder sent to {email}")


@zart.workflow("onboarding", timeout="1h")
def onboard(user: dict[str, str]) -> Generator[Any, Any, dict[str, Any]]:
    """Welcome, billing, then wait for the e-mail confirmation (or remind on timeout)."""
    name = user["name"]
    yield send_welcome_email(name, user["email"])
    customer = yield setup_billing(name)
    try:
        confirmation = yield zart.wait_for_event("email-confirmed", timeout="2s")
    except zart.EventTimeout:
        yield send_reminder(name, user["email"])
        return {"user": name, "customer": customer, "confirmed": False, "reminded": True}
    yield activate_account(name, confirmation["at"])
    return {"user": name, "customer": customer, "confirmed": True, "reminded": False}


def reset(dsn: str) -> None:
    """Drop this example's own schema so every run starts clean."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def main() -> int:
    """Onboard alice (confirms) and bob (times out); 0 if both took the expected path."""
    say("== zart example: onboarding with an event timeout ==")
    dsn = os.environ.get("ZART_DATABASE_URL") or embedded_dsn()
    reset(dsn)
    app = zart.Zart(dsn, schema=SCHEMA)
    with app.worker(threads=4, lease=5, poll_interval=0.5):
        alice = app.start(onboard, {"name": "alice", "email": "alice@example.com"},
                          id="onboard-alice")
        bob = app.start(onboard, {"name": "bob", "email": "bob@example.com"},
                        id="onboard-bob")
        say("Started onboarding for alice and bob; both now wait for 'email-confirmed' "
            "(timeout 2 s).")
        time.sleep(0.5)
        app.send_event(alice.id, "email-confirmed", {"at": "2026-01-05T10:42:00Z"})
        say("alice clicked her link: event 'email-confirmed' sent to onboard-alice.")
        alice_result = alice.result(timeout=30)
        bob_result = bob.result(timeout=30)
    app.close()

    say(f"\nalice: {alice_result}")
    say(f"bob:   {bob_result}")
    ok = (alice_result["confirmed"] and not alice_result["reminded"]
          and not bob_result["confirmed"] and bob_result["reminded"])
    if ok:
        say("\nOK: alice was activated, bob timed out and got a reminder.")
        return 0
    say("\nFAILED: unexpected onboarding outcome.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
