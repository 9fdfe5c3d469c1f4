"""Cron schedules on a real PostgreSQL: stored from the code when a worker starts (and updated
when the code changes), ticked on the database's clock under the overlap and catch-up
policies, and managed at run time through ``app.schedules``. Tick rounds are driven from the
test's thread; tests/faults/test_schedule_ticks.py runs them in worker processes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import zart
from tests.conftest import registered_for_now
from zart.runtime.ticker import Ticker

from .conftest import run_due, wait_until

SQL = Callable[..., list[tuple[Any, ...]]]


@zart.step("sc-echo")
def echo(value: Any) -> Any:
    return value


def hourly(data: Any) -> Any:
    return (yield echo(data))


def waiting(data: Any) -> Any:
    return (yield zart.wait_for_event("go"))


def plain(data: Any) -> Any:
    return (yield echo(data["scheduled_at"]))


@pytest.fixture(scope="module", autouse=True)
def scheduled_workflows() -> Iterator[None]:
    """This module's workflows, registered only while it runs (see registered_for_now)."""
    with registered_for_now(
            lambda: zart.workflow("sc-hourly", schedule=zart.cron(
                "0 * * * *", data={"region": "eu"}))(hourly),
            lambda: zart.workflow("sc-waiting", schedule=[
                zart.cron("*/10 * * * *", name="sc-skip"),
                zart.cron("*/10 * * * *", name="sc-cancel", overlap="cancel")])(waiting),
            lambda: zart.workflow("sc-plain")(plain)):
        yield


def tick(app: zart.Zart, *workflows: str) -> int:
    """One tick round of a fresh worker's ticker for ``workflows`` (it stores their code's
    schedules first, as a worker does when it starts)."""
    return Ticker(app.store, list(workflows), 1.0).tick()


def jump(sql: SQL, schema: str, seconds: float) -> None:
    sql(f'UPDATE "{schema}".clock SET offset_seconds = offset_seconds + %s', seconds)


def to_next_tick(app: zart.Zart, sql: SQL, schema: str, name: str) -> datetime:
    """Move the database's clock to the schedule's next tick; that tick."""
    due = app.schedules.get(name).next_tick
    jump(sql, schema, (due - app.store.clock_now()).total_seconds())
    return due


def test_a_code_schedule_is_stored_by_a_worker_and_fires_once_on_the_database_clock(
        app: zart.Zart, sql: SQL, schema: str) -> None:
    assert tick(app, "sc-hourly") == 0  # stored, not due yet
    stored = app.schedules.get("sc-hourly")
    now = app.store.clock_now()
    assert (stored.source, stored.workflow, stored.expression) == ("code", "sc-hourly",
                                                                    "0 * * * *")
    assert stored.next_tick == (now + timedelta(hours=1)).replace(minute=0, second=0,
                                                                    microsecond=0)
    due = to_next_tick(app, sql, schema, "sc-hourly")
    assert tick(app, "sc-hourly") == 1
    assert tick(app, "sc-hourly") == 0  # the same tick never fires twice
    run_due(app, "sc-hourly")
    execution_id = f"sc-hourly@{due.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
    assert app.handle(execution_id).result(timeout=5) == {
        "scheduled_at": due.astimezone(UTC).isoformat(), "schedule": "sc-hourly",
        "region": "eu"}
    after = app.schedules.get("sc-hourly")
    assert (after.fired, after.last_execution_id, after.next_tick) == (
        1, execution_id, due + timedelta(hours=1))


