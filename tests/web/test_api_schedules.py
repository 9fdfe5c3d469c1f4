"""The HTTP API of cron schedules: create, list, describe, pause, resume, trigger, backfill,
delete, each refusal with the status that names it (404 unknown, 409 refused, 422 invalid,
403 without the operate scope)."""

from __future__ import annotations

from datetime import UTC, timedelta

import zart

from .conftest import WebClient


def test_a_schedule_is_created_paused_resumed_triggered_backfilled_and_deleted(
        operator: WebClient, app: zart.Zart) -> None:
    from tests.web import web_app  # noqa: F401  (trigger and backfill start its workflow)

    created = operator.post("/api/schedules", {
        "name": "web-daily", "workflow": "web-approval", "expression": "0 6 * * *",
        "tz": "Europe/Paris", "data": {"amount": 5}})
    assert created.status == 201, created.body
    assert created.json()["tz"] == "Europe/Paris" and created.json()["source"] == "api"
    assert [s["name"] for s in operator.get("/api/schedules").json()] == ["web-daily"]
    assert operator.get("/api/schedules/web-daily").json()["expression"] == "0 6 * * *"
    assert operator.post("/api/schedules/web-daily/pause").json()["paused"] is True
    again = operator.post("/api/schedules/web-daily/pause")
    assert again.status == 409 and "paused already" in again.error["message"]
    assert operator.post("/api/schedules/web-daily/resume").json()["paused"] is False
    triggered = operator.post("/api/schedules/web-daily/trigger")
    assert triggered.status == 200, triggered.body
    assert triggered.json()["id"].startswith("web-daily@manual-")
    assert app.handle(triggered.json()["id"]).describe().input["amount"] == 5
    end = app.store.clock_now().astimezone(UTC) - timedelta(days=1)
    backfill = {"start": (end - timedelta(days=2)).isoformat(), "end": end.isoformat()}
    filled = operator.post("/api/schedules/web-daily/backfill", backfill)
    assert filled.status == 200 and len(filled.json()["ids"]) in (2, 3), filled.body
    assert operator.post("/api/schedules/web-daily/backfill", backfill).json() == filled.json()
    assert operator.post("/api/schedules/web-daily/delete").json() == {"name": "web-daily",
                                                                       "deleted": True}
    gone = operator.get("/api/schedules/web-daily")
    assert gone.status == 404 and gone.error["type"] == "ScheduleNotFound"


def test_bad_schedules_are_refused_naming_the_problem(operator: WebClient,
                                                      reader: WebClient) -> None:
    body = {"name": "web-bad", "workflow": "web-approval", "expression": "0 25 * * *"}
    bad_cron = operator.post("/api/schedules", body)
    assert bad_cron.status == 422 and "'0 25 * * *' is not valid" in bad_cron.error["message"]
    bad_zone = operator.post("/api/schedules", {**body, "expression": "0 5 * * *",
                                                "tz": "Mars/Base"})
    assert bad_zone.status == 422 and "not an IANA time zone" in bad_zone.error["message"]
    bad_policy = operator.post("/api/schedules", {**body, "expression": "0 5 * * *",
                                                  "overlap": "queue"})
    assert bad_policy.status == 422 and "'overlap'" in bad_policy.error["message"]
    missing = operator.post("/api/schedules", {"name": "web-bad", "workflow": "web-approval"})
    assert missing.status == 422 and "'expression' is required" in missing.error["message"]
    forbidden = reader.post("/api/schedules", {**body, "expression": "0 5 * * *"})
    assert forbidden.status == 403
    future = operator.post("/api/schedules", {**body, "expression": "0 5 * * *"})
    assert future.status == 201
    ahead = operator.post("/api/schedules/web-bad/backfill", {
        "start": "2026-01-01T00:00:00Z", "end": "2999-01-01T00:00:00Z"})
    assert ahead.status == 422 and "in the future" in ahead.error["message"]
    operator.post("/api/schedules/web-bad/delete")


def test_metrics_are_served_to_a_token_holder_in_prometheus_text(
        reader: WebClient, web: object, app: zart.Zart) -> None:
    app.start("web-approval", {"amount": 1})  # counted: this process started it
    served = reader.get("/metrics")
    assert served.status == 200, served.body
    assert served.headers["Content-Type"].startswith("text/plain")
    text = served.body.decode()
    assert 'zart_executions_started_total{created="true",workflow="web-approval"}' in text
    assert "zart_due_executions{schema=" in text
    anonymous = WebClient(reader.app, remote_addr="10.0.0.9").get(
        "/metrics", headers={"Host": "zart.example.com"})
    assert anonymous.status == 401
