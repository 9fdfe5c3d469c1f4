"""The schema: created and versioned by zart itself, safely under concurrent start-up, in a
validated schema name; and ``Worker.run()`` stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import zart
from zart.store import SCHEMA_VERSION

from . import crash_app
from .conftest import drop_schema, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_many_processes_creating_the_schema_at_once_all_succeed(dsn: str, sql: Any) -> None:
    schema = f"t_concurrent_create_{os.getpid()}"
    drop_schema(dsn, schema)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        try:
            zart.Zart(dsn, schema=schema).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        assert sql(f'SELECT version FROM "{schema}".schema_version') == [(SCHEMA_VERSION,)]
    finally:
        drop_schema(dsn, schema)


def test_the_schema_records_its_version_and_a_restart_reuses_it(app: zart.Zart,
                                                                sql: Any) -> None:
    assert app.schema.startswith("t_")
    again = zart.Zart(app.dsn, schema=app.schema)
    again.close()
    assert sql(f'SELECT version FROM "{app.schema}".schema_version') == [(SCHEMA_VERSION,)]


def test_a_schema_newer_than_the_code_is_refused(dsn: str, sql: Any) -> None:
    schema = f"t_newer_schema_{os.getpid()}"
    drop_schema(dsn, schema)
    try:
        zart.Zart(dsn, schema=schema).close()
        sql(f'INSERT INTO "{schema}".schema_version (version) VALUES (%s)', SCHEMA_VERSION + 1)
        with pytest.raises(zart.ConfigurationError, match="newer"):
            zart.Zart(dsn, schema=schema)
    finally:
        drop_schema(dsn, schema)


@pytest.mark.parametrize("bad", [
    "", "1abc", "zart; DROP TABLE x", 'za"rt', "zart.public", "pg_catalog", "a" * 49,
    "information_schema", "zart--", "ü", None, 42,
])
def test_hostile_or_invalid_schema_names_are_refused_before_any_sql(dsn: str, bad: Any) -> None:
    with pytest.raises(zart.ConfigurationError, match="schema name"):
        zart.Zart(dsn, schema=bad)


def test_worker_run_stops_cleanly_on_sigterm(app: zart.Zart, dsn: str) -> None:
    env = {**os.environ, "ZART_TEST_DSN": dsn, "ZART_TEST_SCHEMA": app.schema}
    child = subprocess.Popen(
        [sys.executable, "-c", "from tests.integration.crash_app import main; main()"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    assert child.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(child.stderr or ()), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any(" started: " in line for line in lines), timeout=30,
                   what="the worker to report it started")
        child.send_signal(signal.SIGTERM)
        assert child.wait(20) == 0
    finally:
        if child.poll() is None:
            child.kill()
    reader.join(5)
    assert any(" stopped" in line for line in lines)
    assert not any("Traceback" in line for line in lines)


def test_a_second_ctrl_c_during_a_graceful_stop_stops_at_once_and_hands_back(
        app: zart.Zart, dsn: str, sql: Any) -> None:
    """The first SIGINT starts a graceful stop that waits for the step in flight (it hangs);
    the second stops at once: the process exits without a traceback and the execution it
    held is claimable again right away (no lease to wait out)."""
    sql(f'CREATE TABLE IF NOT EXISTS "{app.schema}".effects (execution_id text, step text)')
    env = {**os.environ, "ZART_TEST_DSN": dsn, "ZART_TEST_SCHEMA": app.schema}
    handle = app.start(crash_app.order, None)
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.argv[1:] = ['60']; "
                               "from tests.integration.crash_app import main; main()"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    assert child.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(child.stderr or ()), daemon=True)
    reader.start()
    try:
        wait_until(lambda: sql(f'SELECT count(*) FROM "{app.schema}".effects WHERE '
                               f"execution_id = %s AND step = 'reserve'", handle.id) == [(1,)],
                   timeout=30, what="the worker to hang inside a step")
        child.send_signal(signal.SIGINT)
        wait_until(lambda: any("stopping" in line for line in lines), what="the graceful stop")
        child.send_signal(signal.SIGINT)
        assert child.wait(15) == 0
    finally:
        if child.poll() is None:
            child.kill()
    reader.join(5)
    assert not any("Traceback" in line for line in lines), "".join(lines)
    assert any("handed back" in line for line in lines)
    assert handle.status() == "pending"  # lease 60 s: without the hand-back it stays running
    app.cancel(handle.id)