def test_a_schedule_changed_in_a_release_is_updated_at_the_next_worker_start(
        app: zart.Zart) -> None:
    def body(data: Any) -> Any:
        return (yield zart.sleep("nap", "1s"))

    zart.workflow("sc-release", schedule=zart.cron("0 3 * * *"))(body)
    tick(app, "sc-release")
    app.schedules.pause("sc-release")
    zart.workflow("sc-release", schedule=zart.cron("0 4 * * *", tz="Europe/Paris"))(body)
    tick(app, "sc-release")
    changed = app.schedules.get("sc-release")
    assert (changed.expression, changed.tz, changed.paused) == ("0 4 * * *", "Europe/Paris",
                                                                True)  # an operator's pause stays
    assert changed.next_tick.astimezone(changed.next_tick.tzinfo).minute == 0
    zart.workflow("sc-release")(body)  # the next release declares no schedule
    tick(app, "sc-release")
    with pytest.raises(zart.ScheduleNotFound, match="no schedule named 'sc-release'"):
        app.schedules.get("sc-release")


def test_overlap_skip_skips_ticks_while_the_previous_run_is_open(
        app: zart.Zart, sql: SQL, schema: str) -> None:
    tick(app, "sc-waiting")
    app.schedules.pause("sc-cancel")
    first = to_next_tick(app, sql, schema, "sc-skip")
    assert tick(app, "sc-waiting") == 1
    run_due(app, "sc-waiting")  # now waits for its event
    to_next_tick(app, sql, schema, "sc-skip")
    assert tick(app, "sc-waiting") == 0
    skip = app.schedules.get("sc-skip")
    assert (skip.fired, skip.skipped) == (1, 1)
    app.send_event(f"sc-skip@{first.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}", "go", 1)
    run_due(app, "sc-waiting")
    to_next_tick(app, sql, schema, "sc-skip")
    assert tick(app, "sc-waiting") == 1  # the previous one finished: this tick runs
    app.schedules.pause("sc-skip")
    app.schedules.resume("sc-cancel")


def test_overlap_cancel_cancels_the_open_previous_run_and_records_it(
        app: zart.Zart, sql: SQL, schema: str) -> None:
    tick(app, "sc-waiting")
    first = to_next_tick(app, sql, schema, "sc-cancel")
    assert tick(app, "sc-waiting") == 1
    first_id = f"sc-cancel@{first.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
    to_next_tick(app, sql, schema, "sc-cancel")
    assert tick(app, "sc-waiting") == 1
    assert app.handle(first_id).status() == "cancelled"
    actions = app.handle(first_id).describe().actions
    assert [(a.action, a.by) for a in actions] == [("cancel", "schedule sc-cancel")]
    app.schedules.pause("sc-cancel")


def test_a_paused_schedule_does_not_fire_and_resumes_from_its_next_tick_after_now(
        app: zart.Zart, sql: SQL, schema: str) -> None:
    app.schedules.create("sc-api", "sc-plain", "*/5 * * * *")
    app.schedules.pause("sc-api")
    jump(sql, schema, 3600)
    assert tick(app, "sc-plain") == 0
    resumed = app.schedules.resume("sc-api")
    now = app.store.clock_now()
    assert now < resumed.next_tick <= now + timedelta(minutes=5)
    assert (resumed.fired, resumed.paused) == (0, False)
    to_next_tick(app, sql, schema, "sc-api")
    assert tick(app, "sc-plain") == 1
    app.schedules.delete("sc-api")


def test_operator_actions_on_schedules_are_refused_with_a_reason(app: zart.Zart) -> None:
    tick(app, "sc-hourly")
    with pytest.raises(zart.ActionRefused, match="exists already"):
        app.schedules.create("sc-hourly", "sc-plain", "0 * * * *")
    with pytest.raises(zart.ActionRefused, match="declared in code"):
        app.schedules.delete("sc-hourly")
    with pytest.raises(zart.ActionRefused, match="is not paused"):
        app.schedules.resume("sc-hourly")
    app.schedules.pause("sc-hourly")
    with pytest.raises(zart.ActionRefused, match="is paused already"):
        app.schedules.pause("sc-hourly")
    app.schedules.resume("sc-hourly")
    with pytest.raises(zart.ScheduleNotFound, match=r"'nope'.*schedules: .*sc-hourly"):
        app.schedules.pause("nope")
    with pytest.raises(zart.ConfigurationError, match="not valid"):
        app.schedules.create("sc-bad", "sc-plain", "0 99 * * *")
    with pytest.raises(zart.ConfigurationError, match="not an IANA time zone"):
        app.schedules.create("sc-bad", "sc-plain", "0 9 * * *", tz="Mars/Olympus")
    assert "sc-bad" not in [s.name for s in app.schedules.list()]


