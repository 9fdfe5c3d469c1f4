"""The HTTP plumbing of the WSGI app: a request read from the environ (its path split into
decoded segments, its query, headers, cookies and a size-limited JSON body), a response, and
:class:`HttpError`, the one way a handler refuses a request.

WSGI alone, no framework: the API must run mounted in a Flask or Django project and alone
under waitress, and the core package adds no dependency for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["HttpError", "Request", "Response", "json_response"]

JSON_TYPE = "application/json"


class HttpError(Exception):
    """A refusal: the status, the error's type (a stable name clients can switch on) and a
    message naming the problem; served as ``{"error": {"type", "message"}}``."""

    def __init__(self, status: int, type: str, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.headers = dict(headers or {})


def _wsgi_text(value: str) -> str:
    """A WSGI "native string" (bytes as latin-1) read as the UTF-8 it was sent as; bytes that
    are not UTF-8 become lone surrogates, which the name checks then refuse by name."""
    return value.encode("latin-1").decode("utf-8", "surrogateescape")


def _segments(environ: Mapping[str, Any]) -> list[str]:
    """The path below the mount point (SCRIPT_NAME) as decoded segments.

    PATH_INFO arrives decoded, so an id holding ``/`` (sent as ``%2F``) would split in two.
    When the server passes the raw request URI (waitress, gunicorn and werkzeug do) and it
    agrees with SCRIPT_NAME + PATH_INFO, the segments are split first and decoded after.
    """
    script = _wsgi_text(environ.get("SCRIPT_NAME", ""))
    path = _wsgi_text(environ.get("PATH_INFO", ""))
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if isinstance(raw, str) and raw:
        raw_path = _wsgi_text(urlsplit(raw).path if "://" in raw else raw.split("?", 1)[0])
        raw_parts = raw_path.split("/")
        script_parts = script.split("/") if script else [""]
        decoded = [unquote(p, errors="surrogateescape") for p in raw_parts]
        if "/".join(decoded) == script + path and \
                decoded[:len(script_parts)] == script_parts:
            return decoded[len(script_parts):]
    return path.split("/")[1:] if path.startswith("/") else path.split("/")


@dataclass
class Request:
    """One request, read lazily from its WSGI environ."""

    environ: dict[str, Any]
    max_body: int
    segments: list[str] = field(init=False)
    method: str = field(init=False)
    query: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.method = str(self.environ.get("REQUEST_METHOD", "GET")).upper()
        self.segments = _segments(self.environ)
        try:
            self.query = parse_qs(_wsgi_text(self.environ.get("QUERY_STRING", "")),
                                  keep_blank_values=True, strict_parsing=False,
                                  max_num_fields=100)
        except ValueError as exc:  # more than max_num_fields
            raise HttpError(422, "InvalidInput", f"too many query parameters: {exc}") from None

    @property
    def script_name(self) -> str:
        """Where the app is mounted (``""`` at the root), without a trailing slash."""
        return str(self.environ.get("SCRIPT_NAME", "")).rstrip("/")

    def header(self, name: str) -> str | None:
        """A request header by its HTTP name (``Content-Type``), or None."""
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = f"HTTP_{key}"
        value = self.environ.get(key)
        return None if value is None else _wsgi_text(str(value))

    @property
    def https(self) -> bool:
        """Whether the request came over HTTPS (as the server saw it)."""
        return self.environ.get("wsgi.url_scheme") == "https"

    def cookie(self, name: str) -> str | None:
        """The value of the cookie ``name``, or None (a malformed Cookie header reads as
        none rather than failing the request)."""
        header = self.header("Cookie")
        if not header:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            return None
        morsel = jar.get(name)
        return None if morsel is None else morsel.value

    def raw_body(self) -> bytes:
        """The body, refused with 413 when larger than ``max_body`` (before it is read when
        the client announced its length)."""
        length_text = self.environ.get("CONTENT_LENGTH") or ""
        stream = self.environ.get("wsgi.input")
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                raise HttpError(400, "BadRequest", "Content-Length is not a number") from None
            if length > self.max_body:
                raise HttpError(413, "PayloadTooLarge", f"the body is {length} bytes; the "
                                f"limit is {self.max_body}")
            return stream.read(length) if stream is not None and length > 0 else b""
        if stream is None or not self.environ.get("wsgi.input_terminated"):
            return b""  # no length and no end marker: the WSGI spec says there is no body
        data: bytes = stream.read(self.max_body + 1)
        if len(data) > self.max_body:
            raise HttpError(413, "PayloadTooLarge", f"the body is larger than the limit of "
                            f"{self.max_body} bytes")
        return data

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when empty); 415 when it is declared as another
        media type, 422 when it is not a JSON object."""
        content_type = (self.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        data = self.raw_body()
        if content_type and content_type != JSON_TYPE:
            raise HttpError(415, "UnsupportedMediaType", f"the body must be {JSON_TYPE}, not "
                            f"{content_type}")
        if not data.strip():
            return {}
        try:
            value = json.loads(data, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise HttpError(422, "InvalidInput", f"the body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise HttpError(422, "InvalidInput", f"the body must be a JSON object, got "
                            f"{type(value).__name__}")
        return value

    def form(self) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body (the dashboard's login form)."""
        content_type = (self.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise HttpError(415, "UnsupportedMediaType", "expected a form")
        try:
            fields = parse_qs(self.raw_body().decode("utf-8"), max_num_fields=20)
        except (UnicodeDecodeError, ValueError) as exc:
            raise HttpError(422, "InvalidInput", f"the form cannot be read: {exc}") from None
        return {k: v[-1] for k, v in fields.items()}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass
class Response:
    """A response: status, headers and body."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def start(self, start_response: Any, *, head: bool = False) -> Iterable[bytes]:
        """Hand the response to the WSGI server (headers only for a HEAD request)."""
        phrase = HTTPStatus(self.status).phrase
        headers = [*self.headers, ("Content-Length", str(len(self.body)))]
        start_response(f"{self.status} {phrase}", headers)
        return [b"" if head else self.body]


def json_response(data: Any, status: int = 200,
                  headers: Iterable[tuple[str, str]] = ()) -> Response:
    """``data`` as a JSON response (never cached: it is live state)."""
    body = json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return Response(status, body, [("Content-Type", "application/json; charset=utf-8"),
                                   ("Cache-Control", "no-store"), *headers])


def error_response(error: HttpError) -> Response:
    """An :class:`HttpError` as ``{"error": {"type", "message"}}``."""
    return json_response({"error": {"type": error.type, "message": error.message}},
                         error.status, error.headers.items())
