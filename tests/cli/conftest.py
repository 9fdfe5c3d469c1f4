"""Helpers for the CLI tests: they run the installed ``zart`` command in a subprocess (never
its functions), from the repository root, against the test database (tests/conftest.py) with
a schema of the test module's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import zart
from tests.conftest import wait_until

__all__ = ["ROOT", "Ran", "ZartCli", "assert_refused", "assert_usage_error", "cli_env",
           "wait_until", "zart_command"]

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: the ``zart`` subprocesses run there, so ``tests.cli.cli_app`` imports."""


def zart_command() -> list[str]:
    """The installed console script (the venv's bin directory first), else ``python -m``."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    found = shutil.which("zart", path=path)
    return [found] if found else [sys.executable, "-m", "zart.cli"]


@dataclass(frozen=True)
class Ran:
    """What a ``zart`` run left: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


def cli_env(dsn: str, **extra: str) -> dict[str, str]:
    """The subprocess's environment: the test database, and no colour opt-out (the command
    must leave colours out of a pipe by itself)."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "ZART_SCHEMA")}
    env["ZART_DATABASE_URL"] = dsn
    env.update(extra)
    return env


class ZartCli:
    """Runs ``zart --schema <the test module's schema> ARGS...`` in subprocesses."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema

    def _start(self, args: Sequence[str], env: dict[str, str] | None) -> subprocess.Popen[str]:
        return subprocess.Popen([*zart_command(), "--schema", self.schema, *args], cwd=ROOT,
                                env=env or cli_env(self.dsn), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Ran:
        """Run one command and return what it did."""
        [ran] = self.many([args], env=env)
        return ran

    def many(self, argvs: Sequence[Sequence[str]], env: dict[str, str] | None = None
             ) -> list[Ran]:
        """Run independent commands at once (each one is a Python start-up: together they
        take about the time of one per CPU)."""
        procs = [self._start(args, env) for args in argvs]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            results.append(Ran(proc.returncode, out, err))
        return results


@pytest.fixture(scope="module")
def zart_cli(dsn: str, schema: str) -> ZartCli:
    """The ``zart`` command on the test module's schema and the test database."""
    return ZartCli(dsn, schema)


@pytest.fixture(scope="module")
def module_worker(app: zart.Zart) -> Iterator[zart.Worker]:
    """A worker in the test process for the module's whole run: it runs what the ``zart``
    subprocesses start (the test process imported tests.cli.cli_app too)."""
    from tests.cli import cli_app  # noqa: F401  (registers the workflows)

    worker = app.worker(threads=4, lease=5.0, poll_interval=0.5)
    worker.start()
    yield worker
    worker.stop(timeout=10)


def assert_refused(ran: Ran, *fragments: str) -> None:
    """Exit code 1 with one line ``zart: <reason>`` on stderr (containing ``fragments``) and
    no traceback."""
    assert ran.code == 1, ran
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zart: "), ran
    assert "Traceback" not in ran.err + ran.out, ran
    for fragment in fragments:
        assert fragment in lines[0], (fragment, ran)


def assert_usage_error(ran: Ran, option: str, *fragments: str) -> None:
    """Exit code 2 with click's usage error naming ``option``, and no traceback."""
    assert ran.code == 2, ran
    assert f"Invalid value for '{option}'" in ran.err, ran
    assert "Traceback" not in ran.err, ran
    for fragment in fragments:
        assert fragment in ran.err, (fragment, ran)
