"""Prometheus metrics (zart.contrib.prometheus): what a run counts, the due backlog read at
scrape time, and labels that never name a step or an execution (cardinality)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

import zart
from zart.contrib.prometheus import instrument
from zart.observe import remove_observer

CALLS: dict[str, int] = {}


@zart.step("mx-flaky", retry=zart.fixed(2, 0))
def flaky(key: str) -> str:
    CALLS[key] = CALLS.get(key, 0) + 1
    if CALLS[key] == 1:
        raise ConnectionError("first attempt fails")
    return key


@zart.workflow("mx-flow")
def flow(data: Any) -> Any:
    return (yield flaky(data))


@zart.workflow("mx-idle")
def idle(data: Any) -> Any:
    return (yield flaky(data))


def test_a_run_is_counted_by_workflow_status_and_outcome(app: zart.Zart) -> None:
    registry = CollectorRegistry()
    observer = instrument(app, registry)
    try:
        with app.worker(threads=2, lease=5, poll_interval=0.2, workflows=["mx-flow"]):
            assert app.start(flow, "a").result(timeout=20) == "a"
    finally:
        remove_observer(observer)
    value = registry.get_sample_value
    assert value("zart_executions_started_total", {"workflow": "mx-flow",
                                                   "created": "true"}) == 1
    assert value("zart_executions_finished_total", {"workflow": "mx-flow",
                                                    "status": "completed"}) == 1
    assert value("zart_step_attempts_total", {"workflow": "mx-flow", "outcome": "retry"}) == 1
    assert value("zart_step_attempts_total", {"workflow": "mx-flow", "outcome": "ok"}) == 1
    assert value("zart_step_attempt_duration_seconds_count", {"workflow": "mx-flow"}) == 2
    assert value("zart_execution_duration_seconds_count", {"workflow": "mx-flow",
                                                           "status": "completed"}) == 1
    threads = [s for m in registry.collect() if m.name == "zart_worker_threads"
               for s in m.samples]
    assert {s.labels["state"] for s in threads} == {"busy", "idle"}


def test_the_due_backlog_is_read_from_the_database_at_scrape_time(app: zart.Zart) -> None:
    registry = CollectorRegistry()
    observer = instrument(app, registry)
    remove_observer(observer)  # only the backlog collector matters here
    before = registry.get_sample_value("zart_due_executions", {"schema": app.schema}) or 0
    app.start(idle, "waiting-for-a-worker")
    assert registry.get_sample_value("zart_due_executions", {"schema": app.schema}) == before + 1
    oldest = registry.get_sample_value("zart_oldest_due_age_seconds",
                                       {"schema": app.schema})
    assert oldest is not None and oldest >= 0
    text = generate_latest(registry).decode()
    assert "# HELP zart_due_executions" in text


def test_no_metric_is_labelled_by_step_or_execution(app: zart.Zart) -> None:
    registry = CollectorRegistry()
    observer = instrument(app, registry)
    try:
        with app.worker(threads=2, lease=5, poll_interval=0.2, workflows=["mx-flow"]):
            app.start(flow, "b").result(timeout=20)
    finally:
        remove_observer(observer)
    labels = {name for metric in registry.collect() for sample in metric.samples
              for name in sample.labels}
    assert labels <= {"workflow", "status", "outcome", "created", "worker", "state", "le",
                      "schema"}