def test_trigger_starts_one_execution_now_off_the_timetable(app: zart.Zart) -> None:
    app.schedules.create("sc-trigger", "sc-plain", "0 0 1 1 *")
    before = app.schedules.get("sc-trigger")
    handle = app.schedules.trigger("sc-trigger")
    assert handle.id.startswith("sc-trigger@manual-")
    run_due(app, "sc-plain")
    assert handle.status() == "completed"
    assert app.schedules.get("sc-trigger").next_tick == before.next_tick
    app.schedules.delete("sc-trigger")


def test_backfill_starts_every_tick_of_a_range_once_and_can_be_repeated(
        app: zart.Zart) -> None:
    app.schedules.create("sc-backfill", "sc-plain", "0 */6 * * *", data=None)
    now = app.store.clock_now().astimezone(UTC)
    end = now.replace(hour=now.hour // 6 * 6, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=1)  # both ends are ticks: five of them
    ids = app.schedules.backfill("sc-backfill", start, end)
    assert len(ids) == 5 and len(set(ids)) == 5
    assert app.schedules.backfill("sc-backfill", start, end) == ids
    started = [app.handle(i).status() for i in ids]
    assert started == ["pending"] * 5
    with pytest.raises(zart.ConfigurationError, match="in the future"):
        app.schedules.backfill("sc-backfill", start, end + timedelta(days=1))
    with pytest.raises(zart.ConfigurationError, match="before its start"):
        app.schedules.backfill("sc-backfill", end, start)
    with pytest.raises(zart.ConfigurationError, match="with a time zone"):
        app.schedules.backfill("sc-backfill", start.replace(tzinfo=None), end)
    with pytest.raises(zart.ConfigurationError, match="more than 1000 ticks"):
        app.schedules.create("sc-minutely", "sc-plain", "* * * * *")
        app.schedules.backfill("sc-minutely", end - timedelta(days=1), end)


def test_a_code_schedule_clashing_with_a_run_time_one_is_refused_loudly_and_work_goes_on(
        app: zart.Zart, caplog: pytest.LogCaptureFixture) -> None:
    app.schedules.create("sc-clash", "sc-plain", "0 5 * * *")

    def clashing(data: Any) -> Any:
        return (yield echo(data))

    def define() -> zart.Workflow:
        return zart.workflow("sc-clashing", schedule=zart.cron("0 6 * * *",
                                                               name="sc-clash"))(clashing)

    with registered_for_now(define), app.worker(threads=1, lease=5, poll_interval=0.2,
                                                workflows=["sc-clashing"]):
        assert app.start("sc-clashing", 7).result(timeout=20) == 7
    assert "clashes with a schedule created at run time" in caplog.text
    kept = app.schedules.get("sc-clash")
    assert (kept.source, kept.workflow, kept.expression) == ("api", "sc-plain", "0 5 * * *")
    app.schedules.delete("sc-clash")


def test_a_clashing_code_schedule_is_left_out_and_the_workers_other_schedules_are_stored(
        app: zart.Zart, caplog: pytest.LogCaptureFixture) -> None:
    app.schedules.create("sc-taken", "sc-plain", "0 5 * * *")

    def body(data: Any) -> Any:
        return (yield echo(data))

    with registered_for_now(
            lambda: zart.workflow("sc-takes", schedule=zart.cron("0 6 * * *",
                                                                 name="sc-taken"))(body),
            lambda: zart.workflow("sc-fine", schedule=zart.cron("0 7 * * *"))(body)):
        tick(app, "sc-takes", "sc-fine")
    assert "'sc-taken' of workflow 'sc-takes' clashes" in caplog.text
    kept = app.schedules.get("sc-taken")
    assert (kept.source, kept.workflow, kept.expression) == ("api", "sc-plain", "0 5 * * *")
    fine = app.schedules.get("sc-fine")
    assert (fine.source, fine.workflow, fine.expression) == ("code", "sc-fine", "0 7 * * *")
    app.schedules.delete("sc-taken")


def test_a_tick_round_that_keeps_failing_runs_once_per_poll_interval_not_at_every_recheck(
        app: zart.Zart, sql: SQL, schema: str, caplog: pytest.LogCaptureFixture) -> None:
    # A real, lasting fault: the database refuses to advance this schedule. The schedule
    # stays due, so the idle dispatcher looks again every tenth of a second; the failing
    # round itself must wait out the poll interval, not follow that pace.
    sql(f'''CREATE FUNCTION "{schema}".refuse_advance() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'schedules are read-only today'; END $$''')
    sql(f'''CREATE TRIGGER refuse_advance BEFORE UPDATE ON "{schema}".schedules FOR EACH ROW
            WHEN (OLD.name = 'sc-failing') EXECUTE FUNCTION "{schema}".refuse_advance()''')

    def failed_rounds() -> int:
        return sum("a schedule tick round failed" in r.getMessage() for r in caplog.records)

    try:
        with registered_for_now(lambda: zart.workflow("sc-failing-flow")(plain)):
            app.schedules.create("sc-failing", "sc-failing-flow", "* * * * *")
            to_next_tick(app, sql, schema, "sc-failing")
            with app.worker(threads=1, lease=5, poll_interval=1.0,
                            workflows=["sc-failing-flow"]):
                wait_until(failed_rounds, what="the first failed tick round")
                threading.Event().wait(2.5)  # an observation window, not a wait for a state
                assert 2 <= failed_rounds() <= 4  # at 0, ~1, ~2 s (not every 0.1 s)
    finally:
        sql(f'DROP TRIGGER refuse_advance ON "{schema}".schedules')
        sql(f'DROP FUNCTION "{schema}".refuse_advance()')
    app.schedules.pause("sc-failing")


IN_STEP = threading.Event()
GO_ON = threading.Event()


@zart.step("sc-ledgered", transactional=True)
def ledgered() -> str:
    ctx = zart.context()
    assert ctx.connection is not None
    ctx.connection.execute(f"INSERT INTO {ctx.data['ledger']} VALUES (%s)",
                           (ctx.execution_id,))
    IN_STEP.set()
    GO_ON.wait(20)
    return "wrote"


def ledgered_flow(data: Any) -> Any:
    return (yield ledgered())


def test_overlap_cancel_fences_the_previous_run_mid_step_so_it_writes_nothing(
        app: zart.Zart, sql: SQL, schema: str) -> None:
    ledger = f'"{schema}".sc_ledger'
    sql(f"CREATE TABLE {ledger} (execution_id text)")
    IN_STEP.clear()
    GO_ON.clear()
    with registered_for_now(lambda: zart.workflow("sc-ledgered-flow")(ledgered_flow)):
        app.schedules.create("sc-fenced", "sc-ledgered-flow", "*/10 * * * *",
                             overlap="cancel", data={"ledger": ledger})
        first = to_next_tick(app, sql, schema, "sc-fenced")
        first_id = f"sc-fenced@{first.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
        try:
            with app.worker(threads=2, lease=5, poll_interval=0.2,
                            workflows=["sc-ledgered-flow"]):
                assert IN_STEP.wait(20)  # the worker ticked it and is inside its step
                second = to_next_tick(app, sql, schema, "sc-fenced")
                wait_until(lambda: app.handle(first_id).status() == "cancelled",
                           what="the next tick to cancel the open run")
                GO_ON.set()
                second_id = f"sc-fenced@{second.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
                assert app.handle(second_id).result(timeout=20) == "wrote"
        finally:
            GO_ON.set()
        app.schedules.delete("sc-fenced")
    assert sql(f"SELECT execution_id FROM {ledger}") == [(second_id,)]
    assert app.handle(first_id).status() == "cancelled"
