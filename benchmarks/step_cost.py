"""2. Step cost, sequential: time per step of a long workflow of no-op steps on one thread.

A workflow of n no-op steps (each returning a ~70-byte JSON payload) runs on a worker with one
thread. The figure is the time between the first and the last step starting, per step (start
and completion excluded); start -> result per step is shown too.

Limit: one autocommit ``INSERT`` of the same payload through psycopg on the same database, into
a plain WAL-logged table (not TEMP: temp tables skip WAL and the commit's fsync). The two are
measured in alternating rounds so both see the same background noise.

Observed: the same workflow with zart's Prometheus metrics and OpenTelemetry traces on (the
SDK's TracerProvider, spans batched to an in-memory exporter), in the same alternating rounds:
what metrics and spans cost per step (they add no statement).

Diagnostics: ``store.checkpoint()`` called in a loop without the worker (the fenced statement
alone: the rest is the worker's Python), write transactions per step (snapshot xmax delta) and
WAL bytes per step, against the same for the INSERT.
"""

from __future__ import annotations

import time
from typing import Any

from zart.interpreter import Record
from zart.observe import Observer, add_observer, remove_observer
from zart.store import Store

from . import workflows
from .common import (
    PAYLOAD_TEXT,
    Bench,
    create_limit_table,
    fmt_rate,
    fmt_ratio,
    fmt_time,
    insert_latencies,
    median,
    safe_div,
    wal_lsn,
    write_xacts,
)

NAME = "step_cost"
TITLE = "step cost, sequential (1 thread)"


