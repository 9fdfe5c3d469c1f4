"""Recurring executions: cron schedules, declared in code or managed at run time.

    @zart.workflow("nightly-report", schedule=zart.cron("0 3 * * *", tz="Europe/Paris"))
    def nightly_report(data): ...          # data: {"scheduled_at": "...", "schedule": "..."}

Exactly one execution per tick, whatever the number of workers, their crashes and database
restarts: a tick's execution id is ``<schedule>@<tick in UTC>`` and the database refuses a
second one. Workers that run a schedule's workflow tick it (one at a time per schedule, under
its row lock), on the database's clock.

The parser is cronsim (five fields; see the README for why). Time zones follow the IANA
database; daylight saving is handled as cron does: a tick at a time the clocks skip (02:30
on the night they spring forward) runs once, at the first instant after (03:00); a tick at a
fixed time the clocks repeat (01:30 on the night they fall back, in New York) runs once, at
its first occurrence; an expression that fires every few minutes fires in both repeated
hours. An invalid expression or time zone is an error where it is declared, never a silent
stop.

Overlap (``overlap=``): ``skip`` a tick while the schedule's previous execution is still
open, ``allow`` it, or ``cancel`` the previous one first. Catch-up after downtime
(``catchup=``): ``none`` (missed ticks are skipped), ``latest`` (only the most recent one
runs) or ``all`` (every missed tick, up to ``catchup_limit`` of the most recent ones; only
with ``overlap="allow"``, since missed ticks start together).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import serde
from .commands import MAX_NAME_LENGTH, validate_name
from .errors import ConfigurationError, SerializationError

__all__ = ["GRACE", "Catchup", "Overlap", "Schedule", "TickPlan", "bind_schedules", "cron",
           "plan_ticks", "tick_id", "tick_input"]

Overlap = Literal["skip", "allow", "cancel"]
Catchup = Literal["none", "latest", "all"]

GRACE = timedelta(seconds=60)
"""A tick fired within this long of its time is on time, not a missed one (catch-up)."""

MAX_SCHEDULE_NAME = 120
"""A schedule's name is part of its executions' ids: it must leave room for the tick."""


def _cronsim() -> Any:
    try:
        from cronsim import CronSim
    except ImportError:
        raise ConfigurationError("schedules need the cron parser: pip install "
                                 "'zart[schedules]' (the cronsim package)") from None
    return CronSim


@dataclass(frozen=True, slots=True)
class Schedule:
    """A cron schedule of a workflow (see the module's documentation)."""

    expression: str
    tz: str = "UTC"
    name: str | None = None
    data: Any = None
    overlap: Overlap = "skip"
    catchup: Catchup = "latest"
    catchup_limit: int = 10
    workflow: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str) or len(self.expression.split()) != 5:
            raise ConfigurationError(f"cron expression {self.expression!r} must have five "
                                     f"fields: minute hour day-of-month month day-of-week")
        zone = self.zone
        try:
            _cronsim()(self.expression, datetime.now(zone))
        except ConfigurationError:
            raise
        except Exception as exc:  # cronsim's CronSimError, and anything it trips on
            raise ConfigurationError(f"cron expression {self.expression!r} is not valid: "
                                     f"{exc}") from None
        if self.name is not None:
            try:
                validate_name(self.name, "schedule name")
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(str(exc)) from None
            if len(self.name) > MAX_SCHEDULE_NAME or "@" in self.name:
                raise ConfigurationError(f"schedule name {self.name!r} must be at most "
                                         f"{MAX_SCHEDULE_NAME} characters, without '@'")
        try:  # stored with the schedule and in every tick's input: refused here, not later
            serde.dumps(self.data, what=f"schedule {self.name or '(unnamed)'!r}'s data")
        except SerializationError as exc:
            raise ConfigurationError(str(exc)) from None
        if self.overlap not in ("skip", "allow", "cancel"):
            raise ConfigurationError(f"overlap must be 'skip', 'allow' or 'cancel', got "
                                     f"{self.overlap!r}")
        if self.catchup not in ("none", "latest", "all"):
            raise ConfigurationError(f"catchup must be 'none', 'latest' or 'all', got "
                                     f"{self.catchup!r}")
        if self.catchup == "all" and self.overlap != "allow":
            raise ConfigurationError(
                f"catchup='all' starts every missed tick at once, so it needs "
                f"overlap='allow' (got overlap={self.overlap!r}); use catchup='latest' to run "
                f"only the most recent missed tick")
        if (not isinstance(self.catchup_limit, int) or isinstance(self.catchup_limit, bool)
                or not 1 <= self.catchup_limit <= 1000):
            raise ConfigurationError(f"catchup_limit must be an int from 1 to 1000, got "
                                     f"{self.catchup_limit!r}")

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ConfigurationError(f"time zone {self.tz!r} is not an IANA time zone "
                                     f"(e.g. 'Europe/Paris', 'UTC')") from None

    def stored(self, next_tick: datetime) -> dict[str, Any]:
        """The schedule as the store keeps it (named and bound), next due at ``next_tick``."""
        assert self.name is not None and self.workflow is not None
        return {"name": self.name, "workflow": self.workflow, "expression": self.expression,
                "tz": self.tz, "data": serde.dumps(self.data, what=f"schedule {self.name!r}'s "
                                                                   f"data"),
                "overlap": self.overlap, "catchup": self.catchup,
                "catchup_limit": self.catchup_limit, "next_tick": next_tick}

    def ticks_after(self, after: datetime) -> Iterator[datetime]:
        """The schedule's ticks strictly after ``after``, in UTC."""
        for tick in _cronsim()(self.expression, after.astimezone(self.zone)):
            yield tick.astimezone(UTC)


