"""7. Queues: what a claim costs with many queued executions waiting.

A queued claim (``claim_queued``) decides, in one statement under the queue's row lock, which
executions may start within the queue's concurrency, per-key and rate limits. Its cost must not
grow with the queue's length. Timed one call at a time on a dedicated connection: claim one
execution, then complete it (so the queue's running count stays put), ``count`` times.

Conditions, each with ``n`` pending executions bulk-loaded (``generate_series``, then
``VACUUM ANALYZE``), 100 and 100k of them (1M with ``--full``):

* ``unqueued``: executions in no queue, claimed by ``claim_executions``: today's claim, the
  reference the queued ones are compared with;
* ``queue, no limits``: executions in a queue without limits;
* ``queue, limits``: in a queue with ``concurrency=1000, per_key=2`` and 1,000 keys.

Limit: one autocommit INSERT, measured in the same rounds.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

import zart
from zart import serde
from zart.store import Store

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

NAME = "queues"
TITLE = "claim cost with queued executions"

PROBE = "bench-queued"  # a workflow no worker runs: claimed by hand
CONDITIONS = ("unqueued", "queue, no limits", "queue, limits")


def declare_queues() -> dict[str, zart.Queue | None]:
    """The queue of each condition. Declared when this benchmark runs, not at import: a
    worker serves every queue its process declares, so queues declared at import would give
    the other benchmarks' workers a queued claim to make in every round."""
    return {"unqueued": None, "queue, no limits": zart.Queue("bench-plain"),
            "queue, limits": zart.Queue("bench-limited", concurrency=1000, per_key=2)}


def load(bench: Bench, conn: psycopg.Connection[Any], n: int,
         queue: zart.Queue | None) -> None:
    """``n`` pending executions of PROBE in ``queue`` (None: no queue), due a minute ago."""
    conn.execute(bench.sql("DELETE FROM {s}.executions WHERE workflow = %s"), (PROBE,))
    conn.execute(bench.sql(
        "INSERT INTO {s}.executions (id, workflow, input, max_attempts, retry, wake_at, queue, "
        "queue_key) "
        "SELECT 'q-' || g, %(workflow)s, 'null', 1, %(retry)s::json, "
        "now() - interval '1 minute', %(queue)s::text, "
        "CASE WHEN %(queue)s::text IS NULL THEN NULL ELSE 'key-' || (g %% 1000) END "
        "FROM generate_series(1, %(n)s::int) g"),
        {"workflow": PROBE, "retry": serde.dumps(workflows.steps.retry.to_json()), "n": n,
         "queue": None if queue is None else queue.name})
    conn.execute(bench.sql("VACUUM ANALYZE {s}.executions"))


def probe(bench: Bench, store: Store, conn: psycopg.Connection[Any], queue: zart.Queue | None,
          count: int, tag: str) -> tuple[list[float], list[float]]:
    """Seconds per claim (``count`` of them, each completed after) and per limit INSERT."""
    claims: list[float] = []
    inserts: list[float] = []
    query = insert_sql(bench)
    for i in range(count):
        started = time.perf_counter()
        conn.execute(query, (f"limit-{tag}", i, PAYLOAD_TEXT))
        inserts.append(time.perf_counter() - started)
        started = time.perf_counter()
        if queue is None:
            claimed = store.claim_executions([PROBE], 1, 600.0, conn)
        else:
            claimed = store.claim_queued([PROBE], [queue.name], 1, 600.0, conn)
        claims.append(time.perf_counter() - started)
        if not claimed:
            raise RuntimeError(f"nothing could be claimed ({queue})")
        store.complete(claimed[0], "null", conn)
    return claims, inserts


def run(bench: Bench) -> None:
    """Run the benchmark and save its report."""
    report = bench.report(NAME, TITLE)
    sizes: list[int] = bench.pick([100, 5_000], [100, 100_000], [100, 100_000, 1_000_000])
    count: int = bench.pick(50, 300, 500)
    app = bench.reset()
    create_limit_table(bench)
    store = Store(bench.dsn, bench.schema, min_size=1, max_size=2, name="zart-bench-queues")
    queues = declare_queues()
    store.register_queues([q for q in queues.values() if q is not None])
    p50: dict[int, dict[str, float]] = {}
    p99: dict[int, dict[str, float]] = {}
    limit: list[float] = []
    try:
        with bench.connect() as conn:
            for n in sizes:
                p50[n], p99[n] = {}, {}
                for label, queue in queues.items():
                    load(bench, conn, n + count, queue)  # n still pending at the end
                    claims, inserts = probe(bench, store, conn, queue, count, f"{n}-{label}")
                    p50[n][label] = percentile(claims, 0.5)
                    p99[n][label] = percentile(claims, 0.99)
                    limit += inserts
    finally:
        store.close()
        app.close()
        bench.drop()

    insert = percentile(limit, 0.5)
    table = report.table(f"claim one execution (p50 of {count}), n pending executions",
                         ["n", "condition", "claim p50", "claim p99", "vs unqueued, same n",
                          "vs unqueued, n=100", "limit: INSERT"])
    for n in sizes:
        for label in CONDITIONS:
            table.add(fmt_count(n), label, fmt_time(p50[n][label]), fmt_time(p99[n][label]),
                      fmt_ratio(safe_div(p50[n][label], p50[n]["unqueued"])),
                      fmt_ratio(safe_div(p50[n][label], p50[sizes[0]]["unqueued"])),
                      fmt_time(insert))
    report.show(table)
    largest = sizes[-1]
    for label in ("queue, no limits", "queue, limits"):
        report.ratio(f"queued claim ({label}), {fmt_count(largest)} queued",
                     fmt_time(p50[largest][label]), fmt_time(p50[sizes[0]]["unqueued"]),
                     safe_div(p50[largest][label], p50[sizes[0]]["unqueued"]),
                     f"unqueued claim, {fmt_count(sizes[0])} pending")
    report.data = {"sizes": sizes, "count": count, "p50_s": p50, "p99_s": p99,
                   "insert_p50_s": insert}

    def plot(fig: Any) -> None:
        axis = fig.subplots(1, 1)
        for label in CONDITIONS:
            axis.plot(sizes, [p50[n][label] * 1e6 for n in sizes], "o-", label=label)
        axis.axhline(insert * 1e6, color="C2", linestyle="--", label="limit: INSERT")
        axis.set(xscale="log", xlabel="pending executions", ylabel="claim p50 (us)",
                 title="claim cost against queue length", ylim=(0, None))
        axis.legend(fontsize=8)

    report.save(plot)
