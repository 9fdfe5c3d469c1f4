"""Routes: a method and a path pattern (``("api", "executions", "{id}", "cancel")``), the
scope they need, and the handler. Matching works on decoded path segments, so a parameter
holds any text, ``/`` included (sent as ``%2F``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .http import HttpError, Request, Response

if TYPE_CHECKING:
    from .. import Zart
    from .app import Settings
    from .auth import Access, Scope

__all__ = ["Context", "Route", "Router"]


@dataclass
class Context:
    """What a handler works with: the zart application, the request, the caller's access
    (None on a public route for a caller who presented nothing) and the app's settings."""

    zart: Zart
    request: Request
    access: Access | None
    settings: Settings

    def by(self, given: str | None) -> str:
        """Who acted, for the audit trail: the ``by`` the caller gave, else its credential
        (``http token:1a2b3c4d``, ``http local``)."""
        if given is not None:
            return given
        return f"http {self.access.who}" if self.access else "http"


Handler = Callable[[Context, dict[str, str]], Response]


@dataclass(frozen=True)
class Route:
    """One route. ``scope`` None: served to anyone (static files, the OpenAPI document,
    the login page)."""

    method: Literal["GET", "POST"]
    pattern: tuple[str, ...]
    scope: Scope | None
    handler: Handler
    operation: str = ""
    """The OpenAPI operationId of an API route (empty for the dashboard's own)."""

    @property
    def path(self) -> str:
        """The pattern as an OpenAPI path (``/api/executions/{id}``)."""
        return "/" + "/".join(self.pattern)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        """The parameters if ``segments`` fit the pattern (a parameter never matches an empty
        segment), else None."""
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(self.pattern, segments, strict=True):
            if part.startswith("{"):
                if not segment:
                    return None
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


class Router:
    """Finds the route of a request: 404 when no path matches, 405 (with ``Allow``) when the
    path matches under other methods only. Literal segments win over parameters, so a fixed
    route is never shadowed by a parameter."""

    def __init__(self, routes: list[Route]) -> None:
        # Most literal segments first: ("api", "pauses") before ("api", "{x}").
        self.routes = sorted(routes, key=lambda r: -sum(not p.startswith("{")
                                                        for p in r.pattern))

    def find(self, request: Request) -> tuple[Route, dict[str, str]]:
        """The route and its parameters, or the :class:`HttpError` to answer."""
        allowed: list[str] = []
        for route in self.routes:
            params = route.match(request.segments)
            if params is None:
                continue
            if route.method == request.method or (request.method == "HEAD"
                                                  and route.method == "GET"):
                return route, params
            allowed.append(route.method)
        if allowed:
            methods = sorted(set(allowed) | ({"HEAD"} if "GET" in allowed else set()))
            raise HttpError(405, "MethodNotAllowed", f"{request.method} is not allowed here; "
                            f"use {', '.join(methods)}", {"Allow": ", ".join(methods)})
        raise HttpError(404, "NotFound", f"no such path: /{'/'.join(request.segments)}"[:200])
