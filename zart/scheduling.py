"""Managing schedules at run time: ``app.schedules``.

    app.schedules.create("hourly-sync", "sync", "0 * * * *", tz="Europe/Paris")
    app.schedules.pause("hourly-sync")
    app.schedules.trigger("hourly-sync")                  # one execution now, off the timetable
    app.schedules.backfill("nightly-report", start, end)  # every tick in a past range

Schedules declared in code (``@zart.workflow(schedule=zart.cron(...))``) are listed, paused,
resumed, triggered and backfilled the same way; they are changed and removed in the code (a
worker keeps them as its code declares), so ``create`` refuses their names and ``delete``
refuses them with that reason.
"""

from __future__ import annotations

import builtins
import contextlib
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import ActionRefused, ConfigurationError, ExecutionConflict, ScheduleNotFound
from .schedules import Catchup, Overlap, Schedule, tick_id, tick_input
from .views import ScheduleView
from .workflow import get_workflow

if TYPE_CHECKING:
    from .client import Handle, Zart

__all__ = ["MAX_BACKFILL", "Schedules"]

MAX_BACKFILL = 1000
"""The most ticks one backfill starts (a larger range is refused: split it)."""


def _aware(value: object, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigurationError(f"{what} must be a datetime with a time zone, got {value!r}")
    return value


class Schedules:
    """The schedules of one :class:`zart.Zart` application (``app.schedules``)."""

    def __init__(self, app: Zart) -> None:
        self.app = app
        self.store = app.store

    def create(self, name: str, workflow: str, expression: str, *, tz: str = "UTC",
               data: Any = None, overlap: Overlap = "skip", catchup: Catchup = "latest",
               catchup_limit: int = 10) -> ScheduleView:
        """Create a schedule at run time: ``workflow`` (by name; the workers that run it tick
        it) started on the cron ``expression`` in ``tz``. Refused if the name is taken."""
        schedule = Schedule(expression, tz, name, data, overlap, catchup, catchup_limit,
                            workflow)
        if not isinstance(workflow, str):
            raise ConfigurationError(f"workflow must be a workflow's name, got {workflow!r}")
        first = next(schedule.ticks_after(self.store.clock_now()))
        return self.store.create_schedule(schedule.stored(first))

    def list(self) -> builtins.list[ScheduleView]:
        """Every schedule, by name. (``builtins.list`` in this class: the method's name
        shadows the type.)"""
        return self.store.schedules()

    def get(self, name: str) -> ScheduleView:
        """The schedule ``name``, or :class:`ScheduleNotFound`."""
        found = self.store.schedule(_name(name))
        if found is None:
            known = ", ".join(s.name for s in self.store.schedules()) or "none"
            raise ScheduleNotFound(f"no schedule named {name!r} (schedules: {known})")
        return found

    def pause(self, name: str) -> ScheduleView:
        """Stop ticking it (its open executions go on). Refused if it is paused already."""
        self.get(name)
        paused = self.store.set_schedule_paused(name, True, None)
        if paused is None:
            raise ActionRefused(f"schedule {name!r} is paused already", action="pause")
        return paused

    def resume(self, name: str) -> ScheduleView:
        """Tick it again from its next tick after now: the ticks it missed while paused are
        skipped, not caught up. Refused if it is not paused."""
        schedule = self._declared(self.get(name))
        following = next(schedule.ticks_after(self.store.clock_now()))
        resumed = self.store.set_schedule_paused(name, False, following)
        if resumed is None:
            raise ActionRefused(f"schedule {name!r} is not paused", action="resume")
        return resumed

    def delete(self, name: str) -> None:
        """Delete a schedule created at run time (its executions stay). A schedule declared
        in code is refused: remove it from the code, or pause it."""
        if self.get(name).source == "code":
            raise ActionRefused(f"schedule {name!r} is declared in code: a worker would store "
                                f"it again; remove it from the code, or pause it",
                                action="delete")
        if not self.store.delete_schedule(name):
            raise ScheduleNotFound(f"no schedule named {name!r}")

    def trigger(self, name: str) -> Handle:
        """Start one execution of its workflow now, off the timetable (its id is
        ``<name>@manual-<time>``); the timetable is unchanged. The workflow must be registered
        in this process (its retry and timeout come from the code)."""
        view = self.get(name)
        now = self.store.clock_now()
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        execution_id = f"{name}@manual-{stamp}-{uuid.uuid4().hex[:6]}"
        data = {**tick_input(name, now, view.data), "manual": True}
        return self.app.start(get_workflow(view.workflow), data, id=execution_id)

    def backfill(self, name: str, start: datetime, end: datetime) -> builtins.list[str]:
        """Start the executions of every tick from ``start`` to ``end`` (inclusive, at most
        MAX_BACKFILL), whatever the overlap policy: the ids of the ticks' executions. A tick
        that already ran is not run again (its id exists), so a backfill can be repeated."""
        view = self.get(name)
        schedule = self._declared(view)
        start, end = _aware(start, "start"), _aware(end, "end")
        if end < start:
            raise ConfigurationError(f"backfill end {end.isoformat()} is before its start "
                                     f"{start.isoformat()}")
        if end > self.store.clock_now():
            raise ConfigurationError(f"backfill end {end.isoformat()} is in the future; the "
                                     f"schedule fires those ticks itself")
        ticks: builtins.list[datetime] = []
        for tick in schedule.ticks_after(start - _MICROSECOND):
            if tick > end:
                break
            if len(ticks) == MAX_BACKFILL:
                raise ConfigurationError(f"backfill of {name!r} covers more than {MAX_BACKFILL} "
                                         f"ticks; split the range")
            ticks.append(tick)
        definition = get_workflow(view.workflow)
        ids = []
        for tick in ticks:
            execution_id = tick_id(name, tick)
            # A conflict: the tick ran already, with the schedule's data of that time.
            with contextlib.suppress(ExecutionConflict):
                self.app.start(definition, tick_input(name, tick, view.data), id=execution_id)
            ids.append(execution_id)
        return ids

    @staticmethod
    def _declared(view: ScheduleView) -> Schedule:
        return Schedule(view.expression, view.tz, view.name, view.data,
                        view.overlap,  # type: ignore[arg-type]
                        view.catchup, view.catchup_limit,  # type: ignore[arg-type]
                        view.workflow)


def _name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 200:
        raise ConfigurationError(f"a schedule name is a non-empty text, got {name!r}")
    return name


_MICROSECOND = datetime.resolution
