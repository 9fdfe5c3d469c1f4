"""6. Parallel fan-out: a 100-child ``zart.parallel`` from start to barrier.

``bench-fanout`` yields a parallel of 100 no-op children (module-level steps, claimable by any
worker thread), then runs a marked step: the figure is ``app.start()`` until that step starts,
i.e. until the barrier has passed and the parent is running again. The database's own
timestamps split it: start -> children inserted (parent claimed, replayed, children spawned),
children inserted -> last child done (claims and completions), last child done -> parent
running after the barrier.

Limit: the same 100 rows inserted in one statement (``INSERT ... SELECT generate_series``,
autocommit) into a plain table.
"""

from __future__ import annotations

import time
from typing import Any

from . import workflows
from .common import (
    LIMIT_TABLE,
    PAYLOAD_TEXT,
    Bench,
    create_limit_table,
    fmt_ratio,
    fmt_time,
    median,
    percentile,
    safe_div,
    summarize,
)

NAME = "fanout"
TITLE = "parallel fan-out, 100 children"

CHILDREN = 100


def run(bench: Bench) -> None:
    """Run the benchmark and save its report."""
    report = bench.report(NAME, TITLE)
    repeats: int = bench.pick(2, 10, 30)
    thread_counts: list[int] = bench.pick([4], [4], [1, 4, 8])
    app = bench.reset()
    create_limit_table(bench)
    limit: list[float] = []
    results: dict[int, dict[str, list[float]]] = {}
    insert = bench.sql(f"INSERT INTO {{s}}.{LIMIT_TABLE} (execution_id, seq, value) "
                       f"SELECT %s, g, %s::json FROM generate_series(0, %s::int - 1) g")
    phases = bench.sql(
        "SELECT EXTRACT(EPOCH FROM min(s.created_at) - e.created_at)::float8, "
        "       EXTRACT(EPOCH FROM max(s.finished_at) - min(s.created_at))::float8 "
        "FROM {s}.executions e JOIN {s}.steps s ON s.execution_id = e.id AND s.child "
        "WHERE e.id = %s GROUP BY e.created_at")
    try:
        with bench.connect() as conn:
            for threads in thread_counts:
                runs: dict[str, list[float]] = {"barrier": [], "result": [], "spawn": [],
                                                "children": []}
                results[threads] = runs
                with app.worker(threads=threads, poll_interval=60):
                    app.start(workflows.fanout, {"n": 4}).result(timeout=60)  # warm up
                    for r in range(repeats):
                        time.sleep(0.01)
                        started = time.perf_counter()
                        handle = app.start(workflows.fanout, {"n": CHILDREN})
                        handle.result(timeout=120)
                        done = time.perf_counter()
                        runs["barrier"].append(
                            workflows.MARKS.wait(handle.id, "barrier").perf - started)
                        runs["result"].append(done - started)
                        row = conn.execute(phases, (handle.id,)).fetchone()
                        if row is not None:
                            runs["spawn"].append(float(row[0]))
                            runs["children"].append(float(row[1]))
                        started = time.perf_counter()
                        conn.execute(insert, (f"fan-{threads}-{r}", PAYLOAD_TEXT, CHILDREN))
                        limit.append(time.perf_counter() - started)
    finally:
        app.close()
        bench.drop()

    ins = median(limit)
    table = report.table(
        f"{CHILDREN}-child parallel, start -> barrier passed (p50 of {repeats}); limit: the same "
        f"{CHILDREN} rows in one INSERT statement",
        ["worker threads", "start->barrier", "p90", "start->result", "limit: 1 INSERT", "ratio",
         "per child", "spawn", "children run", "barrier->parent"])
    for threads, runs in results.items():
        barrier = percentile(runs["barrier"], 0.5)
        spawn, kids = median(runs["spawn"]), median(runs["children"])
        table.add(threads, fmt_time(barrier), fmt_time(percentile(runs["barrier"], 0.9)),
                  fmt_time(percentile(runs["result"], 0.5)), fmt_time(ins),
                  fmt_ratio(safe_div(barrier, ins)), fmt_time(barrier / CHILDREN),
                  fmt_time(spawn), fmt_time(kids), fmt_time(barrier - spawn - kids))
        report.ratio(f"{CHILDREN}-child fan-out to barrier, {threads} threads", fmt_time(barrier),
                     fmt_time(ins), safe_div(barrier, ins),
                     f"{CHILDREN} rows inserted in one statement")
    table.notes.append("spawn / children run from the database's timestamps (transaction "
                       "starts): start -> children inserted, inserted -> last child done; "
                       "barrier->parent is the rest")
    report.show(table)
    report.data = {"children": CHILDREN, "repeats": repeats, "limit_insert": summarize(limit),
                   "runs": {str(t): {k: summarize(v) for k, v in runs.items()}
                            for t, runs in results.items()}}

    def plot(fig: Any) -> None:
        left, right = fig.subplots(1, 2)
        labels = [f"{t} threads" for t in results]
        spawn = [median(r["spawn"]) * 1e3 for r in results.values()]
        kids = [median(r["children"]) * 1e3 for r in results.values()]
        rest = [max(0.0, percentile(r["barrier"], 0.5) * 1e3 - s - k)
                for r, s, k in zip(results.values(), spawn, kids, strict=True)]
        left.bar(labels, spawn, label="start -> children inserted")
        left.bar(labels, kids, bottom=spawn, label="children run")
        left.bar(labels, rest, bottom=[s + k for s, k in zip(spawn, kids, strict=True)],
                 label="last child -> parent running")
        left.axhline(ins * 1e3, color="C3", linestyle="--",
                     label=f"limit: {CHILDREN} rows, 1 INSERT")
        left.set(ylabel="milliseconds (p50 / medians)", title="start -> barrier, split")
        left.legend(fontsize=8)
        for label, runs in zip(labels, results.values(), strict=True):
            values = sorted(v * 1e3 for v in runs["barrier"])
            right.plot(values, [(i + 1) / len(values) for i in range(len(values))], ".-",
                       label=label)
        right.set(xlabel="start -> barrier, milliseconds", ylabel="fraction of runs",
                  title="distribution")
        right.legend(fontsize=8)
        right.grid(True, alpha=0.3)

    report.save(plot)
