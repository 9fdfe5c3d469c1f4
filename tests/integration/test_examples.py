"""Every script in examples/ runs to completion, as a user would run it, and says it succeeded.

Each example runs in a subprocess against the test database (``ZART_DATABASE_URL`` set to the
``dsn`` fixture, so no example starts an embedded server of its own) and checks its own
outcome: exit code 0 means the example saw what zart promises. Each example works in its own
schema (``example_*``), which it resets at start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

# script, extra arguments, lines its successful run prints
CASES: list[tuple[str, list[str], list[str]]] = [
    ("order_fulfilment.py", [], [
        "CRASH: kill -9 the worker process",
        "[ok] charge ran once: the card was charged exactly 1 time",
        "[ok] reserve ran again after the crash (at least once: 2 runs)",
        "All good: the crash cost one repeated reservation and nothing else."]),
    ("onboarding.py", [], ["OK: alice was activated, bob timed out and got a reminder."]),
    ("health_checks.py", [], ["OK: one failed check did not stop the others"]),
    ("durable_loop.py", [], ["OK: every page was fetched exactly once"]),
    ("approval.py", [], ["OK: expense-1 was paid out, expense-2 was rejected"]),
    ("web_app.py", ["--self-test"], ["OK: all routes answered as expected."]),
    ("nightly_report.py", [], ["OK: each night's report was built exactly once"]),
    ("fan_out.py", [], ["OK: every customer was invoiced once by its own child workflow"]),
    ("rate_limited_api.py", [], ["OK: the queue kept the API's limits"]),
]


def run_example(dsn: str, script: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZART_DATABASE_URL": dsn, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=90, check=False)


@pytest.mark.parametrize(("script", "args", "expected"), CASES, ids=[c[0] for c in CASES])
def test_example_runs_and_reports_success(dsn: str, script: str, args: list[str],
                                          expected: list[str]) -> None:
    proc = run_example(dsn, script, args)
    output = f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, output
    for line in expected:
        assert line in proc.stdout, output
    assert "WRONG" not in proc.stdout, output


def test_every_example_is_covered() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == {case[0] for case in CASES}
