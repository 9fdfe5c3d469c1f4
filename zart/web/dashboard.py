"""The dashboard's own routes: the page (one HTML shell whose scripts render the overview,
the executions and one execution from the JSON API), its static files, and the login with a
token that gives the browser a session cookie. The files ship inside the package
(``zart/web/static``): nothing to build, nothing fetched from elsewhere."""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from importlib import resources

from .auth import CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS, Guard
from .http import HttpError, Request, Response
from .routing import Context, Route

__all__ = ["routes"]

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8"}


@dataclass(frozen=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


def _load_assets() -> dict[str, _Asset]:
    """Every file of the static folder, read once: a request can only name one of these,
    so no path from a URL ever reaches the file system."""
    found = {}
    folder = resources.files(__package__).joinpath("static")
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _TYPES:
            body = entry.read_bytes()
            found[entry.name] = _Asset(body, _TYPES[suffix],
                                       '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return found


_ASSETS = _load_assets()


def _cookie(request: Request, name: str, value: str, max_age: int,
            http_only: bool = True) -> tuple[str, str]:
    """A ``Set-Cookie`` header scoped to the mount point, ``SameSite=Strict``."""
    parts = [f"{name}={value}", f"Path={request.script_name}/", f"Max-Age={max_age}",
             "SameSite=Strict"]
    if http_only:
        parts.append("HttpOnly")
    if request.https:
        parts.append("Secure")
    return ("Set-Cookie", "; ".join(parts))


def _csrf(request: Request) -> tuple[str, list[tuple[str, str]]]:
    """The request's double-submit value, and the cookie to set if it had none."""
    current = request.cookie(CSRF_COOKIE)
    if current and 20 <= len(current) <= 100 and current.isascii():
        return current, []
    value = Guard.new_csrf()
    return value, [_cookie(request, CSRF_COOKIE, value, SESSION_SECONDS)]


def _page(name: str, replacements: dict[str, str], status: int = 200,
          headers: list[tuple[str, str]] | None = None) -> Response:
    text = _ASSETS[name].body.decode()
    for key, value in replacements.items():
        text = text.replace("{{" + key + "}}", html.escape(value))
    return Response(status, text.encode(), [("Content-Type", _TYPES[".html"]),
                                            ("Cache-Control", "no-store"), *(headers or [])])


def _redirect(to: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(303, b"", [("Location", to), ("Cache-Control", "no-store"),
                               *(headers or [])])


def routes(guard: Guard) -> list[Route]:
    """The dashboard's routes for an app guarded by ``guard``."""

    def shell(ctx: Context, params: dict[str, str]) -> Response:
        """The dashboard page; without a session, the way to the login page."""
        request = ctx.request
        if ctx.access is None:
            return _redirect(f"{request.script_name}/login")
        csrf, headers = _csrf(request)
        return _page("index.html", {"csrf": csrf}, headers=headers)

    def login_page(ctx: Context, params: dict[str, str], error: str = "",
                   status: int = 200) -> Response:
        """The login form (a token pasted once); without tokens there is nothing to log in
        to."""
        request = ctx.request
        if not guard.needs_login:
            return _redirect(f"{request.script_name}/")
        csrf, headers = _csrf(request)
        return _page("login.html", {"csrf": csrf, "error": error}, status, headers)

    def login(ctx: Context, params: dict[str, str]) -> Response:
        """Check the token; on success set the session cookie and go to the dashboard."""
        request = ctx.request
        form = request.form()
        guard.check_unsafe(request, submitted=form.get("csrf", ""))
        if not guard.needs_login:
            return _redirect(f"{request.script_name}/")
        session = guard.login(form.get("token", "").strip())
        if session is None:
            return login_page(ctx, params, "That token is not valid.", 401)
        return _redirect(f"{request.script_name}/", [
            _cookie(request, SESSION_COOKIE, session, SESSION_SECONDS)])

    def logout(ctx: Context, params: dict[str, str]) -> Response:
        """End the session."""
        request = ctx.request
        form = request.form()
        guard.check_unsafe(request, submitted=form.get("csrf", ""))
        return _redirect(f"{request.script_name}/login",
                         [_cookie(request, SESSION_COOKIE, "", 0)])

    def static(ctx: Context, params: dict[str, str]) -> Response:
        """A file of the static folder (revalidated by its ETag)."""
        asset = _ASSETS.get(params["name"])
        if asset is None or params["name"].endswith(".html"):
            raise HttpError(404, "NotFound", "no such file")
        headers = [("Content-Type", asset.content_type), ("ETag", asset.etag),
                   ("Cache-Control", "no-cache")]
        if ctx.request.header("If-None-Match") == asset.etag:
            return Response(304, b"", headers)
        return Response(200, asset.body, headers)

    return [
        Route("GET", ("",), None, shell),
        Route("GET", ("login",), None, login_page),
        Route("POST", ("login",), None, login),
        Route("POST", ("logout",), None, logout),
        Route("GET", ("static", "{name}"), None, static),
    ]