def run(bench: Bench) -> None:
    """Run the benchmark and save its report."""
    report = bench.report(NAME, TITLE)
    n: int = bench.pick(200, 2000, 10_000)
    rounds: int = bench.pick(1, 3, 3)
    app = bench.reset()
    create_limit_table(bench)
    per_step: list[float] = []
    observed_step: list[float] = []
    end_to_end: list[float] = []
    limit: list[float] = []
    xacts: list[float] = []
    wal: list[float] = []
    limit_wal: list[float] = []
    try:
        with bench.connect() as probe, app.worker(threads=1, poll_interval=60):
            app.start(workflows.steps, {"n": 20}).result(timeout=60)  # warm up

            def run_limit() -> None:
                lsn = wal_lsn(probe)
                samples = insert_latencies(bench, n)
                limit_wal.append((wal_lsn(probe) - lsn) / n)
                limit.append(sum(samples) / n)

            def run_zart(observed: bool = False) -> None:
                xid, lsn = write_xacts(probe), wal_lsn(probe)
                started = time.perf_counter()
                handle = app.start(workflows.steps, {"n": n})
                handle.result(timeout=max(60.0, n * 0.05))
                first = workflows.MARKS.wait(handle.id, "first")
                last = workflows.MARKS.wait(handle.id, "last")
                if observed:
                    observed_step.append((last.perf - first.perf) / (n - 1))
                    return
                end_to_end.append((time.perf_counter() - started) / n)
                xacts.append((write_xacts(probe) - xid) / n)
                wal.append((wal_lsn(probe) - lsn) / n)
                per_step.append((last.perf - first.perf) / (n - 1))

            observing = _observers()
            for _ in range(rounds):
                run_limit()
                run_zart()
                if observing is not None:
                    for observer in observing:
                        add_observer(observer)
                    try:
                        run_zart(observed=True)
                    finally:
                        for observer in observing:
                            remove_observer(observer)
        checkpoint_alone = _checkpoint_alone(bench, n)
    finally:
        app.close()
        bench.drop()

    step, e2e, ins = median(per_step), median(end_to_end), median(limit)
    table = report.table(f"{n} no-op steps on one worker thread (median of {rounds} round(s))",
                         ["figure", "per step", "steps/s", "limit: INSERT", "ratio"])
    table.add("zart, first -> last step", fmt_time(step), fmt_rate(1 / step), fmt_time(ins),
              fmt_ratio(safe_div(step, ins)))
    table.add("zart, start -> result / n", fmt_time(e2e), fmt_rate(1 / e2e), fmt_time(ins),
              fmt_ratio(safe_div(e2e, ins)))
    if observed_step:
        seen = median(observed_step)
        table.add("zart, metrics + traces on", fmt_time(seen), fmt_rate(1 / seen),
                  fmt_time(ins), fmt_ratio(safe_div(seen, ins)))
        table.notes.append(f"metrics and traces cost {fmt_time(seen - step)} per step "
                           f"({(seen / step - 1) * 100:+.0f}%), no statement")
    else:
        table.notes.append("metrics + traces row skipped: prometheus-client or "
                           "opentelemetry-sdk is not installed")
    table.add("store.checkpoint() alone", fmt_time(checkpoint_alone),
              fmt_rate(1 / checkpoint_alone), fmt_time(ins),
              fmt_ratio(safe_div(checkpoint_alone, ins)))
    table.notes.append(
        f"worker overhead beyond the checkpoint statement: "
        f"{fmt_time(step - checkpoint_alone)} per step; write transactions per step "
        f"{median(xacts):.3f} (INSERT: 1); WAL per step {median(wal):.0f} B "
        f"(INSERT: {median(limit_wal):.0f} B)")
    report.show(table)
    report.ratio("step cost, sequential", fmt_time(step), fmt_time(ins), safe_div(step, ins),
                 "autocommit INSERT, same payload")
    report.data = {"steps": n, "rounds": rounds, "per_step_s": per_step,
                   "start_to_result_per_step_s": end_to_end,
                   "observed_per_step_s": observed_step, "insert_s": limit,
                   "checkpoint_alone_s": checkpoint_alone, "write_xacts_per_step": xacts,
                   "wal_bytes_per_step": wal, "wal_bytes_per_insert": limit_wal,
                   "payload_bytes": len(PAYLOAD_TEXT)}

    def plot(fig: Any) -> None:
        left, right = fig.subplots(1, 2)
        labels = ["zart step\n(first->last)", "start->result\n/ n", "store.checkpoint()\nalone",
                  "limit:\nINSERT"]
        values = [step * 1e6, e2e * 1e6, checkpoint_alone * 1e6, ins * 1e6]
        bars = left.bar(labels, values, color=["C0", "C0", "C1", "C2"])
        left.bar_label(bars, fmt="%.0f")
        left.tick_params(axis="x", labelsize=8)
        left.set(ylabel="microseconds per step", title=f"{n} no-op steps, 1 thread")
        rounds_x = list(range(1, len(per_step) + 1))
        right.plot(rounds_x, [v * 1e6 for v in per_step], "o-", label="zart step")
        right.plot(rounds_x, [v * 1e6 for v in limit], "^--", label="INSERT")
        right.set(xlabel="round", ylabel="microseconds", title="per round (noise check)",
                  ylim=(0, None))
        right.set_xticks(rounds_x)
        right.legend(fontsize=8)

    report.save(plot)


def _observers() -> list[Observer] | None:
    """zart's Prometheus and OpenTelemetry observers, as a production process would run them
    (a registry of their own here; spans batched to an in-memory exporter); None when the
    libraries are not installed."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        from prometheus_client import CollectorRegistry

        from zart.contrib.opentelemetry import TracingObserver
        from zart.contrib.prometheus import PrometheusObserver
    except ImportError:
        return None
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    return [PrometheusObserver(CollectorRegistry()), TracingObserver(provider)]


def _checkpoint_alone(bench: Bench, n: int) -> float:
    """Seconds per ``store.checkpoint()`` of a held execution, called in a loop."""
    store = Store(bench.dsn, bench.schema, min_size=1, max_size=2, name="zart-bench-ckpt")
    try:
        with store.connection() as conn:
            store.create_execution("ckpt-probe", "bench-probe", "null", 1,
                                   workflows.steps.retry, None, conn)
            claims = store.claim_executions(["bench-probe"], 1, 600.0, conn)
            if not claims:
                raise RuntimeError("could not claim the checkpoint probe")
            claim = claims[0]
            started = time.perf_counter()
            for i in range(n):
                if not store.checkpoint(claim, Record(i, "step", f"probe-{i}",
                                                      value=PAYLOAD_TEXT, attempt=1), conn):
                    raise RuntimeError("the checkpoint probe was fenced out")
            return (time.perf_counter() - started) / n
    finally:
        store.close()
