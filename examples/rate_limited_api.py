"""Calling a rate-limited API: a ``zart.Queue`` with concurrency and rate limits, and durable
back-off with ``zart.RetryAfter`` when the API answers 429.

A CRM sync pushes contacts to a partner API that allows 3 requests at once and 10 a second.
Every push runs in an execution of the ``push-contact`` workflow in the queue
``partner-api``: the claim itself (in SQL, across every worker process) never runs more than
3 of them at once nor starts more than 10 a second, however many workers and threads there
are. When the API still answers ``429 Too Many Requests`` with ``Retry-After``, the step
raises ``zart.RetryAfter``: the execution suspends without holding a thread and the step runs
again after the delay, without spending one of its retry attempts.

The fake API below throttles every fifth contact's first request. The example checks what
the API saw: never more than 3 requests in flight, each contact stored exactly once.

Run it with ``python examples/rate_limited_api.py`` (embedded PostgreSQL unless
``ZART_DATABASE_URL`` is set).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Generator
from typing import Any

import psycopg

import zart
from zart.embedded import embedded_dsn

SCHEMA = "example_rate_limited"
CONTACTS = [f"contact-{n:02d}" for n in range(30)]
PARTNER_API = zart.Queue("partner-api", concurrency=3, rate=(10, "1s"))


def say(message: str = "") -> None:
    """Print at once."""
    print(message, flush=True)


class FakePartnerApi:
    """The partner's API: remembers what it stored, how many requests were in flight at
    most, and throttles every fifth contact's first request (429, Retry-After: 0.5 s)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.stored: dict[str, int] = {}
        self.throttled: set[str] = set()

    def put(self, contact: str) -> tuple[int, float]:
        """PUT /contacts/<contact>: (status, retry-after seconds)."""
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.05)  # the request's round trip
            with self.lock:
                if int(contact[-2:]) % 5 == 0 and contact not in self.throttled:
                    self.throttled.add(contact)
                    return 429, 0.5
                self.stored[contact] = self.stored.get(contact, 0) + 1
                return 200, 0.0
        finally:
            with self.lock:
                self.in_flight -= 1


API = FakePartnerApi()


@zart.step("push-contact", retry=zart.exponential(3, "1s"))
def push_contact(contact: str) -> str:
    """Send one contact; a 429 backs off durably for as long as the API asks."""
    status, retry_after = API.put(contact)
    if status == 429:
        raise zart.RetryAfter(retry_after, "partner API answered 429 Too Many Requests")
    return f"{contact}: stored"


@zart.workflow("push-contact", queue=PARTNER_API)
def push_contact_flow(contact: str) -> Generator[Any, Any, str]:
    """Push one contact to the partner (an execution in the partner-api queue)."""
    return (yield push_contact(contact))


def reset(dsn: str) -> None:
    """Drop this example's own schema so every run starts clean."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def main() -> int:
    """Push every contact; 0 if the API's limits held and each contact was stored once."""
    say("== zart example: calling a rate-limited API ==")
    dsn = os.environ.get("ZART_DATABASE_URL") or embedded_dsn()
    reset(dsn)
    app = zart.Zart(dsn, schema=SCHEMA)
    say(f"Pushing {len(CONTACTS)} contacts through queue 'partner-api' (3 at once, 10/s) "
        f"with 16 worker threads.")
    started = time.monotonic()
    with app.worker(threads=16, lease=5, poll_interval=0.5):
        handles = [app.start(push_contact_flow, c, id=f"push-{c}") for c in CONTACTS]
        for handle in handles:
            handle.result(timeout=60)
    elapsed = time.monotonic() - started
    backed_off = [h.id for h in handles
                  if any(c.name == "push-contact" and len(c.attempts) > 1
                         for c in h.describe().history)]
    app.close()
    say(f"Done in {elapsed:.1f} s: at most {API.most_in_flight} requests in flight; "
        f"{len(API.throttled)} answered 429 and backed off durably "
        f"({', '.join(sorted(API.throttled))}).")
    stored_once = sorted(API.stored) == CONTACTS and set(API.stored.values()) == {1}
    if API.most_in_flight <= 3 and stored_once and len(API.throttled) == 6:
        say(f"OK: the queue kept the API's limits and every contact was stored once "
            f"({len(backed_off)} executions show their back-off in their history).")
        return 0
    say(f"WRONG: in flight {API.most_in_flight}, stored {API.stored}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
