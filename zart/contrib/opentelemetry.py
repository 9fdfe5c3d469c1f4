"""OpenTelemetry traces for zart (``pip install 'zart[otel]'``)::

    from zart.contrib import opentelemetry
    opentelemetry.instrument()     # once per process, after your TracerProvider is set up

A span per workflow run (``zart.run <workflow>``: from a worker's claim to the run's
suspension or end) and per step attempt (``zart.step <step>``, current while the step's code
runs, so spans your code opens nest under it). ``app.start()`` stores the caller's trace
context (W3C ``traceparent``) with the execution, so every run's span joins the request that
started the workflow, whichever worker runs it and however long it slept in between. Parallel
children's attempts, claimed by any worker, join it the same way.

Only opentelemetry-api is needed: without an SDK configured, spans are no-ops. A span's
attributes are ``zart.execution_id``, ``zart.workflow``, ``zart.attempt`` (and ``zart.step``,
``zart.run.status``).
"""

from __future__ import annotations

import threading
from typing import Any

from .. import __version__
from ..errors import ConfigurationError
from ..observe import Observer, RunEvent, StepEvent, add_observer

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError:  # pragma: no cover - the message is the point
    raise ConfigurationError("zart.contrib.opentelemetry needs opentelemetry-api: pip install "
                             "'zart[otel]'") from None

__all__ = ["TracingObserver", "instrument"]


class TracingObserver(Observer):
    """Opens the spans; the trace context travels with the execution."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("zart", __version__, tracer_provider=tracer_provider)
        # Runs in progress by execution id: a timed step runs in a helper thread, where the
        # run's span is not current; its attempt's span still belongs under the run.
        self._runs: dict[str, Span] = {}
        self._lock = threading.Lock()

    def context_for_start(self) -> dict[str, Any] | None:
        """The caller's trace context (empty when it has none)."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return {"otel": carrier} if carrier else None

    @staticmethod
    def _stored(context: dict[str, Any] | None) -> otel_context.Context:
        carrier = (context or {}).get("otel")
        return propagate.extract(carrier if isinstance(carrier, dict) else {})

    def run_started(self, run: RunEvent) -> None:
        """Open the run's span under the starter's context and make it current."""
        span = self.tracer.start_span(
            f"zart.run {run.workflow}", context=self._stored(run.context),
            kind=SpanKind.INTERNAL,
            attributes={"zart.execution_id": run.execution_id, "zart.workflow": run.workflow,
                        "zart.attempt": run.attempt})
        run.data["otel_span"] = span
        run.data["otel_token"] = otel_context.attach(trace.set_span_in_context(span))
        with self._lock:
            self._runs[run.execution_id] = span

    def run_ended(self, run: RunEvent, status: str, seconds: float) -> None:
        """Close the run's span with how it ended."""
        span: Span | None = run.data.get("otel_span")
        if span is None:
            return
        with self._lock:
            self._runs.pop(run.execution_id, None)
        span.set_attribute("zart.run.status", status)
        if status == "failed":
            span.set_status(Status(StatusCode.ERROR, "the execution failed"))
        otel_context.detach(run.data["otel_token"])
        span.end()

    def attempt_started(self, step: StepEvent) -> None:
        """Open the attempt's span under its run (or, for a parallel child, under the
        starter's context) and make it current for the step's code."""
        parent = None
        if not trace.get_current_span().get_span_context().is_valid:
            with self._lock:
                run = self._runs.get(step.execution_id)
            parent = (trace.set_span_in_context(run) if run is not None
                      else self._stored(step.context))
        span = self.tracer.start_span(
            f"zart.step {step.step}", context=parent, kind=SpanKind.INTERNAL,
            attributes={"zart.execution_id": step.execution_id, "zart.workflow": step.workflow,
                        "zart.step": step.step, "zart.attempt": step.attempt})
        step.data["otel_span"] = span
        step.data["otel_token"] = otel_context.attach(trace.set_span_in_context(span))

    def attempt_finished(self, step: StepEvent, ok: bool, seconds: float,
                         error: dict[str, Any] | None) -> None:
        """Close the attempt's span (an error status with the exception's type and text)."""
        span: Span | None = step.data.get("otel_span")
        if span is None:
            return
        if not ok and error is not None:
            span.set_status(Status(StatusCode.ERROR, f"{error.get('type')}: "
                                                     f"{error.get('message')}"))
            span.set_attribute("zart.error.type", str(error.get("type")))
        otel_context.detach(step.data["otel_token"])
        span.end()


_INSTRUMENTED: list[TracingObserver] = []


def instrument(tracer_provider: trace.TracerProvider | None = None) -> TracingObserver:
    """Start tracing (once per process: later calls return the same observer)."""
    if not _INSTRUMENTED:
        observer = TracingObserver(tracer_provider)
        add_observer(observer)
        _INSTRUMENTED.append(observer)
    return _INSTRUMENTED[0]
