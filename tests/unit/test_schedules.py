"""Cron schedules without a database: declaration errors, ticks across daylight-saving changes,
the catch-up and overlap policies, tick ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import zart
from tests.conftest import registered_for_now
from zart.runtime.ticker import decide_ticks
from zart.schedules import GRACE, bind_schedules, plan_ticks, tick_id, tick_input
from zart.store.schedules import DueSchedule
from zart.workflow import get_workflow

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def ticks(schedule: zart.Schedule, after: datetime, count: int) -> list[datetime]:
    found = schedule.ticks_after(after)
    return [next(found) for _ in range(count)]


@pytest.mark.parametrize(("expression", "problem"), [
    ("0 3 * *", "five fields"),
    ("0 25 * * *", "not valid"),
    ("61 * * * *", "not valid"),
    ("0 3 * * mon-", "not valid"),
    ("* * * * * *", "five fields"),
])
def test_an_invalid_expression_is_refused_where_it_is_declared(expression: str,
                                                                problem: str) -> None:
    with pytest.raises(zart.ConfigurationError, match=problem):
        zart.cron(expression)


def test_an_unknown_time_zone_is_refused_where_it_is_declared() -> None:
    with pytest.raises(zart.ConfigurationError, match="'Europe/Pariss' is not an IANA"):
        zart.cron("0 3 * * *", tz="Europe/Pariss")


@pytest.mark.parametrize(("options", "problem"), [
    ({"overlap": "queue"}, "overlap must be"),
    ({"catchup": "some"}, "catchup must be"),
    ({"catchup": "all"}, "needs overlap='allow'"),
    ({"catchup_limit": 0}, "catchup_limit must be"),
    ({"name": "a@b"}, "without '@'"),
])
def test_bad_policies_and_names_are_refused(options: dict[str, object], problem: str) -> None:
    with pytest.raises(zart.ConfigurationError, match=problem):
        zart.cron("0 3 * * *", **options)  # type: ignore[arg-type]


def test_a_workflow_declares_its_schedule_named_after_it() -> None:
    def nightly(data: object):  # type: ignore[no-untyped-def]
        yield zart.sleep("nap", "1s")

    def define() -> zart.Workflow:
        return zart.workflow("unit-nightly", schedule=zart.cron("0 3 * * *",
                                                                tz="Europe/Paris"))(nightly)

    with registered_for_now(define):
        (schedule,) = get_workflow("unit-nightly").schedules
    assert (schedule.name, schedule.workflow, schedule.tz) == ("unit-nightly", "unit-nightly",
                                                               "Europe/Paris")


def test_several_schedules_of_one_workflow_must_be_named_apart() -> None:
    with pytest.raises(zart.ConfigurationError, match="name them"):
        bind_schedules("report", [zart.cron("0 3 * * *"), zart.cron("0 4 * * *")])
    with pytest.raises(zart.ConfigurationError, match=r"\['x'\] more than once"):
        bind_schedules("report", [zart.cron("0 3 * * *", name="x"),
                                  zart.cron("0 4 * * *", name="x")])
    bound = bind_schedules("report", [zart.cron("0 3 * * *"),
                                      zart.cron("0 4 * * 1", name="weekly")])
    assert [s.name for s in bound] == ["report", "weekly"]
    with pytest.raises(zart.ConfigurationError, match=r"schedule must be zart\.cron"):
        bind_schedules("report", ["0 3 * * *"])  # type: ignore[list-item]


def test_a_tick_the_clocks_skip_runs_once_at_the_first_instant_after() -> None:
    """Paris springs forward on 2026-03-29 at 02:00 (to 03:00): 02:30 does not exist."""
    daily = zart.cron("30 2 * * *", tz="Europe/Paris")
    local = [t.astimezone(PARIS) for t in ticks(daily, datetime(2026, 3, 27, 12, tzinfo=UTC), 3)]
    assert [(t.day, t.hour, t.minute) for t in local] == [(28, 2, 30), (29, 3, 0), (30, 2, 30)]


def test_a_fixed_tick_in_the_hour_that_happens_twice_runs_once() -> None:
    """New York falls back on 2026-11-01 at 02:00 (to 01:00): 01:30 happens twice."""
    daily = zart.cron("30 1 * * *", tz="America/New_York")
    found = ticks(daily, datetime(2026, 10, 31, 12, tzinfo=UTC), 2)
    assert [t.isoformat() for t in found] == ["2026-11-01T05:30:00+00:00",
                                              "2026-11-02T06:30:00+00:00"]


def test_a_frequent_schedule_fires_in_both_repeated_hours() -> None:
    every_half_hour = zart.cron("*/30 * * * *", tz="America/New_York")
    found = ticks(every_half_hour, datetime(2026, 11, 1, 4, 45, tzinfo=UTC), 4)
    local = [(t.astimezone(NEW_YORK).strftime("%H:%M%z")) for t in found]
    assert local == ["01:00-0400", "01:30-0400", "01:00-0500", "01:30-0500"]
    assert len({tick_id("x", t) for t in found}) == 4  # four executions, four ids


def test_a_tick_id_is_the_schedule_and_the_tick_in_utc() -> None:
    tick = datetime(2026, 3, 29, 3, 0, tzinfo=PARIS)
    assert tick_id("nightly", tick) == "nightly@2026-03-29T01:00:00Z"
    assert tick_input("nightly", tick, {"region": "eu"}) == {
        "scheduled_at": "2026-03-29T01:00:00+00:00", "schedule": "nightly", "region": "eu"}
    assert tick_input("nightly", tick, 7)["data"] == 7
    spoofed = tick_input("nightly", tick, {"schedule": "other", "scheduled_at": "never"})
    assert spoofed == {"scheduled_at": "2026-03-29T01:00:00+00:00", "schedule": "nightly"}


START = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def test_a_tick_fired_on_time_advances_to_the_next() -> None:
    plan = plan_ticks(zart.cron("0 3 * * *"), START, START + timedelta(seconds=5))
    assert (plan.fire, plan.skipped, plan.next_tick) == ([START], 0, START + timedelta(days=1))


def test_a_tick_fired_late_within_the_grace_is_on_time_even_without_catch_up() -> None:
    plan = plan_ticks(zart.cron("0 3 * * *", catchup="none"), START, START + GRACE)
    assert plan.fire == [START]


@pytest.mark.parametrize(("catchup", "fired_days", "skipped"), [
    ("none", [], 3),
    ("latest", [3], 2),
])
def test_catch_up_after_downtime(catchup: str, fired_days: list[int], skipped: int) -> None:
    schedule = zart.cron("0 3 * * *", catchup=catchup)  # type: ignore[arg-type]
    plan = plan_ticks(schedule, START, START + timedelta(days=2, hours=1))
    assert [t.day for t in plan.fire] == fired_days
    assert plan.skipped == skipped
    assert plan.next_tick == START + timedelta(days=3)


def test_catch_up_all_fires_every_missed_tick_up_to_its_limit() -> None:
    schedule = zart.cron("0 3 * * *", catchup="all", overlap="allow", catchup_limit=2)
    plan = plan_ticks(schedule, START, START + timedelta(days=4, hours=1))
    assert [t.day for t in plan.fire] == [4, 5]
    assert plan.skipped == 3


@zart.workflow("unit-scheduled")
def scheduled(data: object):  # type: ignore[no-untyped-def]
    yield zart.sleep("nap", "1s")


def due(overlap: str, previous_open: bool, catchup: str = "latest") -> DueSchedule:
    return DueSchedule("s", "unit-scheduled", "0 3 * * *", "UTC", None, overlap, catchup, 10,
                       START, "s@x", previous_open, START + timedelta(seconds=1))


def test_overlap_skip_skips_the_tick_while_the_previous_execution_is_open() -> None:
    assert decide_ticks(due("skip", previous_open=False)).start != []
    held = decide_ticks(due("skip", previous_open=True))
    assert (held.start, held.skipped, held.cancel_previous) == ([], 1, False)
    assert held.next_tick == START + timedelta(days=1)


def test_overlap_cancel_cancels_the_previous_then_starts_and_allow_just_starts() -> None:
    cancelling = decide_ticks(due("cancel", previous_open=True))
    assert cancelling.cancel_previous and len(cancelling.start) == 1
    allowing = decide_ticks(due("allow", previous_open=True))
    assert not allowing.cancel_previous and len(allowing.start) == 1


def test_a_stored_schedule_that_no_longer_parses_waits_and_fires_nothing() -> None:
    broken = DueSchedule("s", "w", "0 3 * *", "UTC", None, "skip", "latest", 10, START, None,
                         False, START)
    action = decide_ticks(broken)
    assert action.start == [] and action.next_tick > START


@pytest.mark.parametrize(("catchup", "limit"), [("latest", 1), ("all", 3)])
def test_catch_up_after_a_backlog_too_long_to_count_fires_the_most_recent_missed_ticks(
        catchup: str, limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # A five-minute schedule down for ten days: more missed ticks than plan_ticks counts one
    # by one (lowered here from 100,000 to keep this fast). Catch-up runs the most recent
    # ones, not the ticks right after the outage began.
    monkeypatch.setattr(zart.schedules, "_COUNT_LIMIT", 1000)
    schedule = zart.cron("*/5 * * * *", catchup=catchup,  # type: ignore[arg-type]
                         overlap="allow", catchup_limit=limit)
    last_missed = START + timedelta(days=10)
    plan = plan_ticks(schedule, START, last_missed + timedelta(seconds=90))
    assert plan.fire == [last_missed - timedelta(minutes=5 * n) for n in reversed(range(limit))]
    assert plan.next_tick == last_missed + timedelta(minutes=5)
    assert plan.skipped >= 1000  # at least what was counted


@pytest.mark.parametrize("data", [object(), {"ids": {1, 2}}, float("nan"), "x\x00y"])
def test_schedule_data_that_cannot_be_stored_is_refused_where_it_is_declared(
        data: object) -> None:
    with pytest.raises(zart.ConfigurationError, match=r"schedule 's'.*data"):
        zart.cron("0 3 * * *", name="s", data=data)


@pytest.mark.parametrize("name", ["", "   ", "a\x00b", 7])
def test_a_bad_schedule_name_is_a_configuration_error_where_it_is_declared(
        name: object) -> None:
    with pytest.raises(zart.ConfigurationError, match="schedule name"):
        zart.cron("0 3 * * *", name=name)  # type: ignore[arg-type]
