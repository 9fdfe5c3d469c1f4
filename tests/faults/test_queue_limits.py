"""Queue limits across worker processes (issue 11): four worker processes of eight threads
each never run more of a queue's executions at once than its concurrency, nor more per key
than its per_key, even with one of them killed mid-run (its claims wait out their lease);
and a busy queue does not starve a quiet one. Checked against the spans the steps recorded
(the database's clock) and against the running counts sampled while they ran."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import zart

from . import queue_app
from .conftest import stop_processes

ROOT = Path(__file__).resolve().parents[2]


def peak(spans: list[tuple[Any, Any]]) -> int:
    """The most spans open at once."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    now = top = 0
    for _, delta in events:
        now += delta
        top = max(top, now)
    return top


def test_four_worker_processes_never_exceed_a_queues_limits_and_starve_no_queue(
        app: zart.Zart, dsn: str, schema: str, sql: Any) -> None:
    sql(f'CREATE TABLE IF NOT EXISTS "{schema}".spans (execution_id text, queue text, '
        f"key text, started timestamptz, ended timestamptz)")
    busy = [app.start(queue_app.busy_flow, {"key": f"k{n % 4}", "seconds": 0.05},
                      key=f"k{n % 4}") for n in range(80)]
    quiet = [app.start(queue_app.quiet_flow, {"seconds": 0.05}) for _ in range(6)]
    env = {**os.environ, "ZART_TEST_DSN": dsn, "ZART_TEST_SCHEMA": schema}
    workers = [subprocess.Popen(
        [sys.executable, "-c", "from tests.faults.queue_app import main; main()", "8"],
        cwd=ROOT, env=env) for _ in range(4)]
    sampled = {"ql-busy": 0, "ql-quiet": 0}
    try:
        killed = False
        deadline = time.monotonic() + 120
        while not all(h.status() == "completed" for h in busy + quiet):
            assert time.monotonic() < deadline, "the executions did not all complete"
            for queue, running in sql(f'SELECT queue, count(*) FROM "{schema}".executions '
                                      f"WHERE status = 'running' AND queue IS NOT NULL "
                                      f"GROUP BY queue"):
                sampled[queue] = max(sampled[queue], int(running))
            if not killed and sum(h.status() == "completed" for h in busy) >= 20:
                workers[0].send_signal(signal.SIGKILL)  # its claims wait out their lease
                killed = True
            time.sleep(0.01)
    finally:
        stop_processes(workers)
    spans = sql(f'SELECT queue, key, started, ended FROM "{schema}".spans')
    by_queue: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    by_key: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for queue, key, started, ended in spans:
        by_queue[queue].append((started, ended))
        if key is not None:
            by_key[key].append((started, ended))
    assert peak(by_queue["ql-busy"]) <= 5 and peak(by_queue["ql-quiet"]) <= 2
    assert max(peak(v) for v in by_key.values()) <= 2
    assert sampled["ql-busy"] <= 5 and sampled["ql-quiet"] <= 2
    # No starvation: the quiet queue, started after 80 busy executions, finished first.
    last_quiet = max(e for _, e in by_queue["ql-quiet"])
    last_busy = max(e for _, e in by_queue["ql-busy"])
    assert last_quiet < last_busy
    assert sql(f'SELECT sum(running) FROM "{schema}".queues') == [(0,)]
    print(f"\npeaks: busy {peak(by_queue['ql-busy'])}/5, quiet {peak(by_queue['ql-quiet'])}/2, "
          f"per key {max(peak(v) for v in by_key.values())}/2; sampled {sampled}; "
          f"{len(spans)} step runs for {len(busy) + len(quiet)} executions")