def cron(expression: str, *, tz: str = "UTC", name: str | None = None, data: Any = None,
         overlap: Overlap = "skip", catchup: Catchup = "latest",
         catchup_limit: int = 10) -> Schedule:
    """A cron schedule for ``@zart.workflow(schedule=...)``: five-field ``expression`` in the
    time zone ``tz``; ``name`` (default: the workflow's name), ``data`` (merged into each
    tick's input), ``overlap`` and ``catchup`` policies (see the module's documentation)."""
    return Schedule(expression, tz, name, data, overlap, catchup, catchup_limit)


def bind_schedules(workflow: str,
                   given: Schedule | list[Schedule] | tuple[Schedule, ...] | None,
                   ) -> tuple[Schedule, ...]:
    """The schedules ``@zart.workflow(schedule=...)`` declares, bound to the workflow and
    named: an unnamed one takes the workflow's name; several need distinct names."""
    if given is None:
        return ()
    listed = [given] if isinstance(given, Schedule) else list(given)
    for item in listed:
        if not isinstance(item, Schedule):
            raise ConfigurationError(f"workflow {workflow!r}: schedule must be zart.cron(...) "
                                     f"or a list of them, got {item!r}")
    if sum(1 for item in listed if item.name is None) > 1:
        raise ConfigurationError(f"workflow {workflow!r} declares several schedules: name "
                                 f"them, zart.cron(..., name='...')")
    bound = tuple(replace(item, name=item.name or workflow, workflow=workflow)
                  for item in listed)
    names = [item.name for item in bound]
    duplicated = sorted({n for n in names if n is not None and names.count(n) > 1})
    if duplicated:
        raise ConfigurationError(f"workflow {workflow!r} declares schedule name(s) "
                                 f"{duplicated} more than once")
    return bound


def tick_id(schedule: str, tick: datetime) -> str:
    """The execution id of a schedule's tick: the tick's time (UTC) after the name."""
    stamp = tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    execution_id = f"{schedule}@{stamp}"
    assert len(execution_id) <= MAX_NAME_LENGTH
    return execution_id


def tick_input(schedule: str, tick: datetime, data: Any) -> Any:
    """What a tick's execution gets as input: when it was due, which schedule, the data (a
    dict's keys beside them; the tick's own two keys win, so a workflow can trust them)."""
    base = {"scheduled_at": tick.astimezone(UTC).isoformat(), "schedule": schedule}
    if data is None:
        return base
    if isinstance(data, dict):
        return {**data, **base}
    return {**base, "data": data}


@dataclass(frozen=True, slots=True)
class TickPlan:
    """What one tick round does with a due schedule: the ticks to fire (oldest first), how
    many missed ones it skipped, and when it is due next."""

    fire: list[datetime]
    skipped: int
    next_tick: datetime


def plan_ticks(schedule: Schedule, next_tick: datetime, now: datetime) -> TickPlan:
    """The ticks due by ``now``, starting at the stored ``next_tick``, under the schedule's
    catch-up policy (ticks within GRACE of now are on time, never missed). After a backlog
    too long to count (a minute schedule down for months), ``skipped`` is a lower bound and
    catch-up still runs the most recent missed ticks."""
    due: list[datetime] = []
    counted = 0
    upcoming = next_tick
    for tick in schedule.ticks_after(next_tick - _MICROSECOND):
        if tick > now:
            upcoming = tick
            break
        due.append(tick)
        counted += 1
        if counted > _COUNT_LIMIT:  # stop counting: catch-up needs only the latest ticks
            due = _latest_ticks(schedule, due[-1], now, schedule.catchup_limit + 2)
            counted += len(due)
            upcoming = next(schedule.ticks_after(now))
            break
    on_time = [t for t in due if now - t <= GRACE]
    missed = [t for t in due if now - t > GRACE]
    if schedule.catchup == "none":
        caught: list[datetime] = []
    elif schedule.catchup == "latest":
        caught = missed[-1:] if missed and not on_time else []
    else:
        caught = missed[-schedule.catchup_limit:]
    fire = caught + on_time
    return TickPlan(fire, counted - len(fire), upcoming)


_MICROSECOND = timedelta(microseconds=1)

_COUNT_LIMIT = 100_000
"""Due ticks counted one by one in a tick round; past that, only the latest are looked for."""


def _latest_ticks(schedule: Schedule, after: datetime, now: datetime,
                  count: int) -> list[datetime]:
    """Up to ``count`` of the schedule's latest ticks after ``after`` and by ``now``, found by
    looking back from ``now`` over a window that doubles until it holds enough (or reaches
    ``after``): the cost follows ``count``, not the length of the backlog."""
    span = GRACE
    while True:
        start = max(after, now - span)
        found: deque[datetime] = deque(maxlen=count)
        for tick in schedule.ticks_after(start):
            if tick > now:
                break
            found.append(tick)
        if len(found) == count or start == after:
            return list(found)
        span *= 2
