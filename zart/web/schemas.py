"""The JSON Schemas of the OpenAPI document's components: what every response holds (the
read model's ``to_json()`` forms, :mod:`zart.views`) and what every request body may hold.

Responses are closed (``additionalProperties: false``): a field added to a view without its
schema fails the schemathesis test, so the document cannot drift from what is served.
"""

from __future__ import annotations

from typing import Any

from ..commands import MAX_NAME_LENGTH
from ..constants import FINAL_STATUSES, CommandKind, ExecutionStatus, StepStatus, WaitKind
from .inputs import (
    DURATION_PATTERN,
    MAX_DURATION_SECONDS,
    MAX_TEXT,
    NAME_PATTERN,
    TEXT_PATTERN,
    TIME_PATTERN,
)

__all__ = ["COMPONENTS", "ref"]

JsonSchema = dict[str, Any]


def ref(name: str) -> JsonSchema:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _null(schema: JsonSchema) -> JsonSchema:
    if "type" in schema and "$ref" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _record(properties: dict[str, JsonSchema], *, optional: tuple[str, ...] = ()
            ) -> JsonSchema:
    """A closed object: every property required unless named in ``optional``."""
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": [k for k in properties if k not in optional]}


TIME: JsonSchema = {"type": "string", "format": "date-time"}
INT: JsonSchema = {"type": "integer"}
TEXT: JsonSchema = {"type": "string"}
ANY: JsonSchema = {"description": "any JSON value"}
COUNTS: JsonSchema = {"type": "object", "additionalProperties": {"type": "integer"}}

NAME: JsonSchema = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH,
                    "pattern": NAME_PATTERN}
"""An execution id or a workflow, step, event, queue name; also ``by``."""

DURATION: JsonSchema = {"anyOf": [
    {"type": "number", "minimum": 0, "maximum": MAX_DURATION_SECONDS},
    {"type": "string", "pattern": DURATION_PATTERN, "maxLength": 64}],
    "description": "seconds, or text like '500ms', '2s', '1h30m', '7d'"}

STORED_ERROR: JsonSchema = {
    "type": "object", "description": "a stored error: its type and message, and for the "
    "workflow's own exceptions its module, traceback and attributes",
    "properties": {"type": TEXT, "message": TEXT, "module": TEXT,
                   "traceback": _null(TEXT), "attributes": _null({"type": "object"})}}

_RESPONSES: dict[str, JsonSchema] = {
    "Error": _record({"error": _record({"type": TEXT, "message": TEXT})}),
    "StoredError": STORED_ERROR,
    "ExecutionSummary": _record({
        "id": TEXT, "workflow": TEXT, "status": {"enum": list(ExecutionStatus)},
        "created_at": TIME, "updated_at": TIME, "finished_at": _null(TIME), "attempt": INT,
        "run": INT, "wait_kind": {"enum": [*WaitKind, None]}, "waiting_for": _null(TEXT),
        "wake_at": _null(TIME)}),
    "Page": _record({"items": {"type": "array", "items": ref("ExecutionSummary")},
                     "cursor": _null(TEXT)}),
    "Attempt": _record({"attempt": INT, "started_at": _null(TIME), "finished_at": _null(TIME),
                        "ok": _null({"type": "boolean"}), "error": _null(STORED_ERROR)}),
    "Command": _record({
        "seq": INT, "kind": {"enum": list(CommandKind)}, "name": TEXT,
        "status": {"enum": list(StepStatus)}, "ok": _null({"type": "boolean"}),
        "child": {"type": "boolean"}, "created_at": TIME, "started_at": _null(TIME),
        "finished_at": _null(TIME), "wake_at": _null(TIME),
        "attempts": {"type": "array", "items": ref("Attempt")}, "preview": _null(TEXT),
        "error": _null(STORED_ERROR), "child_execution": _null(TEXT)}),
    "Run": _record({
        "run": INT, "started_at": TIME, "ended_at": _null(TIME), "status": TEXT,
        "began_by": TEXT, "rerun_from": _null(TEXT), "result": ANY,
        "error": _null(STORED_ERROR), "history": {"type": "array", "items": ref("Command")}}),
    "Action": _record({"action": TEXT, "by": _null(TEXT), "at": TIME,
                       "details": _null({"type": "object"})}),
    "Waiting": _record({
        "state": {"enum": ["sleeping", "event", "children", "child", "retrying",
                           "backing_off", "paused", "due", "queued", "no_worker", "held",
                           "finished"]},
        "text": TEXT, "until": _null(TIME), "event": _null(TEXT), "deadline": _null(TIME),
        "step": _null(TEXT), "attempt": _null(INT), "open_children": _null(INT),
        "children": _null(INT), "rule": _null(INT), "child": _null(TEXT),
        "worker": _null(TEXT), "since": _null(TIME), "lease_until": _null(TIME)}),
    "ExecutionDetail": _record({
        "id": TEXT, "workflow": TEXT, "status": {"enum": list(ExecutionStatus)},
        "input": ANY, "result": ANY, "error": _null(STORED_ERROR), "attempt": INT,
        "max_attempts": INT, "lost_leases": INT, "created_at": TIME, "updated_at": TIME,
        "finished_at": _null(TIME), "deadline": _null(TIME), "run": INT,
        "runs": {"type": "array", "items": ref("Run")},
        "actions": {"type": "array", "items": ref("Action")}, "waiting": ref("Waiting"),
        "parent_id": _null(TEXT),
        "children": {"type": "array", "items": ref("ExecutionSummary")}}),
    "Worker": _record({
        "id": TEXT, "name": TEXT, "host": TEXT, "pid": INT, "version": TEXT, "threads": INT,
        "lease": {"type": "number"}, "workflows": {"type": "array", "items": TEXT},
        "started_at": TIME, "heartbeat_at": TIME, "stopped_at": _null(TIME),
        "alive": {"type": "boolean"}}),
    "PauseRule": _record({
        "id": INT, "workflow": _null(TEXT), "execution_id": _null(TEXT),
        "step_pattern": _null(TEXT), "reason": _null(TEXT), "created_by": _null(TEXT),
        "created_at": TIME, "until": _null(TIME), "lifted_at": _null(TIME),
        "lifted_by": _null(TEXT), "active": {"type": "boolean"}}),
    "Stats": _record({"by_status": COUNTS,
                      "by_workflow": {"type": "object", "additionalProperties": COUNTS},
                      "oldest_due_seconds": _null({"type": "number"}), "live_workers": INT,
                      "due": INT}),
    "Activity": _record({
        "since": TIME, "until": TIME, "bucket_seconds": {"type": "number"},
        "buckets": {"type": "array", "items": _record({
            "start": TIME, "started": INT, "completed": INT, "failed": INT,
            "cancelled": INT})}}),
    "PurgeResult": _record({"executions": INT, "batches": INT, "by_status": COUNTS}),
    "Started": _record({"id": TEXT, "workflow": TEXT, "status": {"enum": list(ExecutionStatus)}}),
    "Status": _record({"id": TEXT, "status": {"enum": list(ExecutionStatus)}}),
    "Outcome": _record({"id": TEXT, "status": {"enum": list(ExecutionStatus)}, "result": ANY,
                        "error": STORED_ERROR}, optional=("result", "error")),
    "Delivered": _record({"id": TEXT, "event": TEXT, "delivered": {"type": "boolean"}}),
    "ActionDone": _record({"id": TEXT, "action": {"enum": ["cancel", "retry", "restart",
                                                           "rerun", "resume"]},
                           "details": {"type": "object"}}),
    "Schedule": _record({
        "name": TEXT, "workflow": TEXT, "expression": TEXT, "tz": TEXT, "data": ANY,
        "overlap": {"enum": ["skip", "allow", "cancel"]},
        "catchup": {"enum": ["none", "latest", "all"]}, "catchup_limit": INT,
        "source": {"enum": ["code", "api"]}, "paused": {"type": "boolean"},
        "next_tick": TIME, "last_tick": _null(TIME), "last_execution_id": _null(TEXT),
        "fired": INT, "skipped": INT, "created_at": TIME, "updated_at": TIME}),
    "Backfilled": _record({"name": TEXT, "ids": {"type": "array", "items": TEXT}}),
    "Deleted": _record({"name": TEXT, "deleted": {"const": True}}),
    "Session": _record({"scope": {"enum": ["read", "operate"]},
                        "via": {"enum": ["token", "session", "local", "open"]},
                        "who": TEXT}),
}

