"""The HTTP API serves every library call: start (idempotent), status, result (long-poll),
describe, why-waiting, events, cancel and the repairs, lists, counts, pauses, purge; every
refusal is {"error": {"type", "message"}} with the status that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

import zart

from .conftest import OPERATE, WebClient, wait_until

pytestmark = pytest.mark.usefixtures("web_worker")


def settled(app: zart.Zart, execution_id: str, status: str) -> None:
    wait_until(lambda: app.handle(execution_id).status() == status,
               what=f"{execution_id} to be {status}")


def test_start_is_idempotent_by_id_and_a_different_input_is_a_conflict(
        operator: WebClient, app: zart.Zart) -> None:
    body = {"workflow": "web-approval", "id": "start-1", "input": {"n": 1}}
    first = operator.post("/api/executions", body)
    again = operator.post("/api/executions", body)
    assert first.status == again.status == 200, first.body
    assert first.json()["id"] == again.json()["id"] == "start-1"
    assert app.handle("start-1").describe().input == {"n": 1}
    conflict = operator.post("/api/executions", {**body, "input": {"n": 2}})
    assert conflict.status == 409 and conflict.error["type"] == "ExecutionConflict"
    unknown = operator.post("/api/executions", {"workflow": "no-such-flow"})
    assert unknown.status == 404 and unknown.error["type"] == "WorkflowNotFound"


def test_result_long_polls_until_the_event_arrives_and_returns_the_value(
        operator: WebClient, app: zart.Zart) -> None:
    operator.post("/api/executions", {"workflow": "web-approval", "id": "poll-1"})
    settled(app, "poll-1", "waiting")
    not_yet = operator.get("/api/executions/poll-1/result?timeout=0.2")
    assert not_yet.status == 202 and not_yet.json() == {"id": "poll-1", "status": "waiting"}
    why = operator.get("/api/executions/poll-1/waiting").json()
    assert why["state"] == "event" and why["event"] == "approved"
    sent = operator.post("/api/executions/poll-1/events",
                         {"name": "approved", "payload": {"by": "dana"}})
    assert sent.json() == {"id": "poll-1", "event": "approved", "delivered": True}
    done = operator.get("/api/executions/poll-1/result?timeout=5")
    assert done.status == 200
    assert done.json() == {"id": "poll-1", "status": "completed",
                           "result": {"approved_by": "dana"}}
    late = operator.post("/api/executions/poll-1/events", {"name": "approved"})
    assert late.status == 409 and late.error["type"] == "ExecutionFinished"


def test_the_long_poll_is_bounded_by_the_apps_limit(operator: WebClient) -> None:
    operator.post("/api/executions", {"workflow": "web-approval", "id": "poll-2"})
    too_long = operator.get("/api/executions/poll-2/result?timeout=6")
    assert too_long.status == 422 and "'timeout'" in too_long.error["message"]


def test_a_failed_execution_shows_its_error_and_is_retried_after_the_fix(
        operator: WebClient, app: zart.Zart, tmp_path: Path) -> None:
    fix = tmp_path / "fixed"
    operator.post("/api/executions", {"workflow": "web-order", "id": "fail-1",
                                      "input": {"id": "o-1", "fixed_if": str(fix)}})
    settled(app, "fail-1", "failed")
    outcome = operator.get("/api/executions/fail-1/result").json()
    assert outcome["status"] == "failed" and outcome["error"]["type"] == "PaymentError"
    detail = operator.get("/api/executions/fail-1").json()
    charge = detail["runs"][-1]["history"][1]
    assert charge["name"] == "web-charge" and len(charge["attempts"]) == 3
    assert "Traceback" in charge["attempts"][0]["error"]["traceback"]
    assert operator.post("/api/executions/fail-1/resume").status == 409
    fix.touch()
    retried = operator.post("/api/executions/fail-1/retry", {"by": "alice"})
    assert retried.status == 200 and retried.json()["details"]["forgotten"] == ["web-charge"]
    settled(app, "fail-1", "completed")
    [action] = app.handle("fail-1").describe().actions
    assert (action.action, action.by) == ("retry", "alice")


def test_cancel_then_resume_and_restart_and_rerun_change_the_execution(
        operator: WebClient, app: zart.Zart) -> None:
    operator.post("/api/executions", {"workflow": "web-approval", "id": "act-1"})
    settled(app, "act-1", "waiting")
    cancelled = operator.post("/api/executions/act-1/cancel")
    assert cancelled.json() == {"id": "act-1", "action": "cancel",
                                "details": {"cancelled": True}}
    assert app.handle("act-1").status() == "cancelled"
    assert app.handle("act-1").describe().actions[0].by.startswith("http token:")
    operator.post("/api/executions/act-1/resume")
    settled(app, "act-1", "waiting")
    operator.post("/api/executions/act-1/events", {"name": "approved", "payload": {"by": "x"}})
    settled(app, "act-1", "completed")
    restarted = operator.post("/api/executions/act-1/restart", {"input": {"new": True}})
    assert restarted.json()["details"]["run"] == 2
    assert app.handle("act-1").describe().input == {"new": True}
    settled(app, "act-1", "waiting")
    operator.post("/api/executions/act-1/cancel")
    missing = operator.post("/api/executions/act-1/rerun", {"from_step": "nope"})
    assert missing.status == 409 and "has no command 'nope'" in missing.error["message"]
    rerun = operator.post("/api/executions/act-1/rerun", {"from_step": "approved"})
    assert rerun.status == 200 and rerun.json()["details"]["run"] == 3


def test_list_filters_by_status_workflow_prefix_and_time_and_pages_with_a_cursor(
        operator: WebClient, app: zart.Zart) -> None:
    for n in range(5):
        operator.post("/api/executions", {"workflow": "web-approval", "id": f"page-{n}"})
    first = operator.get("/api/executions?id_prefix=page-&limit=2").json()
    assert [i["id"] for i in first["items"]] == ["page-4", "page-3"] and first["cursor"]
    second = operator.get(f"/api/executions?id_prefix=page-&limit=2&cursor={first['cursor']}")
    assert [i["id"] for i in second.json()["items"]] == ["page-2", "page-1"]
    created = app.handle("page-2").describe().created_at.isoformat()
    since = operator.get(f"/api/executions?id_prefix=page-&created_after="
                         f"{created.replace('+', '%2B')}").json()
    assert [i["id"] for i in since["items"]] == ["page-4", "page-3", "page-2"]
    statuses = operator.get("/api/executions?status=completed&status=failed&workflow="
                            "web-approval&id_prefix=page-").json()
    assert statuses["items"] == []
    bad = operator.get("/api/executions?status=finished")
    assert bad.status == 422 and "finished" in bad.error["message"]
    assert operator.get("/api/executions?cursor=garbage").status == 422
    assert operator.get("/api/executions?limit=0").status == 422
    assert operator.get("/api/executions?created_after=yesterday").status == 422
    assert operator.get("/api/executions?stauts=failed").error["message"].startswith(
        "unknown query parameter(s) 'stauts'")


def test_stats_activity_workers_and_the_callers_scope(operator: WebClient, app: zart.Zart,
                                                      web_worker: zart.Worker) -> None:
    operator.post("/api/executions", {"workflow": "web-fanout", "id": "count-1",
                                      "input": {"n": 3}})
    settled(app, "count-1", "completed")
    stats = operator.get("/api/stats").json()
    assert stats["by_workflow"]["web-fanout"]["completed"] >= 1 and stats["live_workers"] >= 1
    activity = operator.get("/api/activity?span=3600&buckets=6").json()
    assert len(activity["buckets"]) in (6, 7) and activity["bucket_seconds"] == 600
    assert sum(b["started"] for b in activity["buckets"]) >= 1
    assert sum(b["completed"] for b in activity["buckets"]) >= 1
    [worker] = operator.get("/api/workers").json()
    assert "web-fanout" in worker["workflows"] and worker["alive"] is True
    assert operator.get("/api/session").json() == {
        "scope": "operate", "via": "token", "who": operator.get("/api/session").json()["who"]}


def test_pause_rules_are_created_listed_and_lifted(operator: WebClient, app: zart.Zart) -> None:
    no_criterion = operator.post("/api/pauses", {"reason": "oops"})
    assert no_criterion.status == 422 and '"all": true' in no_criterion.error["message"]
    rule = operator.post("/api/pauses", {"workflow": "web-approval", "until": "2h",
                                         "reason": "stocktake"})
    assert rule.status == 201 and rule.json()["active"] is True
    rule_id = rule.json()["id"]
    assert [r["id"] for r in operator.get("/api/pauses").json()] == [rule_id]
    timed = operator.post("/api/pauses", {"step": "web-*", "until": "2030-01-01T00:00:00Z"})
    assert timed.json()["until"].startswith("2030-01-01T00:00:00")
    for created in (rule_id, timed.json()["id"]):
        assert operator.post(f"/api/pauses/{created}/unpause").json()["active"] is False
    again = operator.post(f"/api/pauses/{rule_id}/unpause")
    assert again.status == 409 and "no longer active" in again.error["message"]
    assert operator.post("/api/pauses/999999/unpause").status == 404
    assert app.pauses() == []


def test_purge_deletes_old_finished_executions(operator: WebClient, app: zart.Zart) -> None:
    operator.post("/api/executions", {"workflow": "web-approval", "id": "purge-1"})
    operator.post("/api/executions/purge-1/cancel")
    kept = operator.post("/api/purge", {"older_than": "1d"}).json()
    assert kept["executions"] == 0
    purged = operator.post("/api/purge", {"older_than": 0, "statuses": ["cancelled"]}).json()
    assert purged["by_status"].get("cancelled", 0) >= 1
    assert operator.get("/api/executions/purge-1").status == 404
    refused = operator.post("/api/purge", {"older_than": "1d", "statuses": ["running"]})
    assert refused.status == 422


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("GET", "/api/executions/nobody", None, 404),
    ("GET", "/api/executions/nobody/status", None, 404),
    ("POST", "/api/executions/nobody/cancel", {}, 404),
    ("POST", "/api/executions/nobody/events", {"name": "x"}, 404),
    ("GET", "/api/nothing-here", None, 404),
    ("DELETE", "/api/executions/nobody", None, 405),
    ("GET", "/api/executions/nobody/cancel", None, 405),
    ("POST", "/api/executions", {"workflow": "web-approval", "id": "x" * 201}, 422),
    ("POST", "/api/executions", {"workflow": "web-approval", "id": "\u0000"}, 422),
    ("POST", "/api/executions", {"workflow": "web-approval", "id": "   "}, 422),
    ("POST", "/api/executions", {"workflow": "web-approval", "input": float("nan")}, 422),
    ("POST", "/api/executions", {"workflow": "web-approval", "priority": "high"}, 422),
    ("POST", "/api/executions", {"workflow": ["a"]}, 422),
    ("POST", "/api/executions", {"workflow": "web-approval", "extra": 1}, 422),
    ("POST", "/api/executions", [1, 2], 422),
    ("POST", "/api/executions/x/events", {"name": "e", "payload": "\ud800"}, 422),
    ("POST", "/api/pauses", {"workflow": None, "all": True}, 422),
    ("POST", "/api/pauses", {"all": True, "until": "forever"}, 422),
    ("POST", "/api/pauses/abc/unpause", {}, 422),
    ("POST", "/api/pauses/%C2%B2/unpause", {}, 422),
    ("POST", "/api/purge", {}, 422),
    ("POST", "/api/purge", {"older_than": -1}, 422),
    ("GET", "/api/activity?span=10", None, 422),
    ("GET", "/api/executions/%00/status", None, 422),
    ("GET", "/api/executions/%ff%fe/status", None, 422),
])
def test_bad_input_is_refused_with_an_error_naming_it_never_a_500(
        operator: WebClient, method: str, path: str, body: object, status: int) -> None:
    if isinstance(body, dict) and body.get("input") != body.get("input"):  # NaN: raw text
        reply = operator.request(method, path, body=b'{"workflow": "web-approval", '
                                 b'"input": NaN}', headers={"Content-Type": "application/json"})
    else:
        reply = operator.request(method, path, json_body=body)
    assert reply.status == status, reply.body
    assert reply.error["message"]


def test_malformed_bodies_get_413_415_and_422(web: object) -> None:
    from zart.web import create_app

    small = WebClient(create_app(_app(web), tokens=f"operate:{OPERATE}", max_body=1024),
                      {"Authorization": f"Bearer {OPERATE}"})
    big = small.post("/api/executions", {"workflow": "x" * 2000})
    assert big.status == 413 and big.error["type"] == "PayloadTooLarge"
    form = small.post("/api/executions", body=b"workflow=x",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status == 415
    broken = small.post("/api/executions", body=b'{"workflow":',
                        headers={"Content-Type": "application/json"})
    assert broken.status == 422 and "not valid JSON" in broken.error["message"]


def _app(web: object) -> zart.Zart:
    return web.zart  # type: ignore[attr-defined, no-any-return]


def test_mounted_under_a_prefix_it_serves_there_and_ids_may_hold_a_slash(
        web: object, operator: WebClient, app: zart.Zart) -> None:
    mounted = WebClient(web, operator.headers, script_name="/ops/zart")  # type: ignore[arg-type]
    started = mounted.post("/api/executions", {"workflow": "web-approval", "id": "team/a-1"})
    assert started.status == 200, started.body
    assert mounted.get("/api/executions/team%2Fa-1/status").json()["id"] == "team/a-1"
    assert mounted.get("/openapi.json").json()["servers"] == [{"url": "/ops/zart"}]
    bare = mounted.request("GET", "", headers={})
    assert bare.status == 308 and bare.headers["Location"] == "/ops/zart/"
    shell = mounted.get("/")
    assert shell.status == 200 and "Path=/ops/zart/" in shell.headers["Set-Cookie"]


def test_mounted_with_werkzeugs_dispatcher_as_in_flask_it_answers_under_the_prefix(
        web: object, operator: WebClient) -> None:
    dispatcher = pytest.importorskip("werkzeug.middleware.dispatcher")
    from werkzeug.test import Client

    def host_app(environ: dict[str, object], start_response: object) -> list[bytes]:
        start_response("200 OK", [])  # type: ignore[operator]
        return [b"the host project"]

    client = Client(dispatcher.DispatcherMiddleware(host_app, {"/zart": web}))
    auth = {"Authorization": operator.headers["Authorization"]}
    started = client.post("/zart/api/executions", headers=auth,
                          json={"workflow": "web-approval", "id": "flask/1"})
    assert started.status_code == 200, started.get_data()
    status = client.get("/zart/api/executions/flask%2F1/status", headers=auth)
    assert status.get_json() == {"id": "flask/1", "status": status.get_json()["status"]}
    assert client.get("/zart/").status_code == 303  # the dashboard: log in first
    assert client.get("/elsewhere").get_data() == b"the host project"
