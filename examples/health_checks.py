"""Parallel health checks: fan out with ``zart.parallel`` and keep going when one child fails.

The workflow checks several services at once. Each check is an ordinary step (a module-level
``@zart.step`` function, so any worker can import it) with its own retry policy and timeout;
its arguments are stored, so they must be JSON-serializable. With
``return_exceptions=True`` the workflow receives one entry per service, in order: the check's
result, or the ``zart.StepFailed`` error of a check whose retries ran out, instead of the
first failure being raised at the ``yield``.

The "payments" service is down in this demo: its check fails, is retried once, fails again,
and shows up as a ``StepFailed`` in the list. A step after the barrier writes the report
(durable commands keep working after a fan-out).

Run it with ``python examples/health_checks.py`` (embedded PostgreSQL unless
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

SCHEMA = "example_health"
SERVICES = ["auth", "billing", "search", "payments", "email"]
DOWN = {"payments"}


def say(message: str = "") -> None:
    """Print at once."""
    print(message, flush=True)


@zart.step("check-{service}", retry=zart.fixed(1, "200ms"), timeout="5s")
def check_service(service: str) -> dict[str, Any]:
    """Probe one service (simulated: 0.3 s of latency; the services in DOWN refuse)."""
    ctx = zart.context()
    started = time.monotonic()
    time.sleep(0.3)
    if service in DOWN:
        say(f"  check-{service}: attempt {ctx.attempt}/{ctx.max_attempts}: connection refused")
        raise ConnectionError(f"{service}: connection refused")
    latency = round((time.monotonic() - started) * 1000)
    say(f"  check-{service}: attempt {ctx.attempt}/{ctx.max_attempts}: healthy ({latency} ms)")
    return {"service": service, "healthy": True, "latency_ms": latency}


@zart.step("write-report")
def write_report(lines: list[str]) -> str:
    """Publish the report (here: print it)."""
    report = "\n".join(lines)
    say("  write-report:\n" + "\n".join(f"    {line}" for line in lines))
    return report


@zart.workflow("health-checks", timeout="5m")
def health_checks(services: list[str]) -> Generator[Any, Any, dict[str, Any]]:
    """Check every service in parallel, then report which are up and which are down."""
    outcomes = yield zart.parallel(*[check_service(s) for s in services],
                                   return_exceptions=True)
    up: list[str] = []
    down: dict[str, str] = {}
    lines = []
    for service, outcome in zip(services, outcomes, strict=True):
        if isinstance(outcome, zart.StepFailed):
            down[service] = f"{outcome.error_type}: {outcome.message} " \
                            f"({outcome.attempts} attempts)"
            lines.append(f"DOWN {service}: {down[service]}")
        else:
            up.append(service)
            lines.append(f"UP   {service} ({outcome['latency_ms']} ms)")
    yield write_report(lines)
    return {"up": up, "down": down}


def reset(dsn: str) -> None:
    """Drop this example's own schema so every run starts clean."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def main() -> int:
    """Run the checks; 0 if exactly the services in DOWN are reported down."""
    say("== zart example: parallel health checks ==")
    dsn = os.environ.get("ZART_DATABASE_URL") or embedded_dsn()
    reset(dsn)
    app = zart.Zart(dsn, schema=SCHEMA)
    say(f"Checking {', '.join(SERVICES)} in parallel (each check takes about 0.3 s; "
        "'payments' is down).")
    started = time.monotonic()
    with app.worker(threads=8, lease=5, poll_interval=0.5):
        result = app.start(health_checks, SERVICES, id="health-1").result(timeout=30)
    elapsed = time.monotonic() - started
    app.close()

    say(f"\nResult after {elapsed:.1f} s: up={result['up']}, down={sorted(result['down'])}")
    if set(result["down"]) == DOWN and set(result["up"]) == set(SERVICES) - DOWN:
        say("OK: one failed check did not stop the others; it came back as a StepFailed.")
        return 0
    say("FAILED: unexpected health report.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
