"""A nightly report on a cron schedule: ``@zart.workflow(schedule=zart.cron(...))``.

The workflow declares its timetable, 03:00 in Paris every night. The worker stores the
schedule when it starts and ticks it on the database's clock; each tick starts one execution
whose id is the schedule's name and the tick's time in UTC
(``nightly-report@2026-12-02T02:00:00Z``), so a tick runs once however many workers there are.

Nobody waits for 03:00 in a demo, so it uses what an operator would after an outage: a
backfill of the last three nights (run twice: the second changes nothing, each night's
report is built once) and a trigger that runs the report now, off the timetable. The reports
are counted in a table the step writes, the evidence that nothing ran twice.

Run it with ``python examples/nightly_report.py`` (embedded PostgreSQL unless
``ZART_DATABASE_URL`` is set).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import psycopg

import zart
from zart.embedded import embedded_dsn
from zart.views import ScheduleView

SCHEMA = "example_nightly"
NIGHTLY = zart.cron("0 3 * * *", tz="Europe/Paris", data={"recipients": ["ops@example.com"]})


def say(message: str = "") -> None:
    """Print at once."""
    print(message, flush=True)


@zart.step("build-report", transactional=True)
def build_report(night: str) -> dict[str, Any]:
    """Aggregate the night's figures and record the report, in the checkpoint's transaction
    (so the report table holds exactly the reports that were built)."""
    conn = zart.context().connection
    conn.execute(f"INSERT INTO {SCHEMA}.reports (night) VALUES (%s)", (night,))
    return {"night": night, "orders": 100 + len(night) % 7}


@zart.workflow("nightly-report", schedule=NIGHTLY, timeout="1h")
def nightly_report(data: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    """Build the report of the night that ended at ``scheduled_at``, then mail it."""
    report = yield build_report(data["scheduled_at"][:10])
    say(f"  report for {report['night']} ({data['schedule']}): {report['orders']} orders, "
        f"mailed to {', '.join(data['recipients'])}")
    return report


def reset(dsn: str) -> None:
    """Drop this example's own schema so every run starts clean."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def wait_for_schedule(app: zart.Zart) -> ScheduleView:
    """The schedule, once the worker has stored it (it does when it starts)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return app.schedules.get("nightly-report")
        except zart.ScheduleNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main() -> int:
    """Store the schedule, backfill three nights twice, trigger one now; 0 if every report
    was built exactly once."""
    say("== zart example: a nightly report on a cron schedule ==")
    dsn = os.environ.get("ZART_DATABASE_URL") or embedded_dsn()
    reset(dsn)
    app = zart.Zart(dsn, schema=SCHEMA)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {SCHEMA}.reports (night text)")
    with app.worker(threads=4, lease=5, poll_interval=0.5):
        schedule = wait_for_schedule(app)
        say(f"The worker stored schedule {schedule.name!r}: {schedule.expression!r} in "
            f"{schedule.tz}, next tick {schedule.next_tick:%Y-%m-%d %H:%M %Z}.")
        now = app.store.clock_now()
        say("\nBackfilling the last three nights (as after an outage):")
        ids = app.schedules.backfill("nightly-report", now - timedelta(days=3), now)
        for execution_id in ids:
            app.handle(execution_id).result(timeout=30)
        say(f"\nBackfilling them again: the same executions, {ids[0]} ... (nothing reruns)")
        again = app.schedules.backfill("nightly-report", now - timedelta(days=3), now)
        for execution_id in again:
            app.handle(execution_id).result(timeout=30)
        say("\nTriggering one report now, off the timetable:")
        manual = app.schedules.trigger("nightly-report")
        manual.result(timeout=30)
        say(f"  ({manual.id})")
    with psycopg.connect(dsn) as conn:
        built = conn.execute(f"SELECT count(*) FROM {SCHEMA}.reports").fetchone()
    app.close()
    built_count = built[0] if built else 0
    say(f"\nReports built: {built_count} (3 nights + 1 triggered).")
    if again == ids and len(ids) == 3 and built_count == 4:
        say("OK: each night's report was built exactly once, backfilled twice.")
        return 0
    say("WRONG: a report was built more or less than once.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
