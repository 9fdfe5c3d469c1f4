"""The API over many executions: list (filters and a cursor), stats, activity over time,
workers, pause rules (create, list, unpause), purge, and who the caller is. Each handler
checks its input (:mod:`.inputs`) and makes one library call."""

from __future__ import annotations

from ..constants import FINAL_STATUSES, ExecutionStatus
from .http import Response, json_response
from .inputs import Fields, invalid
from .routing import Context, Route

__all__ = ["MAX_ACTIVITY_SPAN", "ROUTES"]

MAX_ACTIVITY_SPAN = 366 * 86400
"""The longest span of time the activity chart covers (seconds)."""


def _statuses(values: list[str], what: str, allowed: set[str]) -> list[str] | None:
    for value in values:
        if value not in allowed:
            raise invalid(f"{what} {value[:40]!r} is not one of {', '.join(sorted(allowed))}")
    return values or None


def list_executions(ctx: Context, params: dict[str, str]) -> Response:
    """A page of executions, newest first."""
    query = Fields.of_query(ctx.request.query)
    statuses = _statuses(query.names("status"), "status", set(ExecutionStatus))
    workflow = query.name("workflow")
    id_prefix = query.name("id_prefix")
    after = query.time("created_after")
    before = query.time("created_before")
    limit = query.integer("limit", 50, 1, 1000)
    cursor = query.raw("cursor")
    query.done()
    if cursor is not None and (not cursor or len(cursor) > 500):
        raise invalid("query parameter 'cursor' must be the cursor a page returned")
    page = ctx.zart.executions(status=statuses, workflow=workflow, created_after=after,
                               created_before=before, id_prefix=id_prefix, limit=limit,
                               cursor=cursor)
    return json_response(page.to_json())


def stats(ctx: Context, params: dict[str, str]) -> Response:
    """Counts by status and workflow, the oldest due execution's age, live workers."""
    Fields.of_query(ctx.request.query).done()
    return json_response(ctx.zart.stats().to_json())


def activity(ctx: Context, params: dict[str, str]) -> Response:
    """Executions started and finished per bucket over the last ``span`` seconds."""
    query = Fields.of_query(ctx.request.query)
    span = query.integer("span", 86400, 60, MAX_ACTIVITY_SPAN)
    buckets = query.integer("buckets", 24, 1, 500)
    query.done()
    bucket = max(1, -(-span // buckets))  # ceiling: never more buckets than asked
    return json_response(ctx.zart.activity(span=span, bucket=bucket).to_json())


def workers(ctx: Context, params: dict[str, str]) -> Response:
    """The worker processes, newest first."""
    query = Fields.of_query(ctx.request.query)
    include_stopped = query.boolean("include_stopped")
    query.done()
    return json_response([w.to_json() for w in ctx.zart.workers(
        include_stopped=include_stopped)])


def pauses(ctx: Context, params: dict[str, str]) -> Response:
    """The pause rules: the active ones, or ``all``."""
    query = Fields.of_query(ctx.request.query)
    everything = query.boolean("all")
    query.done()
    return json_response([r.to_json() for r in ctx.zart.pauses(active_only=not everything)])


def pause(ctx: Context, params: dict[str, str]) -> Response:
    """Create a pause rule. Like ``zart pause``, a rule with no criterion holds everything
    and must say so with ``"all": true``."""
    body = Fields.of_body(ctx.request.json_body())
    workflow = body.name("workflow")
    execution = body.name("execution")
    step = body.name("step")
    reason = body.text("reason")
    until = body.when("until")
    everything = body.boolean("all")
    by = ctx.by(body.name("by"))
    body.done()
    if not (workflow or execution or step or everything):
        raise invalid("give workflow, execution or step, or \"all\": true to pause everything")
    rule = ctx.zart.pause(workflow=workflow, execution=execution, step=step, reason=reason,
                          until=until, by=by)
    return json_response(rule.to_json(), 201)


def unpause(ctx: Context, params: dict[str, str]) -> Response:
    """Lift a pause rule."""
    text = params["rule"]
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise invalid(f"a pause rule id is a positive integer, got {text[:30]!r}")
    body = Fields.of_body(ctx.request.json_body())
    by = ctx.by(body.name("by"))
    body.done()
    return json_response(ctx.zart.unpause(int(text), by=by).to_json())


def purge(ctx: Context, params: dict[str, str]) -> Response:
    """Delete finished executions older than ``older_than``."""
    body = Fields.of_body(ctx.request.json_body())
    older_than = body.duration("older_than", required=True)
    given_statuses = body.has("statuses")
    raw_statuses = body.raw("statuses")
    workflow = body.name("workflow")
    batch_size = body.integer("batch_size", 1000, 1, 100_000)
    body.done()
    assert older_than is not None
    if not given_statuses:
        statuses: list[str] = sorted(FINAL_STATUSES)
    elif isinstance(raw_statuses, list) and raw_statuses and \
            all(isinstance(s, str) for s in raw_statuses):
        statuses = _statuses(raw_statuses, "status", set(FINAL_STATUSES)) or []
    else:
        raise invalid("field 'statuses' must be a non-empty list of completed, failed, "
                      "cancelled")
    result = ctx.zart.purge(older_than=older_than, statuses=statuses, workflow=workflow,
                            batch_size=batch_size)
    return json_response(result.to_json())


def session(ctx: Context, params: dict[str, str]) -> Response:
    """What the caller may do: its scope, and how it authenticated."""
    Fields.of_query(ctx.request.query).done()
    assert ctx.access is not None  # the route needs the read scope
    return json_response({"scope": ctx.access.scope, "via": ctx.access.via,
                          "who": ctx.access.who})


ROUTES = [
    Route("GET", ("api", "executions"), "read", list_executions, "listExecutions"),
    Route("GET", ("api", "stats"), "read", stats, "getStats"),
    Route("GET", ("api", "activity"), "read", activity, "getActivity"),
    Route("GET", ("api", "workers"), "read", workers, "listWorkers"),
    Route("GET", ("api", "pauses"), "read", pauses, "listPauses"),
    Route("POST", ("api", "pauses"), "operate", pause, "createPause"),
    Route("POST", ("api", "pauses", "{rule}", "unpause"), "operate", unpause, "unpause"),
    Route("POST", ("api", "purge"), "operate", purge, "purge"),
    Route("GET", ("api", "session"), "read", session, "getSession"),
]
"""The routes over many executions."""
