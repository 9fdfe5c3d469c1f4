"""The API of one execution: start, status, result (long-poll), describe, why it waits, send
an event, cancel, retry, restart, rerun from a step, resume. Each handler checks its input
(:mod:`.inputs`), makes one library call and returns its JSON; it never speaks SQL."""

from __future__ import annotations

from typing import Any

from ..constants import FINAL_STATUSES
from ..errors import ResultTimeout, WorkflowFailed
from ..operations import KEEP_INPUT
from .http import Response, json_response
from .inputs import Fields, check_name
from .routing import Context, Route

__all__ = ["ROUTES"]


def _id(params: dict[str, str]) -> str:
    return check_name(params["id"], "execution id")


def _body(ctx: Context) -> Fields:
    return Fields.of_body(ctx.request.json_body())


def _query(ctx: Context) -> Fields:
    return Fields.of_query(ctx.request.query)


def start(ctx: Context, params: dict[str, str]) -> Response:
    """Start a workflow (idempotent by ``id``)."""
    body = _body(ctx)
    workflow = body.name("workflow", required=True)
    data = body.raw("input")
    execution_id = body.name("id")
    queue = body.name("queue")
    key = body.name("key")
    priority = body.integer("priority", 0, -1_000_000, 1_000_000)
    body.done()
    assert workflow is not None
    handle = ctx.zart.start(workflow, data, id=execution_id, queue=queue, key=key,
                            priority=priority)
    return json_response({"id": handle.id, "workflow": workflow, "status": handle.status()})


def status(ctx: Context, params: dict[str, str]) -> Response:
    """The execution's status."""
    execution_id = _id(params)
    _query(ctx).done()
    return json_response({"id": execution_id,
                          "status": ctx.zart.handle(execution_id).status()})


def result(ctx: Context, params: dict[str, str]) -> Response:
    """Wait up to ``timeout`` seconds (bounded by the app's ``max_result_wait``) for the
    execution to finish: 200 with its result or error once it has, 202 with its status if it
    has not yet (ask again)."""
    execution_id = _id(params)
    query = _query(ctx)
    timeout = query.number("timeout", 0.0, 0.0, ctx.settings.max_result_wait)
    query.done()
    handle = ctx.zart.handle(execution_id)
    if timeout == 0 and handle.status() not in FINAL_STATUSES:
        # Asked not to wait: answer from the row, without subscribing to the listener.
        return json_response({"id": execution_id, "status": handle.status()}, 202)
    try:
        value = handle.result(timeout=timeout or None)
    except WorkflowFailed as failed:
        return json_response({"id": execution_id, "status": failed.status,
                              "error": failed.cause})
    except ResultTimeout:
        return json_response({"id": execution_id, "status": handle.status()}, 202)
    return json_response({"id": execution_id, "status": "completed", "result": value})


def describe(ctx: Context, params: dict[str, str]) -> Response:
    """Everything about the execution (``handle.describe()``)."""
    execution_id = _id(params)
    _query(ctx).done()
    return json_response(ctx.zart.handle(execution_id).describe().to_json())


def waiting(ctx: Context, params: dict[str, str]) -> Response:
    """Why the execution is where it is."""
    execution_id = _id(params)
    _query(ctx).done()
    return json_response(ctx.zart.handle(execution_id).waiting().to_json())


def send_event(ctx: Context, params: dict[str, str]) -> Response:
    """Deliver an event (kept until the wait reaches it; the first of a name stands)."""
    execution_id = _id(params)
    body = _body(ctx)
    name = body.name("name", required=True)
    payload = body.raw("payload")
    body.done()
    assert name is not None
    delivered = ctx.zart.send_event(execution_id, name, payload)
    return json_response({"id": execution_id, "event": name, "delivered": delivered})


def cancel(ctx: Context, params: dict[str, str]) -> Response:
    """Cancel the execution (``cancelled`` is false if it had already finished)."""
    execution_id = _id(params)
    body = _body(ctx)
    by = body.name("by")
    body.done()
    cancelled = ctx.zart.cancel(execution_id, by=ctx.by(by))
    return _repaired(execution_id, "cancel", {"cancelled": cancelled})


def _repaired(execution_id: str, action: str, details: dict[str, Any]) -> Response:
    return json_response({"id": execution_id, "action": action, "details": details})


def retry(ctx: Context, params: dict[str, str]) -> Response:
    """A failed execution carries on from its failed step."""
    execution_id, body = _id(params), _body(ctx)
    by = ctx.by(body.name("by"))
    body.done()
    return _repaired(execution_id, "retry", ctx.zart.retry(execution_id, by=by))


def restart(ctx: Context, params: dict[str, str]) -> Response:
    """A finished execution runs again from the beginning; ``input``, when given (``null``
    included), replaces its input."""
    execution_id, body = _id(params), _body(ctx)
    by = ctx.by(body.name("by"))
    data = body.raw("input") if body.has("input") else KEEP_INPUT
    body.done()
    return _repaired(execution_id, "restart",
                     ctx.zart.restart(execution_id, data=data, by=by))


def rerun(ctx: Context, params: dict[str, str]) -> Response:
    """A finished execution runs again from the command ``from_step`` of its history."""
    execution_id, body = _id(params), _body(ctx)
    by = ctx.by(body.name("by"))
    from_step = body.name("from_step", required=True)
    body.done()
    assert from_step is not None
    return _repaired(execution_id, "rerun",
                     ctx.zart.rerun(execution_id, from_step=from_step, by=by))


def resume(ctx: Context, params: dict[str, str]) -> Response:
    """A cancelled execution goes on where it stopped."""
    execution_id, body = _id(params), _body(ctx)
    by = ctx.by(body.name("by"))
    body.done()
    return _repaired(execution_id, "resume", ctx.zart.resume(execution_id, by=by))


_EXECUTION = ("api", "executions", "{id}")

ROUTES = [
    Route("POST", ("api", "executions"), "operate", start, "startExecution"),
    Route("GET", _EXECUTION, "read", describe, "describeExecution"),
    Route("GET", (*_EXECUTION, "status"), "read", status, "getStatus"),
    Route("GET", (*_EXECUTION, "result"), "read", result, "getResult"),
    Route("GET", (*_EXECUTION, "waiting"), "read", waiting, "whyWaiting"),
    Route("POST", (*_EXECUTION, "events"), "operate", send_event, "sendEvent"),
    Route("POST", (*_EXECUTION, "cancel"), "operate", cancel, "cancelExecution"),
    Route("POST", (*_EXECUTION, "retry"), "operate", retry, "retryExecution"),
    Route("POST", (*_EXECUTION, "restart"), "operate", restart, "restartExecution"),
    Route("POST", (*_EXECUTION, "rerun"), "operate", rerun, "rerunExecution"),
    Route("POST", (*_EXECUTION, "resume"), "operate", resume, "resumeExecution"),
]
"""The routes of one execution (and of starting one)."""
