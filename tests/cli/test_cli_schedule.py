"""``zart schedule ...`` in a subprocess: create, list, show, pause, resume, trigger, backfill,
delete, each refusal with its reason, and bad input as usage errors."""

from __future__ import annotations

from datetime import UTC, timedelta

import zart

from .conftest import ZartCli, assert_refused, assert_usage_error


def test_a_schedule_created_listed_shown_paused_and_resumed(zart_cli: ZartCli,
                                                            app: zart.Zart) -> None:
    created = zart_cli("schedule", "create", "cli-hourly", "cli-hello", "0 * * * *",
                       "--tz", "Europe/Paris", "--data", '{"name": "cron"}')
    assert created.code == 0, created
    assert "schedule cli-hourly created: cli-hello on '0 * * * *' (Europe/Paris)" in created.out
    [listed, shown, as_json] = zart_cli.many([("schedule", "list"),
                                              ("schedule", "show", "cli-hourly"),
                                              ("schedule", "show", "cli-hourly", "--json")])
    assert "cli-hourly" in listed.out and "api" in listed.out, listed
    assert "overlap skip: a tick is skipped while the previous execution is open" in shown.out
    assert "no live worker runs workflow cli-hello: nothing ticks this schedule" in shown.out
    assert as_json.json()["data"] == {"name": "cron"}
    assert zart_cli("schedule", "pause", "cli-hourly").code == 0
    assert app.schedules.get("cli-hourly").paused
    assert_refused(zart_cli("schedule", "pause", "cli-hourly"), "is paused already")
    resumed = zart_cli("schedule", "resume", "cli-hourly")
    assert resumed.code == 0 and "next " in resumed.out, resumed
    assert_refused(zart_cli("schedule", "resume", "cli-hourly"), "is not paused")


def test_trigger_and_backfill_start_executions_and_delete_removes_it(zart_cli: ZartCli,
                                                                      app: zart.Zart) -> None:
    app.schedules.create("cli-daily", "cli-hello", "0 6 * * *", data={"name": "d"})
    triggered = zart_cli("schedule", "trigger", "cli-daily", "--module", "tests.cli.cli_app")
    assert triggered.code == 0, triggered
    assert app.handle(triggered.out.strip()).status() == "pending"
    shown = zart_cli("show", triggered.out.strip())
    assert "schedule  cli-daily, triggered by hand at " in shown.out, shown
    end = app.store.clock_now().astimezone(UTC).replace(hour=6, minute=0, second=0,
                                                        microsecond=0) - timedelta(days=1)
    backfill = ["schedule", "backfill", "cli-daily", "--from",
                (end - timedelta(days=2)).isoformat(), "--to", end.isoformat(), "--module",
                "tests.cli.cli_app", "--json"]
    ran = zart_cli(*backfill)
    assert ran.code == 0, ran
    assert ran.json() == [f"cli-daily@{(end - timedelta(days=d)):%Y-%m-%dT%H:%M:%SZ}"
                          for d in (2, 1, 0)]
    assert zart_cli(*backfill).json() == ran.json()  # repeated: nothing runs twice
    assert zart_cli("schedule", "delete", "cli-daily").code == 0
    assert_refused(zart_cli("schedule", "delete", "cli-daily"), "no schedule named 'cli-daily'")


def test_bad_schedules_are_refused_with_the_reason(zart_cli: ZartCli) -> None:
    [bad_cron, bad_zone, no_workflow, bad_time] = zart_cli.many([
        ("schedule", "create", "x", "cli-hello", "0 25 * * *"),
        ("schedule", "create", "x", "cli-hello", "0 2 * * *", "--tz", "Nowhere/City"),
        ("schedule", "trigger", "nope"),
        ("schedule", "backfill", "x", "--from", "2026-01-01T00:00:00", "--to", "now")])
    assert_refused(bad_cron, "cron expression '0 25 * * *' is not valid")
    assert_refused(bad_zone, "'Nowhere/City' is not an IANA time zone")
    assert_refused(no_workflow, "no schedule named 'nope'")
    assert_usage_error(bad_time, "--from", "has no timezone")
