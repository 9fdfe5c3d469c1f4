"""The API of cron schedules (``app.schedules``): list, describe, create, pause, resume,
trigger, backfill, delete. Each handler checks its input (:mod:`.inputs`) and makes one
library call; the library refuses what makes no sense (409) and bad timetables (422)."""

from __future__ import annotations

from .http import Response, json_response
from .inputs import Fields, check_name, invalid
from .routing import Context, Route

__all__ = ["CATCHUPS", "OVERLAPS", "ROUTES"]

OVERLAPS = ("skip", "allow", "cancel")
CATCHUPS = ("none", "latest", "all")


def _name(params: dict[str, str]) -> str:
    return check_name(params["name"], "schedule name")


def _choice(body: Fields, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.name(key)
    if value is None:
        return default
    if value not in allowed:
        raise invalid(f"field {key!r} must be one of {', '.join(allowed)}, got {value[:40]!r}")
    return value


def list_schedules(ctx: Context, params: dict[str, str]) -> Response:
    """Every schedule, by name."""
    Fields.of_query(ctx.request.query).done()
    return json_response([s.to_json() for s in ctx.zart.schedules.list()])


def get_schedule(ctx: Context, params: dict[str, str]) -> Response:
    """One schedule: timetable, policies, origin and progress."""
    Fields.of_query(ctx.request.query).done()
    return json_response(ctx.zart.schedules.get(_name(params)).to_json())


def create_schedule(ctx: Context, params: dict[str, str]) -> Response:
    """Create a schedule at run time (the workers that run its workflow tick it)."""
    body = Fields.of_body(ctx.request.json_body())
    name = body.name("name", required=True)
    workflow = body.name("workflow", required=True)
    expression = body.text("expression", max_length=200)
    tz = body.text("tz", max_length=100) or "UTC"
    data = body.raw("data")
    overlap = _choice(body, "overlap", OVERLAPS, "skip")
    catchup = _choice(body, "catchup", CATCHUPS, "latest")
    catchup_limit = body.integer("catchup_limit", 10, 1, 1000)
    body.done()
    if expression is None:
        raise invalid("field 'expression' is required (five cron fields, e.g. '0 3 * * *')")
    assert name is not None and workflow is not None
    created = ctx.zart.schedules.create(
        name, workflow, expression, tz=tz, data=data,
        overlap=overlap,  # type: ignore[arg-type]
        catchup=catchup,  # type: ignore[arg-type]
        catchup_limit=catchup_limit)
    return json_response(created.to_json(), 201)


def pause_schedule(ctx: Context, params: dict[str, str]) -> Response:
    """Stop ticking it (its open executions go on)."""
    Fields.of_body(ctx.request.json_body()).done()
    return json_response(ctx.zart.schedules.pause(_name(params)).to_json())


def resume_schedule(ctx: Context, params: dict[str, str]) -> Response:
    """Tick it again from its next tick after now."""
    Fields.of_body(ctx.request.json_body()).done()
    return json_response(ctx.zart.schedules.resume(_name(params)).to_json())


def trigger_schedule(ctx: Context, params: dict[str, str]) -> Response:
    """Start one execution of its workflow now, off the timetable (the workflow must be
    registered in the web process: its retry and timeout come from the code)."""
    Fields.of_body(ctx.request.json_body()).done()
    handle = ctx.zart.schedules.trigger(_name(params))
    row = handle.describe()
    return json_response({"id": handle.id, "workflow": row.workflow, "status": row.status})


def backfill_schedule(ctx: Context, params: dict[str, str]) -> Response:
    """Start the execution of every tick from ``start`` to ``end`` (a tick that ran is not
    run again)."""
    body = Fields.of_body(ctx.request.json_body())
    start = body.time("start")
    end = body.time("end")
    body.done()
    if start is None or end is None:
        raise invalid("fields 'start' and 'end' are required (RFC 3339 times)")
    name = _name(params)
    return json_response({"name": name,
                          "ids": ctx.zart.schedules.backfill(name, start, end)})


def delete_schedule(ctx: Context, params: dict[str, str]) -> Response:
    """Delete a schedule created at run time (its executions stay)."""
    Fields.of_body(ctx.request.json_body()).done()
    name = _name(params)
    ctx.zart.schedules.delete(name)
    return json_response({"name": name, "deleted": True})


ROUTES = [
    Route("GET", ("api", "schedules"), "read", list_schedules, "listSchedules"),
    Route("POST", ("api", "schedules"), "operate", create_schedule, "createSchedule"),
    Route("GET", ("api", "schedules", "{name}"), "read", get_schedule, "getSchedule"),
    Route("POST", ("api", "schedules", "{name}", "pause"), "operate", pause_schedule,
          "pauseSchedule"),
    Route("POST", ("api", "schedules", "{name}", "resume"), "operate", resume_schedule,
          "resumeSchedule"),
    Route("POST", ("api", "schedules", "{name}", "trigger"), "operate", trigger_schedule,
          "triggerSchedule"),
    Route("POST", ("api", "schedules", "{name}", "backfill"), "operate", backfill_schedule,
          "backfillSchedule"),
    Route("POST", ("api", "schedules", "{name}", "delete"), "operate", delete_schedule,
          "deleteSchedule"),
]
"""The routes of schedules."""
