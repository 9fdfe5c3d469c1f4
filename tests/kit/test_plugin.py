"""The pytest plugin as a user's project meets it: installed with zart (entry point
``pytest11``), its fixtures next to the project's own ``app`` and ``worker`` fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zart.testing.database import fresh_schema_name

USER_CONFTEST = '''
import pytest

@pytest.fixture
def app():
    return "the project's own app fixture"

@pytest.fixture
def worker():
    return "the project's own worker fixture"
'''

USER_TESTS = '''
import zart
from zart.testing import advance, crash_at, run_until_idle

@zart.step("user-greet")
def greet(name):
    return f"hello {name}"

@zart.workflow("user-hello")
def hello(data):
    yield zart.sleep("nap", "7d")
    return (yield greet(data["name"]))

def test_the_kit_and_the_projects_fixtures_coexist(zart_app, app, worker):
    assert app == "the project's own app fixture"
    assert worker == "the project's own worker fixture"
    handle = zart_app.start(hello, {"name": "ada"})
    run_until_idle(zart_app)
    advance(zart_app, "7d")
    crash = crash_at(zart_app, greet, when="after")
    run_until_idle(zart_app)
    assert crash.happened
    advance(zart_app, "30s")
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == "hello ada"

def test_each_test_gets_a_fresh_schema_and_the_real_clock(zart_app):
    import time
    assert zart_app.executions().items == []
    assert abs(time.time() - zart_app.store.clock_now().timestamp()) < 5

def test_the_worker_fixture_runs_executions(zart_app, zart_worker):
    assert zart_app.start(hello, {"name": "bo"}).status() in ("pending", "running", "waiting")
'''


def test_a_projects_tests_get_the_fixtures_from_the_installed_plugin(
        tmp_path: Path, zart_dsn: str) -> None:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(USER_CONFTEST))
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    env = {**os.environ, "ZART_DATABASE_URL": zart_dsn}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout, proc.stdout


@pytest.mark.parametrize("name", ["test_x", "test_x[a-b/c]", "ü" * 80, "test_" + "y" * 100])
def test_fresh_schema_names_are_valid_and_unique(name: str) -> None:
    first, second = fresh_schema_name(name), fresh_schema_name(name)
    assert first != second
    assert len(first) <= 48 and first.startswith("zt_")
