"""The OpenAPI 3.1 document served at ``/openapi.json``, built from the routes themselves (a
route without a description here fails the tests) and the component schemas of
:mod:`.schemas`. Bounds that are settings (the long-poll's longest wait) come from the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import __version__
from ..constants import ExecutionStatus
from .api_operations import MAX_ACTIVITY_SPAN
from .inputs import TIME_PATTERN
from .schemas import COMPONENTS, NAME, ref

if TYPE_CHECKING:
    from .app import Settings
    from .routing import Route

__all__ = ["openapi_document"]

JsonSchema = dict[str, Any]

_TIME_PARAM: JsonSchema = {"type": "string", "format": "date-time", "pattern": TIME_PATTERN}

_MESSAGES = {
    200: "OK", 201: "Created", 202: "Not finished yet: ask again",
    401: "No or unknown bearer token", 403: "The token lacks the scope, or the request came "
    "from another site", 404: "Unknown execution, workflow, pause rule or path",
    409: "Refused: the execution is in a state where this makes no sense, or the id is taken",
    413: "The body is larger than the app's limit", 415: "The body is not application/json",
    422: "Invalid input: the message names the field and the problem",
    503: "The database is unavailable; retry later",
}


def _query(name: str, schema: JsonSchema, description: str, **extra: Any) -> JsonSchema:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description, **extra}


def _operations(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per operationId: summary, parameters, request body component, responses."""
    boolean = {"type": "boolean"}
    return {
        "startExecution": {
            "summary": "Start a workflow (idempotent by id)", "body": "StartRequest",
            "ok": (200, "Started"), "errors": [404, 409]},
        "describeExecution": {"summary": "Everything about one execution",
                              "ok": (200, "ExecutionDetail"), "errors": [404]},
        "getStatus": {"summary": "The execution's status", "ok": (200, "Status"),
                      "errors": [404]},
        "getResult": {
            "summary": "Wait for the result (long-poll, bounded)", "ok": (200, "Outcome"),
            "also": [(202, "Status")], "errors": [404],
            "query": [_query("timeout", {"type": "number", "minimum": 0,
                                         "maximum": settings.max_result_wait},
                             "Seconds to wait for the execution to finish (default 0).")]},
        "whyWaiting": {"summary": "Why the execution is where it is", "ok": (200, "Waiting"),
                       "errors": [404]},
        "sendEvent": {"summary": "Deliver an event (the first of a name stands)",
                      "body": "EventRequest", "ok": (200, "Delivered"), "errors": [404, 409]},
        "cancelExecution": {"summary": "Cancel (stops at its next checkpoint)",
                            "body": "ByRequest", "ok": (200, "ActionDone"), "errors": [404]},
        "retryExecution": {"summary": "Carry a failed execution on from its failed step",
                           "body": "ByRequest", "ok": (200, "ActionDone"),
                           "errors": [404, 409]},
        "restartExecution": {"summary": "Run a finished execution again from the beginning",
                             "body": "RestartRequest", "ok": (200, "ActionDone"),
                             "errors": [404, 409]},
        "rerunExecution": {"summary": "Run a finished execution again from one command",
                           "body": "RerunRequest", "ok": (200, "ActionDone"),
                           "errors": [404, 409]},
        "resumeExecution": {"summary": "Let a cancelled execution go on",
                            "body": "ByRequest", "ok": (200, "ActionDone"),
                            "errors": [404, 409]},
        "listExecutions": {
            "summary": "A page of executions, newest first", "ok": (200, "Page"),
            "query": [
                _query("status", {"type": "array", "items": {"enum": list(ExecutionStatus)}},
                       "Only these statuses (repeat the parameter).", style="form",
                       explode=True),
                _query("workflow", NAME, "Only this workflow."),
                _query("id_prefix", NAME, "Only ids that begin with this."),
                _query("created_after", _TIME_PARAM, "Created at or after this time."),
                _query("created_before", _TIME_PARAM, "Created before this time."),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
                       "At most this many (default 50)."),
                _query("cursor", {"type": "string", "minLength": 1, "maxLength": 500},
                       "The cursor of the previous page.")]},
        "getStats": {"summary": "Counts by status and workflow; live workers",
                     "ok": (200, "Stats")},
        "getActivity": {
            "summary": "Executions started and finished over time", "ok": (200, "Activity"),
            "query": [
                _query("span", {"type": "integer", "minimum": 60,
                                "maximum": MAX_ACTIVITY_SPAN},
                       "Seconds back from now (default 86400)."),
                _query("buckets", {"type": "integer", "minimum": 1, "maximum": 500},
                       "How many buckets to divide them into (default 24).")]},
        "listWorkers": {"summary": "Worker processes and their heartbeats",
                        "ok": (200, {"type": "array", "items": ref("Worker")}),
                        "query": [_query("include_stopped", boolean,
                                         "Also the stopped and silent ones.")]},
        "listPauses": {"summary": "Pause rules",
                       "ok": (200, {"type": "array", "items": ref("PauseRule")}),
                       "query": [_query("all", boolean, "Also the lifted and expired ones.")]},
        "createPause": {"summary": "Create a pause rule", "body": "PauseRequest",
                        "ok": (201, "PauseRule")},
        "unpause": {"summary": "Lift a pause rule", "body": "ByRequest",
                    "ok": (200, "PauseRule"), "errors": [404, 409]},
        "purge": {"summary": "Delete old finished executions", "body": "PurgeRequest",
                  "ok": (200, "PurgeResult"), "errors": [409]},
        "getSession": {"summary": "The caller's scope", "ok": (200, "Session")},
        "listSchedules": {"summary": "Cron schedules",
                          "ok": (200, {"type": "array", "items": ref("Schedule")})},
        "getSchedule": {"summary": "One cron schedule", "ok": (200, "Schedule"),
                        "errors": [404]},
        "createSchedule": {"summary": "Create a cron schedule", "body": "ScheduleRequest",
                           "ok": (201, "Schedule"), "errors": [409]},
        "pauseSchedule": {"summary": "Stop ticking a schedule", "body": "EmptyRequest",
                          "ok": (200, "Schedule"), "errors": [404, 409]},
        "resumeSchedule": {"summary": "Tick a paused schedule again", "body": "EmptyRequest",
                           "ok": (200, "Schedule"), "errors": [404, 409]},
        "triggerSchedule": {"summary": "Start one execution now, off the timetable",
                            "body": "EmptyRequest", "ok": (200, "Started"),
                            "errors": [404, 409]},
        "backfillSchedule": {"summary": "Start every tick of a past time range",
                             "body": "BackfillRequest", "ok": (200, "Backfilled"),
                             "errors": [404, 409]},
        "deleteSchedule": {"summary": "Delete a schedule created at run time",
                           "body": "EmptyRequest", "ok": (200, "Deleted"),
                           "errors": [404, 409]},
    }


