"""Fixtures for the web tests: the WSGI app on the module's fresh schema (tests/conftest.py),
called directly through a small WSGI client, and a worker running tests.web.web_app."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import pytest

import zart
from tests.conftest import wait_until
from zart.web import ZartWeb, create_app

__all__ = ["Reply", "WebClient", "wait_until"]

READ = "read-token-0123456789"
OPERATE = "operate-token-0123456789"
TOKENS = f"read:{READ},operate:{OPERATE}"


@dataclass
class Reply:
    """What the app answered."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, str]:
        """The ``error`` member of an error reply."""
        data = self.json()
        assert set(data) == {"error"} and set(data["error"]) == {"type", "message"}, data
        return dict(data["error"])


@dataclass
class WebClient:
    """Calls a WSGI app in-process, as a server would (REQUEST_URI included)."""

    app: ZartWeb
    headers: dict[str, str] = field(default_factory=dict)
    script_name: str = ""
    remote_addr: str = "127.0.0.1"

    def request(self, method: str, path: str, *, json_body: Any = None, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        """``path`` is below the mount point and may carry a query string."""
        all_headers = {"Host": "localhost", **self.headers, **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        body = body or b""
        parts = urlsplit(path)

        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": self.script_name,
            "PATH_INFO": unquote_to_bytes(parts.path).decode("latin-1"),
            "QUERY_STRING": parts.query, "REQUEST_URI": self.script_name + path,
            "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.remote_addr, "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)) if body else "",
        }
        for name, value in all_headers.items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
        started: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
            started["status"] = int(status.split()[0])
            started["headers"] = response_headers

        chunks = self.app(environ, start_response)
        headers_seen: dict[str, str] = {}
        for name, value in started["headers"]:
            # Several Set-Cookie headers: keep them all, one per line.
            headers_seen[name] = f"{headers_seen[name]}\n{value}" if name in headers_seen else value
        return Reply(started["status"], headers_seen, b"".join(chunks))

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, json_body={} if json_body is None and "body" not in
                            kwargs else json_body, **kwargs)


@pytest.fixture(scope="module")
def web(app: zart.Zart) -> ZartWeb:
    """The WSGI app with a read and an operate token."""
    return create_app(app, tokens=TOKENS, max_result_wait=5.0)


@pytest.fixture
def operator(web: ZartWeb) -> WebClient:
    """A client with the operate token."""
    return WebClient(web, {"Authorization": f"Bearer {OPERATE}"})


@pytest.fixture
def reader(web: ZartWeb) -> WebClient:
    """A client with the read token."""
    return WebClient(web, {"Authorization": f"Bearer {READ}"})


@pytest.fixture(scope="module")
def web_worker(app: zart.Zart) -> Iterator[zart.Worker]:
    """A worker for the module's whole run, for tests.web.web_app's workflows."""
    from tests.web import web_app  # noqa: F401  (registers the workflows)

    worker = app.worker(threads=4, lease=5.0, poll_interval=0.5)
    worker.start()
    yield worker
    worker.stop(timeout=10)
