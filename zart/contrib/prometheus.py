"""Prometheus metrics for zart (``pip install 'zart[prometheus]'``)::

    from zart.contrib import prometheus
    prometheus.instrument(app)                 # once per process
    prometheus.start_http_server(9100)         # a worker process without a web app
    # or serve /metrics from zart.web.create_app(app), or your own WSGI app

The metrics (``zart_`` prefix): executions started and finished (by workflow and status), step
attempts by outcome (``ok``, ``retry``, ``backoff``, ``timeout``, ``failed``), step attempt and
execution duration histograms, lease losses, busy and idle worker threads, and, read from the
database at scrape time, the due backlog and the oldest due execution's age (per schema).
Labels are the workflow's name, statuses and outcomes only: never a step name or an execution
id, whose numbers grow without bound (Prometheus' cardinality rule).

Counters count what this process saw: each worker process reports its own executions, and
Prometheus sums them (``sum by (workflow) (rate(zart_step_attempts_total[5m]))``). The
backlog gauges are the database's, the same in every process: aggregate them with ``max``.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..observe import Observer, StepEvent, add_observer

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client import start_http_server as _start_http_server
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError:  # pragma: no cover - the message is the point
    raise ConfigurationError("zart.contrib.prometheus needs prometheus-client: pip install "
                             "'zart[prometheus]'") from None

if TYPE_CHECKING:
    from ..client import Zart

__all__ = ["BacklogCollector", "PrometheusObserver", "instrument", "start_http_server"]

log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0)
"""Seconds: a step takes milliseconds to minutes; an execution up to days (it sleeps)."""


class PrometheusObserver(Observer):
    """Keeps zart's metrics in a prometheus-client registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.started = Counter("zart_executions_started", "Executions started by clients of "
                               "this process (created, or found by their id).",
                               ["workflow", "created"], registry=registry)
        self.finished = Counter("zart_executions_finished", "Executions finished by workers "
                                "of this process.", ["workflow", "status"], registry=registry)
        self.attempts = Counter("zart_step_attempts", "Step attempts by what came of them.",
                                ["workflow", "outcome"], registry=registry)
        self.attempt_seconds = Histogram("zart_step_attempt_duration_seconds", "How long "
                                         "step attempts ran.", ["workflow"],
                                         buckets=DURATION_BUCKETS, registry=registry)
        self.execution_seconds = Histogram("zart_execution_duration_seconds", "From an "
                                           "execution's start to its end.",
                                           ["workflow", "status"], buckets=DURATION_BUCKETS,
                                           registry=registry)
        self.lease_losses = Counter("zart_lease_losses", "Work this process held and found "
                                    "taken over by another worker.", registry=registry)
        self.threads = Gauge("zart_worker_threads", "Worker threads by state.",
                             ["worker", "state"], registry=registry)

    def execution_started(self, execution_id: str, workflow: str, created: bool) -> None:
        """Count a start."""
        self.started.labels(workflow, "true" if created else "false").inc()

    def execution_finished(self, execution_id: str, workflow: str, status: str,
                           seconds: float | None) -> None:
        """Count an end and observe its duration."""
        self.finished.labels(workflow, status).inc()
        if seconds is not None:
            self.execution_seconds.labels(workflow, status).observe(seconds)

    def attempt_finished(self, step: StepEvent, ok: bool, seconds: float,
                         error: dict[str, Any] | None) -> None:
        """Observe an attempt's duration."""
        self.attempt_seconds.labels(step.workflow).observe(seconds)

    def step_outcome(self, step: StepEvent, outcome: str) -> None:
        """Count an attempt by its outcome."""
        self.attempts.labels(step.workflow, outcome).inc()

    def lease_lost(self, execution_id: str) -> None:
        """Count a lease loss."""
        self.lease_losses.inc()

    def worker_threads(self, worker: str, busy: int, total: int) -> None:
        """Set a worker's busy and idle threads."""
        self.threads.labels(worker, "busy").set(busy)
        self.threads.labels(worker, "idle").set(total - busy)


class BacklogCollector(Collector):
    """The due backlog of each instrumented application's schema, read from the database
    at each scrape (one indexed query per schema), labelled by schema."""

    def __init__(self) -> None:
        self.apps: weakref.WeakSet[Zart] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """``zart_due_executions`` and ``zart_oldest_due_age_seconds``."""
        due = GaugeMetricFamily("zart_due_executions", "Executions due and not claimed yet.",
                                labels=["schema"])
        oldest = GaugeMetricFamily("zart_oldest_due_age_seconds", "How long the oldest due "
                                   "execution has waited for a worker (0: none waits).",
                                   labels=["schema"])
        for app in list(self.apps):
            try:
                count, age = app.store.due_backlog()
            except Exception:  # a closed app, a database down: no sample, never a failed scrape
                log.debug("no backlog for schema %r", app.schema, exc_info=True)
                continue
            due.add_metric([app.schema], count)
            oldest.add_metric([app.schema], age or 0.0)
        yield due
        yield oldest

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """Nothing: describing would query the database at registration."""
        return []


_INSTRUMENTED: dict[int, PrometheusObserver] = {}
_BACKLOGS: dict[int, BacklogCollector] = {}


def instrument(app: Zart | None = None,
               registry: CollectorRegistry = REGISTRY) -> PrometheusObserver:
    """Start counting in ``registry`` (once per registry: later calls return the same
    observer); with ``app``, also report its database's due backlog."""
    observer = _INSTRUMENTED.get(id(registry))
    if observer is None:
        observer = _INSTRUMENTED[id(registry)] = PrometheusObserver(registry)
        add_observer(observer)
    if app is not None:
        backlog = _BACKLOGS.get(id(registry))
        if backlog is None:
            backlog = _BACKLOGS[id(registry)] = BacklogCollector()
            registry.register(backlog)
        backlog.apps.add(app)
    return observer


def start_http_server(port: int, addr: str = "0.0.0.0",
                      registry: CollectorRegistry = REGISTRY) -> None:
    """Serve ``/metrics`` on ``port`` from a background thread (prometheus-client's own
    server), for worker processes without a web app."""
    _start_http_server(port, addr=addr, registry=registry)