_BY = {"by": {**NAME, "description": "who did it, for the audit trail (default: the "
                                     "credential used)"}}

_REQUESTS: dict[str, JsonSchema] = {
    "StartRequest": _record({
        "workflow": NAME, "input": ANY, "id": NAME, "queue": NAME, "key": NAME,
        "priority": {"type": "integer", "minimum": -1_000_000, "maximum": 1_000_000}},
        optional=("input", "id", "queue", "key", "priority")),
    "EventRequest": _record({"name": NAME, "payload": ANY}, optional=("payload",)),
    "ByRequest": _record(_BY, optional=("by",)),
    "RestartRequest": _record({**_BY, "input": ANY}, optional=("by", "input")),
    "RerunRequest": _record({**_BY, "from_step": NAME}, optional=("by",)),
    "PauseRequest": {
        **_record({**_BY, "workflow": NAME, "execution": NAME, "step": NAME,
                   "reason": {"type": "string", "maxLength": MAX_TEXT, "pattern": TEXT_PATTERN},
                   "until": {"anyOf": [DURATION, {"type": "string", "format": "date-time",
                                                  "maxLength": 64}]},
                   "all": {"type": "boolean"}},
                  optional=("by", "workflow", "execution", "step", "reason", "until", "all")),
        "anyOf": [{"required": ["workflow"]}, {"required": ["execution"]},
                  {"required": ["step"]},
                  {"required": ["all"], "properties": {"all": {"const": True}}}]},
    "EmptyRequest": _record({}),
    "ScheduleRequest": _record({
        "name": NAME, "workflow": NAME,
        "expression": {"type": "string", "maxLength": 200, "pattern": TEXT_PATTERN,
                       "description": "five cron fields, e.g. '0 3 * * *'"},
        "tz": {"type": "string", "maxLength": 100, "pattern": TEXT_PATTERN,
               "description": "an IANA time zone (default UTC)"},
        "data": ANY, "overlap": {"enum": ["skip", "allow", "cancel"]},
        "catchup": {"enum": ["none", "latest", "all"]},
        "catchup_limit": {"type": "integer", "minimum": 1, "maximum": 1000}},
        optional=("tz", "data", "overlap", "catchup", "catchup_limit")),
    "BackfillRequest": _record({
        "start": {"type": "string", "format": "date-time", "pattern": TIME_PATTERN},
        "end": {"type": "string", "format": "date-time", "pattern": TIME_PATTERN}}),
    "PurgeRequest": _record({
        "older_than": DURATION,
        "statuses": {"type": "array", "minItems": 1, "items": {"enum": sorted(FINAL_STATUSES)}},
        "workflow": NAME, "batch_size": {"type": "integer", "minimum": 1, "maximum": 100_000}},
        optional=("statuses", "workflow", "batch_size")),
}

COMPONENTS: dict[str, JsonSchema] = {**_RESPONSES, **_REQUESTS}
"""Every component schema, by name."""
