"""Kill at every point: worker processes are SIGKILLed at chosen points of a workflow with
steps, a parallel fan-out, a sleep and an event wait, and at random moments over many runs;
fresh workers finish every execution. A zombie worker (SIGSTOP past its lease, SIGCONT after
another worker took over) writes nothing.

After every kill the test checks: the result is right; a step whose checkpoint was committed
before the kill did not run again; a step that had started but was not checkpointed ran again
and is recorded once; every command is recorded exactly once; nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zart

from . import kill_app
from .conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
TALLY = {"kills": 0, "runs": 0, "checks": 0}

CHOSEN_POINTS = [
    "before-step:kill-reserve",
    "inside-step:kill-reserve",
    "before-checkpoint:kill-reserve",
    "after-checkpoint:kill-reserve",
    "before-step:kill-charge",
    "before-checkpoint:kill-charge",
    "after-spawn",
    "inside-step:kill-pack-a",
    "before-child-done:kill-pack-b",
    "after-suspend",
    "after-suspend-event",
    "inside-step:kill-ship",
    "before-checkpoint:kill-ship",
    "before-complete",
    "after-complete",
]


@pytest.fixture(scope="module")
def tables(app: zart.Zart, dsn: str, schema: str) -> Iterator[None]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{schema}".effects (execution_id text, step text)')
        conn.execute(f'CREATE TABLE "{schema}".markers (run text, point text)')
    yield
    print(f"\nkill suite: {TALLY['runs']} runs, {TALLY['kills']} workers SIGKILLed, "
          f"{TALLY['checks']} facts checked, nothing lost")


class Workers:
    """Worker subprocesses for one schema; every one is killed at the end."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.env = {**os.environ, "ZART_TEST_DSN": dsn, "ZART_TEST_SCHEMA": schema,
                    "ZART_TEST_LEASE": "1.0"}
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, fault: str = "", run: str = "") -> subprocess.Popen[bytes]:
        env = {**self.env, "ZART_FAULT": fault, "ZART_FAULT_RUN": run}
        proc = subprocess.Popen(
            [sys.executable, "-c", "from tests.faults.kill_app import main; main()"],
            cwd=ROOT, env=env, stderr=subprocess.PIPE)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        TALLY["kills"] += 1

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            if proc.stderr is not None:
                proc.stderr.close()


@pytest.fixture
def workers(dsn: str, schema: str, tables: None) -> Iterator[Workers]:
    pool = Workers(dsn, schema)
    yield pool
    pool.close()


def effects(sql: Any, schema: str, execution_id: str) -> dict[str, int]:
    rows = sql(f'SELECT step, count(*) FROM "{schema}".effects WHERE execution_id = %s '
               f"GROUP BY step", execution_id)
    return {step: int(n) for step, n in rows}


def checkpointed(sql: Any, schema: str, execution_id: str) -> set[str]:
    rows = sql(f'SELECT name FROM "{schema}".steps WHERE execution_id = %s AND kind = %s '
               f"AND status = 'done'", execution_id, "step")
    return {name for (name,) in rows}


def check_recovered(app: zart.Zart, sql: Any, schema: str, handle: zart.Handle,
                    at_kill: dict[str, int], done_at_kill: set[str], tracking: str) -> None:
    """Every property the kill suite promises, for one execution."""
    order_id = handle.id
    assert handle.result(timeout=60) == kill_app.expected_result(order_id, tracking)
    after = effects(sql, schema, handle.id)
    for step in (*kill_app.STEPS, *kill_app.CHILDREN):
        assert after.get(step, 0) >= 1, f"{step} never ran"
        if step in done_at_kill:  # checkpointed before the kill: never runs again
            assert after[step] == at_kill[step], f"{step} ran again after its checkpoint"
        elif at_kill.get(step):  # started, not checkpointed: runs again (at least once)
            assert after[step] > at_kill[step], f"interrupted {step} did not run again"
        TALLY["checks"] += 2
    keys = sql(f'SELECT kind, name, count(*) FROM "{schema}".steps WHERE execution_id = %s '
               f"GROUP BY kind, name", handle.id)
    assert sorted((k, n) for k, n, _ in keys) == sorted(
        [("step", s) for s in (*kill_app.STEPS, *kill_app.CHILDREN)]
        + [("sleep", "kill-settle"), ("event", "kill-go")])
    assert all(count == 1 for _, _, count in keys), "a command was recorded twice"
    running = sql(f'SELECT count(*) FROM "{schema}".steps WHERE execution_id = %s AND '
                  f"status <> 'done'", handle.id)
    assert running == [(0,)]
    assert handle.status() == "completed"
    TALLY["checks"] += len(keys) + 3
    TALLY["runs"] += 1


