"""``zart serve`` runs the app on waitress: it prints where, serves the API and the dashboard
there, and without tokens refuses to listen beyond this machine."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest

from tests.cli.conftest import ROOT, cli_env, zart_command

from .conftest import READ, TOKENS


@pytest.fixture
def served(dsn: str, schema: str) -> Iterator[str]:
    """``zart serve --port 0 --prefix /ops`` with tokens; yields its base URL."""
    proc = subprocess.Popen([*zart_command(), "--schema", schema, "serve", "--port", "0",
                             "--prefix", "/ops", "--module", "tests.web.web_app"],
                            cwd=ROOT, env=cli_env(dsn, ZART_API_TOKENS=TOKENS),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until it listens (or ends)
        assert line.startswith("zart serve: http://127.0.0.1:"), (line, proc.stderr)
        yield line.split()[2].rstrip("/")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                     if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def test_serve_answers_the_api_and_the_dashboard_under_its_prefix(served: str) -> None:
    status, body = get(f"{served}/api/stats", READ)
    assert status == 200 and "by_status" in json.loads(body)
    assert get(f"{served}/api/stats")[0] == 401
    status, body = get(f"{served}/openapi.json")
    assert status == 200 and json.loads(body)["servers"] == [{"url": "/ops"}]
    assert get(f"{served}/login")[0] == 200
    status, _ = get(f"{served}/api/executions/a%2Fb/status", READ)
    assert status == 404


def test_serve_refuses_a_public_address_without_tokens(dsn: str) -> None:
    env = {k: v for k, v in cli_env(dsn).items() if k != "ZART_API_TOKENS"}
    ran = subprocess.run([*zart_command(), "serve", "--host", "0.0.0.0"], cwd=ROOT, env=env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 1, ran
    assert ran.stderr.startswith("zart: refusing to serve on 0.0.0.0 without API tokens"), ran
