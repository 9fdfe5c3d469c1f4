"""examples/nightly_report.py: its cron schedule fires one report a night as the clock moves,
and catches up only the latest night after days without a worker."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import psycopg
import pytest

import zart
from zart.testing import advance, run_until_idle

from .conftest import loaded


@pytest.fixture(scope="module")
def nightly() -> Iterator[ModuleType]:
    yield from loaded("nightly_report")


@pytest.fixture
def reports(nightly: ModuleType, zart_app: zart.Zart, zart_dsn: str,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The example's reports table, in the test's schema; how many rows it holds."""
    monkeypatch.setattr(nightly, "SCHEMA", zart_app.schema)
    with psycopg.connect(zart_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{zart_app.schema}".reports (night text)')

        def count() -> int:
            row = conn.execute(f'SELECT count(*) FROM "{zart_app.schema}".reports').fetchone()
            return int(row[0]) if row else 0

        yield count


def test_one_report_a_night_and_only_the_latest_after_days_without_a_worker(
        nightly: ModuleType, zart_app: zart.Zart, reports: Any) -> None:
    assert run_until_idle(zart_app).scheduled == 0  # the schedule is stored, not due yet
    advance(zart_app, "1d")
    assert run_until_idle(zart_app).scheduled == 1 and reports() == 1
    assert run_until_idle(zart_app).scheduled == 0  # a tick runs once
    advance(zart_app, "3d")  # three nights pass with nobody running the workflow
    assert run_until_idle(zart_app).scheduled == 1 and reports() == 2  # catchup="latest"
    schedule = zart_app.schedules.get("nightly-report")
    assert (schedule.fired, schedule.skipped) == (2, 2)
