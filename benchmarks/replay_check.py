"""7. Replay-check throughput: recorded commands replayed per second by the deploy gate behind
``zart replay-check``, next to the replay figures of benchmark 1 measured again in this run.

* The gate: ``zart.replay.replay_check(app, {"bench-steps": ...})`` over E open executions of
  k recorded no-op steps each (each waits on its step k+1), read in batches of 500 (two
  queries per batch, whatever the histories' lengths) and replayed without running a step.
* Its references, on the same histories: the replay alone (every history already in memory,
  checked by the same code: the CPU the gate cannot avoid), and a recovering worker's path of
  benchmark 1 (``store.load_history()`` + replay, one query per execution).

The target is 100,000 commands per second from PostgreSQL; a figure below it is printed as
such, never failed.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import orjson

from zart import serde
from zart.interpreter import Pending
from zart.replay import check_history, replay_check
from zart.store.replays import ReplayExecution
from zart.workflow import get_workflow

from . import workflows
from .common import PAYLOAD_TEXT, Bench, fmt_count, fmt_rate, fmt_ratio, safe_div

NAME = "replay_check"
TITLE = "replay-check throughput"

TARGET = 100_000
"""Recorded commands per second the gate must replay from PostgreSQL."""

WORKER_SAMPLE = 300
"""Executions replayed one at a time (load_history + replay) for the worker's figure."""


def run(bench: Bench) -> None:
    """Run the benchmark and save its report."""
    report = bench.report(NAME, TITLE)
    shapes: list[tuple[int, int]] = bench.pick([(200, 20)],
                                               [(5000, 10), (2000, 50), (200, 500)],
                                               [(20_000, 10), (10_000, 100), (1000, 1000)])
    repeats: int = bench.pick(1, 3, 5)
    workflow = get_workflow(workflows.steps.name)
    table = report.table(
        "zart replay-check's gate from PostgreSQL, against the replay alone (the same "
        "histories in memory) and a recovering worker (load_history + replay, one by one)",
        ["executions x steps", "commands", "gate", "replay alone", "ratio", "worker path",
         "gate vs target"])
    data: dict[str, Any] = {"shapes": shapes, "gate": [], "replay_alone": [], "worker": [],
                            "target": TARGET, "repeats": repeats}
    app = bench.reset()
    try:
        for executions, steps in shapes:
            _load(bench, executions, steps)
            gate = statistics.median(_gate_rate(app, workflow) for _ in range(repeats))
            histories = app.store.replay_batch(app.store.replay_targets([workflow.name]).open)
            alone = statistics.median(_replay_rate(histories) for _ in range(repeats))
            worker = _worker_rate(app, histories[:WORKER_SAMPLE])
            for key, value in (("gate", gate), ("replay_alone", alone), ("worker", worker)):
                data[key].append(value)
            ratio = safe_div(alone, gate)
            label = f"{fmt_count(executions)} x {steps}"
            table.add(label, fmt_count(executions * steps), fmt_rate(gate, " cmd/s"),
                      fmt_rate(alone, " cmd/s"), fmt_ratio(ratio), fmt_rate(worker, " cmd/s"),
                      ("met" if gate >= TARGET else "BELOW") + f" ({fmt_rate(TARGET)})")
            report.ratio(f"replay-check, {label} steps", fmt_rate(gate, " cmd/s"),
                         fmt_rate(alone, " cmd/s"), ratio, "the same replay, histories in memory")
    finally:
        app.close()
        bench.drop()
    table.notes.append("gate = read in batches of 500 + replay; 'replay alone' = the gate's "
                       "replay of histories already in memory; 'worker path' = benchmark 1's "
                       f"load_history() + replay, one query per execution ({WORKER_SAMPLE} of "
                       f"them); medians of {repeats} run(s)")
    report.show(table)
    report.data = data
    report.save()


def _load(bench: Bench, executions: int, steps: int) -> None:
    """Replace the bench schema's executions with ``executions`` open ones of ``steps``
    recorded no-op steps each, inserted by the database itself."""
    with bench.connect() as conn:
        conn.execute(bench.sql("TRUNCATE {s}.executions, {s}.steps CASCADE"))
        conn.execute(bench.sql(
            "INSERT INTO {s}.executions (id, workflow, status, input) "
            "SELECT 'check-' || g, %s, 'waiting', %s::json FROM generate_series(1, %s) g"),
            (workflows.steps.name, orjson.dumps({"n": steps + 1}).decode(), executions))
        conn.execute(bench.sql(
            "INSERT INTO {s}.steps (execution_id, seq, kind, name, status, ok, value, attempt) "
            "SELECT 'check-' || e, g, 'step', 'bench-noop-' || g, 'done', true, %s::json, 1 "
            "FROM generate_series(1, %s) e, generate_series(0, %s - 1) g"),
            (PAYLOAD_TEXT, executions, steps))
        conn.execute(bench.sql("VACUUM ANALYZE {s}.executions, {s}.steps"))


def _gate_rate(app: Any, workflow: Any) -> float:
    report = replay_check(app, {workflow.name: workflow})
    if not report.ok or report.open == 0:
        raise RuntimeError(f"the gate found {len(report.divergences)} divergence(s) in "
                           f"{report.open} execution(s)")
    return report.rate


def _replay_rate(histories: list[ReplayExecution]) -> float:
    workflow = get_workflow(workflows.steps.name)
    commands = 0
    started = time.perf_counter()
    for execution in histories:
        checked = check_history(workflow, execution.id, execution.status,
                                serde.loads(execution.input_text), execution.history,
                                execution.attempt)
        if not isinstance(checked.outcome, Pending):
            raise RuntimeError(f"{execution.id} did not replay to its next step")
        commands += checked.commands
    return commands / (time.perf_counter() - started)


def _worker_rate(app: Any, histories: list[ReplayExecution]) -> float:
    workflow = get_workflow(workflows.steps.name)
    commands = 0
    started = time.perf_counter()
    with app.store.connection() as conn:
        for execution in histories:
            history = app.store.load_history(execution.id, conn)
            checked = check_history(workflow, execution.id, execution.status,
                                    serde.loads(execution.input_text), history)
            commands += checked.commands
    return commands / (time.perf_counter() - started)
