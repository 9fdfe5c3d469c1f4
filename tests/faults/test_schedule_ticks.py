"""Exactly one execution per tick (issue 11), with four worker processes ticking one
every-minute schedule while the database's clock jumps a minute at a time, and the worker that
took the first tick SIGKILLed inside it (after its insert, before its commit). Checked against
what ran: each tick's transactional step records the tick in the checkpoint's transaction, so
the ``ticks`` table holds exactly the steps that ran, never one that rolled back.

The schedule is declared in ``schedule_app``, which only the worker processes import: a worker
of another test in this process must not tick it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import zart

from .conftest import stop_processes

ROOT = Path(__file__).resolve().parents[2]
TICKS = 15


def spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from tests.faults.schedule_app import main; main()"],
        cwd=ROOT, env=env)


def wait_for(what: str, condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_every_tick_runs_exactly_once_across_workers_with_one_killed_mid_tick(
        app: zart.Zart, dsn: str, schema: str, sql: Any, tmp_path: Path) -> None:
    sql(f'CREATE TABLE "{schema}".ticks (execution_id text, tick text)')
    env = {**os.environ, "ZART_TEST_DSN": dsn, "ZART_TEST_SCHEMA": schema}
    stalled_at = tmp_path / "stalled"
    stalling = spawn({**env, "ZART_TEST_STALL_TICK": str(stalled_at)})
    workers: list[subprocess.Popen[bytes]] = [stalling]

    def jump_a_minute() -> None:
        sql(f'UPDATE "{schema}".clock SET offset_seconds = offset_seconds + 60')

    try:
        wait_for("the schedule to be stored", lambda: sql(
            f'SELECT 1 FROM "{schema}".schedules WHERE name = %s', "st-every-minute"))
        [(first,)] = sql(f'SELECT next_tick FROM "{schema}".schedules')
        jump_a_minute()
        wait_for("the first tick to stall", stalled_at.exists)
        workers += [spawn(env) for _ in range(3)]
        stalling.send_signal(signal.SIGKILL)  # its insert rolls back with its connection
        stalling.wait(10)
        for jump in range(TICKS - 1):
            jump_a_minute()
            if jump % 2:  # every other tick on time; the others fall due two at once
                done = jump + 2
                wait_for(f"tick {done}", lambda done=done: sql(  # type: ignore[misc]
                    f'SELECT count(*) FROM "{schema}".ticks')[0][0] >= done)
        [(now,)] = sql(f'SELECT "{schema}".clock_now()')
        expected = []
        tick = first
        while tick <= now:
            expected.append(tick)
            tick += timedelta(minutes=1)
        assert len(expected) >= TICKS
        wait_for("every tick to run", lambda: sql(
            f'SELECT count(*) FROM "{schema}".ticks')[0][0] >= len(expected), 60)
    finally:
        stop_processes(workers)

    ran = sql(f'SELECT execution_id, tick FROM "{schema}".ticks ORDER BY tick')
    ids = [f"st-every-minute@{t.strftime('%Y-%m-%dT%H:%M:%SZ')}" for t in expected]
    assert [execution_id for execution_id, _ in ran] == ids  # each tick once, none missed
    executions = sql(f"SELECT id, status FROM \"{schema}\".executions "
                     f"WHERE workflow = 'st-every-minute' ORDER BY id")
    assert executions == [(i, "completed") for i in ids]
    [(fired, skipped)] = sql(f'SELECT fired, skipped FROM "{schema}".schedules')
    assert (fired, skipped) == (len(ids), 0)
