"""Who may do what: bearer tokens with read and operate scopes, the dashboard's session
cookie and its login, the cross-site checks on every state-changing request, no CORS, and
without tokens only this machine."""

from __future__ import annotations

import re

import pytest

import zart
from zart.web import create_app
from zart.web.auth import parse_tokens

from .conftest import OPERATE, READ, TOKENS, WebClient


def session_cookie(reply_headers: dict[str, str], name: str) -> str:
    found = re.search(rf"{name}=([^;]*);([^\n]*)", reply_headers.get("Set-Cookie", ""))
    assert found, reply_headers
    return found.group(1)


def test_a_read_token_reads_but_cannot_operate_and_no_token_is_401(web: object) -> None:
    reader = WebClient(web, {"Authorization": f"Bearer {READ}"})  # type: ignore[arg-type]
    assert reader.get("/api/stats").status == 200
    refused = reader.post("/api/pauses", {"all": True})
    assert refused.status == 403 and "needs the operate scope" in refused.error["message"]
    anonymous = WebClient(web)  # type: ignore[arg-type]
    missing = anonymous.get("/api/stats")
    assert missing.status == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    for header in ("Bearer wrong-token-0123456789", "Basic dXNlcjpwYXNz", "Bearer",
                   f"Bearer {READ}x"):
        assert anonymous.get("/api/stats", headers={"Authorization": header}).status == 401


def test_no_response_allows_another_origin(web: object) -> None:
    client = WebClient(web, {"Authorization": f"Bearer {OPERATE}",  # type: ignore[arg-type]
                             "Origin": "https://evil.example"})
    for reply in (client.get("/api/stats"), client.request("OPTIONS", "/api/executions"),
                  client.get("/")):
        assert not any(h.lower().startswith("access-control-") for h in reply.headers), reply
    assert client.request("OPTIONS", "/api/executions").status == 405


def test_the_dashboard_logs_in_with_a_token_into_a_strict_http_only_session(
        web: object) -> None:
    browser = WebClient(web)  # type: ignore[arg-type]
    assert browser.get("/").status == 303  # no session: to the login page
    page = browser.get("/login")
    csrf = session_cookie(page.headers, "zart_csrf")
    assert f'value="{csrf}"' in page.body.decode()
    form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"zart_csrf={csrf}",
            "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    wrong = browser.post("/login", body=f"csrf={csrf}&token=nope".encode(), headers=form)
    assert wrong.status == 401 and "not valid" in wrong.body.decode()
    ok = browser.post("/login", body=f"csrf={csrf}&token={READ}".encode(), headers=form)
    assert ok.status == 303
    cookie_line = next(c for c in ok.headers["Set-Cookie"].split("\n") if "zart_session" in c)
    assert all(flag in cookie_line for flag in ("HttpOnly", "SameSite=Strict", "Path=/"))
    assert READ not in cookie_line  # the cookie holds an HMAC, not the token
    session = session_cookie(ok.headers, "zart_session")
    logged_in = WebClient(web, {"Cookie": f"zart_session={session}"})  # type: ignore[arg-type]
    assert logged_in.get("/api/session").json()["scope"] == "read"
    assert logged_in.get("/").status == 200
    forged = session.replace("v1.read.", "v1.operate.")
    assert WebClient(web, {"Cookie": f"zart_session={forged}"}).get(  # type: ignore[arg-type]
        "/api/stats").status == 401
    no_csrf = browser.post("/login", body=f"token={READ}".encode(), headers=form)
    assert no_csrf.status == 403
    out = logged_in.post("/logout", body=f"csrf={csrf}".encode(), headers={
        **form, "Cookie": f"zart_csrf={csrf}; zart_session={session}"})
    assert out.status == 303 and "zart_session=; Path=/; Max-Age=0" in out.headers["Set-Cookie"]


def test_a_cookie_session_acts_only_with_the_double_submit_header_from_this_origin(
        web: object, app: zart.Zart) -> None:
    session = zart_session(web)
    csrf = "c" * 40
    cookies = f"zart_session={session}; zart_csrf={csrf}"
    browser = WebClient(web, {"Cookie": cookies, "Origin": "http://localhost",  # type: ignore[arg-type]
                              "Sec-Fetch-Site": "same-origin"})
    body = {"workflow": "web-never", "reason": "csrf test"}
    assert browser.post("/api/pauses", body).status == 403  # no header
    wrong = browser.post("/api/pauses", body, headers={"X-Zart-CSRF": "d" * 40})
    assert wrong.status == 403
    cross = browser.post("/api/pauses", body, headers={"X-Zart-CSRF": csrf,
                                                       "Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403 and "cross-site" in cross.error["message"]
    elsewhere = browser.post("/api/pauses", body, headers={"X-Zart-CSRF": csrf,
                                                           "Origin": "https://evil.example"})
    assert elsewhere.status == 403
    assert app.pauses() == []
    created = browser.post("/api/pauses", body, headers={"X-Zart-CSRF": csrf})
    assert created.status == 201, created.body
    app.unpause(created.json()["id"])
    as_form = browser.post("/api/pauses", body=b"workflow=x", headers={
        "X-Zart-CSRF": csrf, "Content-Type": "text/plain"})
    assert as_form.status == 415  # a cross-site form can send only such types


def zart_session(web: object) -> str:
    value = web.guard.login(OPERATE)  # type: ignore[attr-defined]
    assert value
    return str(value)


def test_without_tokens_only_this_machine_is_served(app: zart.Zart) -> None:
    local = create_app(app, tokens="")
    assert WebClient(local).get("/api/session").json()["via"] == "local"
    remote = WebClient(local, remote_addr="10.1.2.3").get("/api/stats")
    assert remote.status == 403 and "ZART_API_TOKENS" in remote.error["message"]
    rebound = WebClient(local, {"Host": "evil.example:8080"}).get("/api/stats")
    assert rebound.status == 403 and "loopback host names" in rebound.error["message"]
    cross = WebClient(local, {"Origin": "http://evil.example", "Host": "localhost"}).post(
        "/api/pauses", {"all": True})
    assert cross.status == 403 and app.pauses() == []
    script = WebClient(local).post("/api/executions", {"workflow": "no-such"})
    assert script.status == 404  # a local script needs no token and no CSRF header
    behind_own_auth = create_app(app, tokens="", open_access=True)
    assert WebClient(behind_own_auth, remote_addr="10.1.2.3").get("/api/stats").status == 200


def test_tokens_come_from_the_environment_and_weak_ones_are_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZART_API_TOKENS", TOKENS)
    assert parse_tokens(None) == {READ: "read", OPERATE: "operate"}
    for bad in ("read:short", f"admin:{READ}", READ, f"read:{READ} x"):
        with pytest.raises(zart.ConfigurationError):
            parse_tokens(bad)


def test_every_response_carries_the_security_headers(web: object) -> None:
    reply = WebClient(web).get("/static/app.js")  # type: ignore[arg-type]
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/javascript")
    assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["X-Frame-Options"] == "DENY"
    again = WebClient(web).get("/static/app.js",  # type: ignore[arg-type]
                               headers={"If-None-Match": reply.headers["ETag"]})
    assert again.status == 304
    head = WebClient(web).request("HEAD", "/static/app.js")  # type: ignore[arg-type]
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(reply.body))
    for path in ("/static/..%2Fapp.py", "/static/index.html", "/static/%2E%2E"):
        assert WebClient(web).get(path).status == 404  # type: ignore[arg-type]
