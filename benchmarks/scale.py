"""5. Scale: claim and checkpoint cost with many rows in the tables.

The store's hot statements are timed one call at a time on a dedicated connection, on probe
executions of a workflow no worker runs (so they are claimed by hand): create (``INSERT`` of an
execution), claim (``claim_executions``, one at a time), checkpoint, complete, what every
dispatcher round also runs (``claim_children``, ``next_due``) and ``load_history``. Claims and
``next_due`` pass every workflow registered here, as a worker serving them all does;
``next_due, other wf`` passes only the probe's workflow, as a worker serving other workflows
than the suspended ones does (both without looking for pause rules, none being active, as a
worker that knows it does). Their p50 is compared with the same statements on empty tables
(the growth factor: ~1.0 means no growth) and with one autocommit INSERT (the limit) measured
at the same moment.

Conditions:

* empty tables;
* 10k executions sleeping or waiting for an event, put there by a real worker (half a 1-hour
  sleep, half a wait for an event nobody sends). With them suspended, no thread may be held:
  ``worker.busy`` and the process's thread count are reported. Measured twice: as the worker
  left them (the probe connection's statements were prepared, and their plans cached, while
  the tables were empty, as a long-lived worker connection's are) and after ``ANALYZE``;
* 10k, 100k (and 1M with ``--full``) finished executions with two steps each, bulk-loaded with
  ``INSERT ... SELECT generate_series`` directly into the zart tables, then ``VACUUM ANALYZE``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg

from zart import serde
from zart.interpreter import Record
from zart.runtime.children import known_refs
from zart.store import Store
from zart.workflow import registered_workflows

from . import workflows
from .common import (
    PAYLOAD_TEXT,
    Bench,
    create_limit_table,
    fmt_count,
    fmt_ratio,
    fmt_time,
    insert_sql,
    percentile,
    safe_div,
)

NAME = "scale"
TITLE = "claim and checkpoint cost at scale"

OPS = ["create", "claim", "checkpoint", "complete", "claim_children", "next_due",
       "next_due_other", "load_history"]
READS = ["list", "list_status", "list_workflow", "list_page_2", "describe"]
"""The read model (what the CLI, the HTTP API and the dashboard read): a first page of 50
executions, filtered by status or by workflow, a second page through the cursor, and the
description of one execution."""
PROBE = "bench-probe"  # a workflow no worker runs: the probes are claimed by hand


def probe(bench: Bench, store: Store, conn: psycopg.Connection[Any], tag: str,
          count: int) -> dict[str, list[float]]:
    """Time each hot store statement ``count`` times, one call at a time."""
    times: dict[str, list[float]] = {op: [] for op in [*OPS, *READS, "insert"]}
    retry = workflows.steps.retry
    clock = time.perf_counter

    def timed(op: str, fn: Callable[[], Any]) -> Any:
        started = clock()
        value = fn()
        times[op].append(clock() - started)
        return value

    query = insert_sql(bench)
    for i in range(count):
        execution_id = f"probe-{tag}-{i}"
        timed("insert", partial(conn.execute, query, (f"limit-{tag}", i, PAYLOAD_TEXT)))
        timed("create", partial(store.create_execution, execution_id, PROBE, "null", 1, retry,
                                None, conn))
    names = sorted({*registered_workflows(), PROBE})
    steps = known_refs()
    for _ in range(count):
        claims = timed("claim", lambda: store.claim_executions(names, 1, 600.0, conn))
        if not claims:
            raise RuntimeError("a probe execution could not be claimed")
        claim = claims[0]
        timed("load_history", partial(store.load_history, claim.execution_id, conn))
        record = Record(0, "step", "probe-step", value=PAYLOAD_TEXT, attempt=1)
        if not timed("checkpoint", partial(store.checkpoint, claim, record, conn)):
            raise RuntimeError("a probe checkpoint was fenced out")
        timed("complete", partial(store.complete, claim, "null", conn))
        timed("claim_children", lambda: store.claim_children(steps, 1, 600.0, conn))
        # No pause rule is active, and the worker knows it: the look-up its rounds make.
        timed("next_due", lambda: store.next_due(names, steps, conn, paused=False))
        timed("next_due_other", lambda: store.next_due([PROBE], (), conn, paused=False))
    page = partial(store.list_executions, statuses=None, workflow=None, created_after=None,
                   created_before=None, id_prefix=None, limit=50, cursor=None)
    for _ in range(count):
        first = timed("list", page)
        timed("list_status", partial(page, statuses=["completed"]))
        timed("list_workflow", partial(page, workflow="bench-steps"))
        timed("list_page_2", partial(page, cursor=first.cursor))
        timed("describe", partial(store.describe, claim.execution_id))
    conn.execute(bench.sql("DELETE FROM {s}.executions WHERE workflow = %s"), (PROBE,))
    return times


def load_finished(bench: Bench, conn: psycopg.Connection[Any], start: int, stop: int) -> float:
    """Bulk-load finished executions ``start`` .. ``stop - 1`` with two done steps each."""
    started = time.perf_counter()
    args = {"start": start, "stop": stop - 1, "payload": PAYLOAD_TEXT,
            "retry": serde.dumps(workflows.steps.retry.to_json())}
    conn.execute(bench.sql(
        "INSERT INTO {s}.executions (id, workflow, status, input, result, max_attempts, retry, "
        "created_at, updated_at, finished_at) "
        "SELECT 'done-' || g, 'bench-steps', 'completed', '{\"n\": 2}', %(payload)s::json, 1, "
        "%(retry)s::json, now() - interval '1 day', now() - interval '1 day', "
        "now() - interval '1 day' "
        "FROM generate_series(%(start)s::int, %(stop)s::int) g"), args)
    conn.execute(bench.sql(
        "INSERT INTO {s}.steps (execution_id, seq, kind, name, status, ok, value, attempt, "
        "created_at, finished_at) "
        "SELECT 'done-' || g, k, 'step', 'bench-noop-' || k, 'done', true, %(payload)s::json, "
        "1, now() - interval '1 day', now() - interval '1 day' "
        "FROM generate_series(%(start)s::int, %(stop)s::int) g, generate_series(0, 1) k"), args)
    conn.execute(bench.sql("VACUUM ANALYZE {s}.executions"))
    conn.execute(bench.sql("VACUUM ANALYZE {s}.steps"))
    return time.perf_counter() - started


def park(bench: Bench, app: Any, conn: psycopg.Connection[Any], count: int,
         threads: int) -> dict[str, Any]:
    """Suspend ``count`` executions through a real worker; what it holds afterwards."""
    conn.execute(bench.sql(
        "INSERT INTO {s}.executions (id, workflow, input, max_attempts, retry, wake_at) "
        "SELECT 'park-' || g, 'bench-park', json_build_object('sleep', g %% 2 = 0), 1, "
        "%s::json, 'infinity' FROM generate_series(1, %s::int) g"),
        (serde.dumps(workflows.park.retry.to_json()), count))
    threads_before = threading.active_count()
    worker = app.worker(threads=threads, poll_interval=60).start()
    time.sleep(0.2)
    started = time.perf_counter()
    conn.execute(bench.sql("UPDATE {s}.executions SET status = 'pending', "
                           "wake_at = {s}.clock_now() WHERE workflow = 'bench-park'"))
    count_waiting = bench.sql("SELECT count(*) FROM {s}.executions "
                              "WHERE workflow = 'bench-park' AND status = 'waiting'")
    deadline = started + max(120.0, count * 0.05)
    while True:
        row = conn.execute(count_waiting).fetchone()
        waiting = int(row[0]) if row else 0
        if waiting >= count:
            break
        if time.perf_counter() > deadline:
            worker.stop()
            raise TimeoutError(f"only {waiting}/{count} executions suspended in time")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    time.sleep(0.3)  # let the last threads hand their executions back
    held = {"suspended": count, "seconds_to_suspend_all": elapsed,
            "worker_threads": threads, "worker_busy": worker.busy,
            "threads_before_worker": threads_before,
            "threads_with_worker": threading.active_count()}
    by_status = conn.execute(bench.sql(
        "SELECT status, count(*) FROM {s}.executions WHERE workflow = 'bench-park' "
        "GROUP BY status")).fetchall()
    held["by_status"] = {status: int(n) for status, n in by_status}
    held["worker"] = worker
    return held


def run(bench: Bench) -> None:
    """Run the benchmark and save its report."""
    report = bench.report(NAME, TITLE)
    sizes: list[int] = bench.pick([1000, 10_000], [10_000, 100_000],
                                  [10_000, 100_000, 1_000_000])
    parked: int = bench.pick(500, 10_000, 10_000)
    count: int = bench.pick(30, 200, 500)
    threads = 8
    app = bench.reset()
    create_limit_table(bench)
    store = Store(bench.dsn, bench.schema, min_size=1, max_size=2, name="zart-bench-scale")
    conditions: list[dict[str, Any]] = []
    held: dict[str, Any] = {}
    try:
        with bench.connect() as conn:
            probe(bench, store, conn, "warm", min(20, count))  # plans cached, pages warm
            conditions.append({"label": "empty tables", "rows": 0,
                               "times": probe(bench, store, conn, "empty", count)})
            held = park(bench, app, conn, parked, threads)
            worker = held.pop("worker")
            try:
                conditions.append({"label": f"{fmt_count(parked)} sleeping/waiting",
                                   "rows": parked,
                                   "times": probe(bench, store, conn, "parked", count)})
                held["worker_busy_after_probe"] = worker.busy
                # The probe store's statements were prepared on empty tables: the same
                # statements once ANALYZE has refreshed the statistics (and the cached plans).
                conn.execute(bench.sql("ANALYZE {s}.executions, {s}.steps"))
                conditions.append({"label": f"{fmt_count(parked)} sleeping/waiting, ANALYZEd",
                                   "rows": parked,
                                   "times": probe(bench, store, conn, "analyzed", count)})
            finally:
                worker.stop()
            conn.execute(bench.sql("DELETE FROM {s}.executions WHERE workflow = 'bench-park'"))
            loaded = 0
            for size in sizes:
                seconds = load_finished(bench, conn, loaded, size)
                loaded = size
                conditions.append({"label": f"{fmt_count(size)} finished", "rows": size,
                                   "load_seconds": seconds,
                                   "times": probe(bench, store, conn, f"f{size}", count)})
                report.note(f"loaded {fmt_count(size)} finished executions (+2 steps each) in "
                            f"{seconds:.1f}s")
    finally:
        store.close()
        app.close()
        bench.drop()

    held_table = report.table(
        f"{fmt_count(parked)} executions suspended by a {threads}-thread worker "
        f"(half sleeping 1h, half waiting for an event)",
        ["figure", "value"])
    held_table.add("time to suspend them all", f"{held['seconds_to_suspend_all']:.2f} s "
                   f"({parked / held['seconds_to_suspend_all']:.0f}/s)")
    held_table.add("by status", ", ".join(f"{k}={v}" for k, v in held["by_status"].items()))
    held_table.add("worker.busy (threads held)", f"{held['worker_busy']} (after the probes: "
                   f"{held['worker_busy_after_probe']})")
    held_table.add("process threads: before / with worker",
                   f"{held['threads_before_worker']} / {held['threads_with_worker']} "
                   f"({threads} worker threads + dispatcher, listener, heartbeat)")
    report.show(held_table)
    busy = held["worker_busy"]
    report.ratio(f"threads held by {fmt_count(parked)} suspended executions", str(busy), "0",
                 float(busy), "none may be held (a count, not a cost ratio)",
                 shown="none held" if busy == 0 else f"{busy} HELD")

    base = {op: percentile(conditions[0]["times"][op], 0.5) for op in [*OPS, *READS, "insert"]}
    table = report.table(
        f"hot path: p50 per call of {count} one-at-a-time calls; (xN) = against empty tables; "
        f"limit: autocommit INSERT at the same moment",
        ["condition", *OPS[:4], "limit: INSERT", "claim/limit", "ckpt/limit"])
    other = report.table(
        "dispatcher rounds and replays: p50 per call; (xN) = against empty tables",
        ["condition", "claim_children", "next_due", "next_due, other wf", "load_history"])
    reads = report.table(
        "read model (CLI, HTTP API, dashboard): p50 per call of a 50-row page, filtered, the "
        "next page by cursor, one description; (xN) = against empty tables",
        ["condition", "list", "list, status", "list, workflow", "page 2", "describe"])
    for cond in conditions:
        p50 = {op: percentile(cond["times"][op], 0.5) for op in [*OPS, *READS, "insert"]}
        cond["p50"] = p50
        cond["p99"] = {op: percentile(cond["times"][op], 0.99)
                       for op in [*OPS, *READS, "insert"]}

        def cell(op: str, p50: dict[str, float] = p50,
                 empty: bool = cond is conditions[0]) -> str:
            if empty:
                return fmt_time(p50[op])
            return f"{fmt_time(p50[op])} (x{safe_div(p50[op], base[op]):.2f})"

        table.add(cond["label"], *(cell(op) for op in OPS[:4]), fmt_time(p50["insert"]),
                  fmt_ratio(safe_div(p50["claim"], p50["insert"])),
                  fmt_ratio(safe_div(p50["checkpoint"], p50["insert"])))
        other.add(cond["label"], *(cell(op) for op in OPS[4:]))
        reads.add(cond["label"], *(cell(op) for op in READS))
        if cond is not conditions[0]:
            for op in ("list", "list_status", "describe"):
                report.ratio(f"{op} p50 growth, {cond['label']}", fmt_time(p50[op]),
                             fmt_time(base[op]), safe_div(p50[op], base[op]),
                             "the same read on empty tables")
        for op in ("claim", "checkpoint"):
            report.ratio(f"{op} p50, {cond['label']}", fmt_time(p50[op]),
                         fmt_time(p50["insert"]), safe_div(p50[op], p50["insert"]),
                         "autocommit INSERT at the same moment")
            if cond is not conditions[0]:
                report.ratio(f"{op} p50 growth, {cond['label']}", fmt_time(p50[op]),
                             fmt_time(base[op]), safe_div(p50[op], base[op]),
                             "the same statement on empty tables")
        if cond is not conditions[0]:
            report.ratio(f"next_due p50 growth, {cond['label']}", fmt_time(p50["next_due"]),
                         fmt_time(base["next_due"]), safe_div(p50["next_due"], base["next_due"]),
                         "the same statement on empty tables")
    report.show(table)
    report.show(other)
    report.show(reads)
    for cond in conditions:
        cond["times"] = {op: len(v) for op, v in cond["times"].items()}  # counts only
    report.data = {"calls_per_op": count, "threads_held": held, "conditions": conditions}

    def plot(fig: Any) -> None:
        left, right = fig.subplots(1, 2)
        labels = [c["label"].replace(" sleeping/waiting", "\nsleeping/waiting")
                  .replace(", ", ",\n") for c in conditions]
        xs = list(range(len(conditions)))
        styles = ["o-", "s-", "^-", "v-", "x:", "+:", "*:", "d:", "k--"]
        for op, style in zip([*OPS, "insert"], styles, strict=True):
            left.plot(xs, [c["p50"][op] * 1e6 for c in conditions], style,
                      label="limit: INSERT" if op == "insert" else op)
        left.set(ylabel="p50 microseconds per call", title="hot statements, p50",
                 yscale="log")
        left.set_xticks(xs)
        left.set_xticklabels(labels, fontsize=7)
        left.legend(fontsize=7, ncol=2)
        left.grid(True, which="both", alpha=0.3)
        for op, style in (("claim", "s-"), ("checkpoint", "^-"), ("next_due", "+:"),
                          ("next_due_other", "*:")):
            right.plot(xs, [safe_div(c["p50"][op], base[op]) for c in conditions], style,
                       label=op)
        right.axhline(1.0, color="grey", linewidth=0.8)
        right.set(ylabel="p50 / p50 on empty tables", title="growth with table size",
                  ylim=(0, None))
        right.set_xticks(xs)
        right.set_xticklabels(labels, fontsize=7)
        right.legend(fontsize=8)

    report.save(plot)