def _content(schema: str | JsonSchema) -> JsonSchema:
    return {"application/json": {"schema": ref(schema) if isinstance(schema, str) else schema}}


def _path_parameters(route: Route) -> list[JsonSchema]:
    found = []
    for part in route.pattern:
        if part == "{id}":
            found.append({"name": "id", "in": "path", "required": True, "schema": NAME,
                          "description": "The execution id (percent-encode a '/')."})
        elif part == "{rule}":
            found.append({"name": "rule", "in": "path", "required": True,
                          "schema": {"type": "integer", "minimum": 1,
                                     "maximum": 999_999_999_999_999_999},
                          "description": "The pause rule's id."})
        elif part == "{name}":
            found.append({"name": "name", "in": "path", "required": True, "schema": NAME,
                          "description": "The schedule's name."})
    return found


def _operation(route: Route, spec: dict[str, Any]) -> JsonSchema:
    status, schema = spec["ok"]
    responses: dict[str, JsonSchema] = {
        str(status): {"description": _MESSAGES[status], "content": _content(schema)}}
    for extra_status, extra_schema in spec.get("also", []):
        responses[str(extra_status)] = {"description": _MESSAGES[extra_status],
                                        "content": _content(extra_schema)}
    errors = {401, 403, 422, 503, *spec.get("errors", [])}
    if "body" in spec:
        errors |= {413, 415}
    for code in sorted(errors):
        responses[str(code)] = {"description": _MESSAGES[code], "content": _content("Error")}
    operation: JsonSchema = {
        "operationId": route.operation, "summary": spec["summary"],
        "description": (route.handler.__doc__ or "").strip(),
        "tags": ["schedules" if "schedules" in route.pattern else "executions"
                 if "{id}" in route.pattern or route.pattern == ("api", "executions")
                 else "operations"],
        "parameters": [*_path_parameters(route), *spec.get("query", [])],
        "responses": responses,
        "security": [{"bearer": [route.scope]}],
    }
    if "body" in spec:
        operation["requestBody"] = {"required": False, "content": _content(spec["body"])}
        if spec["body"] in ("StartRequest", "EventRequest", "RerunRequest", "PauseRequest",
                            "PurgeRequest", "ScheduleRequest", "BackfillRequest"):
            operation["requestBody"]["required"] = True
    return operation


def openapi_document(routes: list[Route], settings: Settings, script_name: str) -> JsonSchema:
    """The document for these routes, served from ``script_name`` (the mount point)."""
    operations = _operations(settings)
    paths: dict[str, dict[str, JsonSchema]] = {}
    for route in routes:
        if not route.operation:
            continue
        if route.operation not in operations:
            raise KeyError(f"route {route.method} {route.path} ({route.operation}) has no "
                           f"OpenAPI description")
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route, operations[route.operation])
    return {
        "openapi": "3.1.0",
        "info": {"title": "zart", "version": __version__,
                 "description": "Durable execution on PostgreSQL: start, inspect and operate "
                                "executions. Errors are {\"error\": {\"type\", \"message\"}}."},
        "servers": [{"url": script_name or "/"}],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A read token may call every GET; an operate token also "
                               "everything else."}},
        },
    }
