"""4. Wake-up latency, p50 and p99, on an idle worker (4 threads, poll_interval 60 s, so every
wake-up below is pushed, never polled):

* start -> first step running: ``app.start()`` until the workflow's first step starts;
* start -> result of a 1-step workflow: ``app.start(...).result()`` returns;
* event sent -> workflow resumed: ``app.send_event()`` until the step after the wait starts;
* sleep due -> workflow resumed: the sleep's ``wake_at`` (database clock) until the step after
  the sleep starts (wall clocks of the same machine).

Limit: a NOTIFY/LISTEN round trip (the sender's execute to the listener's wake-up), p50 and
p99, measured on the same server in the same run.
"""

from __future__ import annotations

import time
from typing import Any

from . import workflows
from .common import Bench, fmt_ratio, fmt_time, notify_round_trips, percentile, safe_div, summarize

NAME = "latency"
TITLE = "wake-up latency"

GAP = 0.003
"""Seconds between samples, so the worker is idle (waiting on NOTIFY) when each one starts."""


def run(bench: Bench) -> None:
    """Run the benchmark and save its report."""
    report = bench.report(NAME, TITLE)
    samples: int = bench.pick(10, 100, 500)
    nap: float = bench.pick(0.05, 0.05, 0.1)
    marks = workflows.MARKS
    app = bench.reset()
    series: dict[str, list[float]] = {"start -> first step running": [],
                                      "start -> result, 1-step workflow": [],
                                      "event sent -> workflow resumed": [],
                                      "sleep due -> workflow resumed": []}
    first, result, event, sleep = series.values()
    try:
        ping = notify_round_trips(bench, max(200, samples))
        with bench.connect() as conn, app.worker(threads=4, poll_interval=60):
            app.start(workflows.one_step).result(timeout=30)  # warm up
            for _ in range(samples):
                time.sleep(GAP)
                started = time.perf_counter()
                handle = app.start(workflows.one_step)
                handle.result(timeout=30)
                done = time.perf_counter()
                first.append(marks.wait(handle.id, "first").perf - started)
                result.append(done - started)

            status = bench.sql("SELECT status FROM {s}.executions WHERE id = %s")
            for _ in range(samples):
                handle = app.start(workflows.event)
                while True:  # until it is suspended on its wait and the thread is free
                    row = conn.execute(status, (handle.id,)).fetchone()
                    if row is not None and row[0] == "waiting":
                        break
                    time.sleep(0.001)
                time.sleep(GAP)
                started = time.perf_counter()
                app.send_event(handle.id, "go", None)
                event.append(marks.wait(handle.id, "resumed").perf - started)

            due = bench.sql("SELECT EXTRACT(EPOCH FROM wake_at)::float8 FROM {s}.steps "
                            "WHERE execution_id = %s AND kind = 'sleep'")
            for _ in range(samples):
                handle = app.start(workflows.nap, {"seconds": nap})
                resumed = marks.wait(handle.id, "resumed", timeout=30 + nap)
                row = conn.execute(due, (handle.id,)).fetchone()
                assert row is not None
                sleep.append(resumed.wall - float(row[0]))
    finally:
        app.close()
        bench.drop()

    table = report.table(
        f"{samples} samples each on an idle 4-thread worker; limit: NOTIFY -> LISTEN wake-up "
        f"({len(ping)} samples)",
        ["figure", "p50", "p99", "limit p50", "limit p99", "ratio p50", "ratio p99"])
    ping_p50, ping_p99 = percentile(ping, 0.5), percentile(ping, 0.99)
    for label, values in series.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        table.add(label, fmt_time(p50), fmt_time(p99), fmt_time(ping_p50), fmt_time(ping_p99),
                  fmt_ratio(safe_div(p50, ping_p50)), fmt_ratio(safe_div(p99, ping_p99)))
        report.ratio(f"{label}, p50", fmt_time(p50), fmt_time(ping_p50),
                     safe_div(p50, ping_p50), "NOTIFY/LISTEN round trip p50")
        report.ratio(f"{label}, p99", fmt_time(p99), fmt_time(ping_p99),
                     safe_div(p99, ping_p99), "NOTIFY/LISTEN round trip p99")
    table.notes.append(f"sleep: {nap * 1e3:.0f} ms durable sleeps, lateness after the database's "
                       f"wake_at; p99 of {samples} samples is close to their maximum")
    report.show(table)
    report.data = {"samples": samples, "sleep_seconds": nap,
                   "notify_round_trip": summarize(ping),
                   "figures": {label: summarize(values) for label, values in series.items()}}

    def plot(fig: Any) -> None:
        ax = fig.subplots(1, 1)
        labels = ["NOTIFY/LISTEN\n(limit)"] + [label.replace(" -> ", " ->\n").replace(", ", "\n")
                                               for label in series]
        data = [[v * 1e3 for v in ping]] + [[v * 1e3 for v in values]
                                             for values in series.values()]
        ax.boxplot(data, tick_labels=labels, whis=(1, 99), showfliers=True,
                   flierprops={"markersize": 2})
        ax.set(yscale="log", ylabel="milliseconds (log)",
               title="latency distributions (whiskers: p1 / p99)")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)

    report.save(plot)
