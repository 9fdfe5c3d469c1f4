"""Cron schedules in the database: stored, ticked (one transaction per round, each due schedule
under its row lock, each tick's execution inserted once by its id), managed at run time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import serde
from ..errors import ActionRefused
from ..views import ScheduleView
from .base import Connection, translate_errors
from .clients import ClientTransitions

__all__ = ["DueSchedule", "ScheduleTransitions", "TickAction"]


@dataclass(frozen=True, slots=True)
class DueSchedule:
    """A due schedule as a tick round sees it, with the database's clock."""

    name: str
    workflow: str
    expression: str
    tz: str
    data: Any
    overlap: str
    catchup: str
    catchup_limit: int
    next_tick: datetime
    last_execution_id: str | None
    previous_open: bool
    now: datetime


@dataclass(frozen=True, slots=True)
class TickAction:
    """What a tick round does with one due schedule: the executions to start (each a
    ``create_execution`` keyword set), whether to cancel its open previous execution first,
    and how to advance it."""

    start: list[dict[str, Any]]
    cancel_previous: bool
    next_tick: datetime
    last_tick: datetime | None
    skipped: int


def _row(r: Sequence[Any]) -> ScheduleView:
    return ScheduleView(r[0], r[1], r[2], r[3], serde.loads(r[4]), *r[5:])


class ScheduleTransitions(ClientTransitions):
    """Storing, ticking and managing schedules."""

    def store_code_schedules(self, workflows: Sequence[str],
                             schedules: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Store the schedules the code of ``workflows`` declares (created, or updated where
        the code changed them) and delete those it no longer declares. Returns the names
        changed, and why each schedule left out was: one whose name a schedule created at
        run time holds (the others are stored all the same)."""
        changed: list[str] = []
        clashes: list[str] = []
        with self.connection() as c, translate_errors(), c.transaction():
            for schedule in schedules:
                found = c.execute(self.sql.SCHEDULE_SOURCE, schedule).fetchone()
                if found is not None and found[0] != "code":
                    clashes.append(
                        f"schedule {schedule['name']!r} of workflow {schedule['workflow']!r} "
                        f"clashes with a schedule created at run time; rename one of them")
                    continue
                if c.execute(self.sql.UPSERT_CODE_SCHEDULE, schedule).fetchone():
                    changed.append(schedule["name"])
            gone = c.execute(self.sql.DELETE_STALE_CODE_SCHEDULES, {
                "workflows": list(workflows),
                "names": [s["name"] for s in schedules]}).fetchall()
        return changed + [name for (name,) in gone], clashes

    def create_schedule(self, schedule: dict[str, Any]) -> ScheduleView:
        """Create a schedule at run time; refused if the name is taken."""
        with self.connection() as c:
            row = c.execute(self.sql.CREATE_SCHEDULE, schedule).fetchone()
        if row is None:
            raise ActionRefused(f"a schedule named {schedule['name']!r} exists already",
                                action="create schedule")
        return _row(row)

    def schedules(self) -> list[ScheduleView]:
        """Every stored schedule, by name."""
        with self.connection() as c:
            return [_row(r) for r in c.execute(self.sql.SCHEDULES).fetchall()]

    def schedule(self, name: str) -> ScheduleView | None:
        """The stored schedule ``name``, or None."""
        with self.connection() as c:
            row = c.execute(self.sql.SCHEDULE, {"name": name}).fetchone()
        return None if row is None else _row(row)

    def set_schedule_paused(self, name: str, paused: bool,
                            next_tick: datetime | None) -> ScheduleView | None:
        """Pause or resume (with its next tick after now): None if it already was."""
        with self.connection() as c:
            row = c.execute(self.sql.SET_SCHEDULE_PAUSED, {
                "name": name, "paused": paused, "next_tick": next_tick}).fetchone()
        return None if row is None else _row(row)

    def delete_schedule(self, name: str) -> bool:
        """Delete a schedule (its executions stay); False if there was none."""
        with self.connection() as c:
            return c.execute(self.sql.DELETE_SCHEDULE, {"name": name}).fetchone() is not None


    def tick_schedules(self, workflows: Sequence[str],
                       decide: Callable[[DueSchedule], TickAction],
                       cancel: Callable[[Connection, str, str], None],
                       ) -> tuple[int, float | None]:
        """One tick round: every due schedule of ``workflows`` that no other worker is
        ticking, decided by ``decide``, in one transaction. Returns the executions started
        and the seconds until the next tick of these workflows' schedules (None: none)."""
        started = 0
        with self.connection() as c, translate_errors(), c.transaction():
            rows = c.execute(self.sql.DUE_SCHEDULES, {"workflows": list(workflows)}).fetchall()
            for r in rows:
                due = DueSchedule(r[0], r[1], r[2], r[3], serde.loads(r[4]), *r[5:])
                action = decide(due)
                if action.cancel_previous and due.previous_open and due.last_execution_id:
                    cancel(c, due.last_execution_id, f"schedule {due.name}")
                last = None
                for execution in action.start:
                    if self.create_execution(conn=c, **execution):
                        started += 1
                    last = execution["execution_id"]
                c.execute(self.sql.ADVANCE_SCHEDULE, {
                    "name": due.name, "next_tick": action.next_tick,
                    "last_tick": action.last_tick, "last_execution_id": last,
                    "fired": len(action.start), "skipped": action.skipped})
            following = c.execute(self.sql.NEXT_TICK_IN, {"workflows": list(workflows)}
                                  ).fetchone()
        return started, None if following is None else following[0]