@pytest.mark.parametrize("point", CHOSEN_POINTS)
def test_a_worker_killed_at_a_chosen_point_loses_nothing(
        app: zart.Zart, workers: Workers, sql: Any, schema: str, point: str) -> None:
    tracking = f"T-{point}"
    handle = app.start(kill_app.order, {"order": f"o-{point}"}, id=f"o-{point}")
    if point != "after-suspend-event":
        app.send_event(handle.id, "kill-go", {"tracking": tracking})  # buffered until the wait
    faulty = workers.spawn(fault=point, run=handle.id)
    wait_until(lambda: sql(f'SELECT 1 FROM "{schema}".markers WHERE run = %s AND point = %s',
                           handle.id, point), timeout=60, what=f"the worker to reach {point}")
    workers.kill(faulty)
    # Its backends may still be finishing a COMMIT it sent just before dying (a sibling
    # child's checkpoint, say): what the server commits counts as checkpointed before the
    # kill, so read the state once they are gone.
    wait_until(lambda: sql("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND application_name LIKE 'zart-worker-%'"
                           )[0][0] == 0, timeout=30, what="the killed worker's backends to end")
    at_kill = effects(sql, schema, handle.id)
    done_at_kill = checkpointed(sql, schema, handle.id)
    if point == "after-suspend-event":
        app.send_event(handle.id, "kill-go", {"tracking": tracking})
    workers.spawn()  # a fresh worker, no fault
    check_recovered(app, sql, schema, handle, at_kill, done_at_kill, tracking)


def test_workers_killed_at_random_moments_over_many_runs_lose_nothing(
        app: zart.Zart, workers: Workers, sql: Any, schema: str) -> None:
    seed = int(os.environ.get("ZART_KILL_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    print(f"\nrandom kills: seed {seed} (ZART_KILL_SEED={seed} reproduces the schedule)")
    handles: list[tuple[zart.Handle, str]] = []
    unsent: list[tuple[zart.Handle, str]] = []
    for i in range(12):
        tracking = f"R-{seed}-{i}"
        handle = app.start(kill_app.order, {"order": f"r{seed}-{i}"}, id=f"r{seed}-{i}")
        handles.append((handle, tracking))
        if rng.random() < 0.5:
            app.send_event(handle.id, "kill-go", {"tracking": tracking})  # before the wait
        else:
            unsent.append((handle, tracking))
    # Workers die at random moments; the remaining events arrive at random times between.
    for _ in range(8):
        proc = workers.spawn()
        threading.Event().wait(rng.uniform(0.2, 1.5))
        for item in list(unsent):
            if rng.random() < 0.25:
                _send_once(app, *item)
                unsent.remove(item)
        workers.kill(proc)
    for item in unsent:
        _send_once(app, *item)
    workers.spawn()
    workers.spawn()
    for handle, tracking in handles:
        check_recovered(app, sql, schema, handle, {}, set(), tracking)


def _send_once(app: zart.Zart, handle: zart.Handle, tracking: str) -> None:
    with contextlib.suppress(zart.ExecutionFinished):
        app.send_event(handle.id, "kill-go", {"tracking": tracking})


def test_a_zombie_worker_resumed_after_another_took_over_writes_nothing(
        app: zart.Zart, workers: Workers, sql: Any, schema: str) -> None:
    tracking = "Z-1"
    handle = app.start(kill_app.order, {"order": "zombie"}, id="zombie-1")
    app.send_event(handle.id, "kill-go", {"tracking": tracking})
    workers.env["ZART_FAULT_RELEASABLE"] = "1"
    zombie = workers.spawn(fault="inside-step:kill-charge", run=handle.id)
    del workers.env["ZART_FAULT_RELEASABLE"]
    lines: list[bytes] = []
    assert zombie.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(zombie.stderr or ()), daemon=True)
    reader.start()
    wait_until(lambda: sql(f'SELECT 1 FROM "{schema}".markers WHERE run = %s', handle.id),
               timeout=60, what="the zombie to be inside kill-charge")
    zombie.send_signal(signal.SIGSTOP)  # paused mid-step, past its lease
    try:
        rescuer = workers.spawn()
        assert handle.result(timeout=60) == kill_app.expected_result("zombie", tracking)
        rescuer.send_signal(signal.SIGTERM)
        assert rescuer.wait(20) == 0
        snapshot = (
            f'SELECT seq, kind, name, ok, value::text, finished_at FROM "{schema}".steps '
            f"WHERE execution_id = %s ORDER BY seq")
        history = sql(snapshot, handle.id)
        execution = sql(f'SELECT status, result::text, updated_at FROM "{schema}".executions '
                        f"WHERE id = %s", handle.id)
        sql(f'INSERT INTO "{schema}".markers (run, point) VALUES (%s, %s)', handle.id,
            "release")
    finally:
        zombie.send_signal(signal.SIGCONT)
    # Resumed, the zombie finishes its step and tries to checkpoint it: refused, it gives up.
    wait_until(lambda: any(b"no longer held" in line for line in lines), timeout=30,
               what="the zombie to find its claim gone")
    assert sql(snapshot, handle.id) == history
    assert sql(f'SELECT status, result::text, updated_at FROM "{schema}".executions '
               f"WHERE id = %s", handle.id) == execution
    assert effects(sql, schema, handle.id)["kill-charge"] == 2  # the zombie's run + the rescue
    workers.kill(zombie)
    TALLY["checks"] += 3
