"""The WSGI application: routes a request, authenticates it, runs its handler and turns every
refusal into ``{"error": {"type", "message"}}`` with the right status. Bad input is never a
500: a handler's library call raises zart's errors, mapped here once."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import Zart
from ..errors import (
    ActionRefused,
    ConfigurationError,
    DatabaseUnavailable,
    ExecutionConflict,
    ExecutionFinished,
    ExecutionNotFound,
    PauseRuleNotFound,
    ScheduleNotFound,
    SerializationError,
    WorkflowNotFound,
)
from . import api_executions, api_operations, api_schedules, dashboard
from .auth import Guard, parse_tokens
from .http import HttpError, Request, Response, error_response, json_response
from .openapi import openapi_document
from .routing import Context, Route, Router

__all__ = ["Settings", "ZartWeb", "create_app"]

log = logging.getLogger("zart.web")

_ERROR_STATUS: list[tuple[type[Exception], int]] = [
    (ExecutionNotFound, 404), (PauseRuleNotFound, 404), (WorkflowNotFound, 404),
    (ScheduleNotFound, 404),
    (ExecutionConflict, 409), (ExecutionFinished, 409), (ActionRefused, 409),
    (ConfigurationError, 422), (SerializationError, 422),
    # The library refuses a malformed name or duration with these (zart.commands,
    # zart.durations); a handler checks its input first, so they are the library's last word.
    (ValueError, 422), (TypeError, 422),
]
"""Library errors and the status that answers them; the first match wins."""

SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),  # no-referrer would make forms send Origin: null
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
]
"""Sent with every response. No ``Access-Control-Allow-*``: no other origin may call the API
from a browser."""


@dataclass(frozen=True)
class Settings:
    """Limits of one app."""

    max_body: int = 1024 * 1024
    """The largest request body accepted (bytes); larger is a 413."""
    max_result_wait: float = 30.0
    """The longest a ``GET .../result?timeout=`` holds a request (seconds)."""


class ZartWeb:
    """The WSGI application of :func:`create_app`."""

    def __init__(self, zart: Zart, guard: Guard, settings: Settings) -> None:
        self.zart = zart
        self.guard = guard
        self.settings = settings
        self.routes: list[Route] = [*api_executions.ROUTES, *api_operations.ROUTES,
                                    *api_schedules.ROUTES,
                                    Route("GET", ("openapi.json",), None, self._openapi),
                                    Route("GET", ("metrics",), "read", metrics_page),
                                    *dashboard.routes(guard)]
        self.router = Router(self.routes)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """Serve one request."""
        head = str(environ.get("REQUEST_METHOD", "")).upper() == "HEAD"
        if environ.get("PATH_INFO", "") == "" and environ.get("SCRIPT_NAME"):
            # Mounted at /prefix and asked for /prefix: the dashboard's relative links need
            # the trailing slash.
            response = Response(308, b"", [("Location",
                                            f"{environ['SCRIPT_NAME'].rstrip('/')}/")])
        else:
            response = self._respond(environ)
        response.headers.extend(SECURITY_HEADERS)
        return response.start(start_response, head=head)

    def _respond(self, environ: dict[str, Any]) -> Response:
        try:
            request = Request(environ, self.settings.max_body)
            route, params = self.router.find(request)
            return self._run(route, params, request)
        except HttpError as refused:
            return error_response(refused)
        except Exception:
            log.exception("zart.web: unexpected error serving %s %s",
                          environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            return error_response(HttpError(500, "InternalError", "unexpected error; the "
                                            "server's log has the details"))

    def _run(self, route: Route, params: dict[str, str], request: Request) -> Response:
        access = self.guard.access(request)
        if route.scope is not None:
            if access is None:
                raise Guard.unauthorized("send 'Authorization: Bearer TOKEN' (a read or an "
                                         "operate token)")
            if not access.allows(route.scope):
                raise HttpError(403, "Forbidden", f"this needs the {route.scope} scope; the "
                                f"token has {access.scope}")
            if route.method == "POST":
                self.guard.check_unsafe(request)
        ctx = Context(self.zart, request, access, self.settings)
        try:
            return route.handler(ctx, params)
        except DatabaseUnavailable as exc:
            log.warning("zart.web: %s", exc)
            raise HttpError(503, "DatabaseUnavailable", "the database is unavailable; try "
                            "again shortly", {"Retry-After": "5"}) from None
        except HttpError:
            raise
        except Exception as exc:
            for kind, status in _ERROR_STATUS:
                if isinstance(exc, kind):
                    raise HttpError(status, type(exc).__name__, str(exc)[:2000]) from None
            raise

    def _openapi(self, ctx: Context, params: dict[str, str]) -> Response:
        return json_response(openapi_document(self.routes, self.settings,
                                              ctx.request.script_name))


def metrics_page(ctx: Context, params: dict[str, str]) -> Response:
    """Prometheus metrics (the read scope; a scraper sends its token as a bearer token), in
    the text exposition format. Needs ``zart[prometheus]``."""
    try:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
    except ImportError:
        raise HttpError(404, "NotFound", "metrics need prometheus-client: pip install "
                        "'zart[prometheus]'") from None
    return Response(200, generate_latest(REGISTRY), [("Content-Type", CONTENT_TYPE_LATEST),
                                                     ("Cache-Control", "no-store")])


def create_app(zart: Zart, *, tokens: str | Mapping[str, str] | None = None,
               open_access: bool = False, max_body: int = 1024 * 1024,
               max_result_wait: float = 30.0, metrics: bool = True) -> ZartWeb:
    """The HTTP API, its OpenAPI document and the dashboard, as one WSGI application.

    Mount it under any prefix (it honours ``SCRIPT_NAME``) in a Flask or Django project, or
    run it alone with ``zart serve``. ``tokens``: ``"read:TOKEN,operate:TOKEN"`` or
    ``{token: scope}``; None reads ``$ZART_API_TOKENS``. Without tokens only this machine is
    served (loopback clients and host names), unless ``open_access`` says the host project
    authenticates requests itself. ``max_body`` bounds request bodies (bytes),
    ``max_result_wait`` the long-poll of ``/result`` (seconds). With ``metrics`` and
    prometheus-client installed, this process's zart metrics are kept and served at
    ``/metrics`` (:mod:`zart.contrib.prometheus`).
    """
    if not isinstance(zart, Zart):
        raise ConfigurationError(f"create_app() takes a zart.Zart application, got "
                                 f"{type(zart).__name__}")
    if not isinstance(max_body, int) or isinstance(max_body, bool) or \
            not 1024 <= max_body <= 1024 ** 3:
        raise ConfigurationError(f"max_body must be an int from 1024 to 1 GiB, got "
                                 f"{max_body!r}")
    if not isinstance(max_result_wait, int | float) or isinstance(max_result_wait, bool) or \
            not 0 <= max_result_wait <= 600:
        raise ConfigurationError(f"max_result_wait must be 0 to 600 seconds, got "
                                 f"{max_result_wait!r}")
    guard = Guard(parse_tokens(tokens), open_access=bool(open_access))
    if metrics:
        try:
            from ..contrib import prometheus
        except ConfigurationError:
            pass  # without prometheus-client, /metrics says how to install it
        else:
            prometheus.instrument(zart)
    return ZartWeb(zart, guard, Settings(max_body, float(max_result_wait)))
