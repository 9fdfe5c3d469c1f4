"""OpenTelemetry traces (zart.contrib.opentelemetry), checked with the SDK's in-memory
exporter: a span per run and per step attempt, all in the trace of the request that started
the execution, across suspensions, worker threads and parallel children."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import zart
from zart.contrib.opentelemetry import TracingObserver
from zart.observe import add_observer, remove_observer

CALLS: dict[str, int] = {}


@zart.step("tr-flaky", retry=zart.fixed(2, 0))
def flaky(key: str) -> str:
    CALLS[key] = CALLS.get(key, 0) + 1
    if CALLS[key] == 1:
        raise ConnectionError("first attempt fails")
    return key


@zart.step("tr-timed", timeout="10s")
def timed(value: int) -> int:
    return value  # runs in a helper thread (a timed step)


@zart.step("tr-part-{i}")
def part(i: int) -> int:
    return i


@zart.workflow("tr-flow")
def flow(data: Any) -> Any:
    key = yield flaky(data)
    yield zart.sleep("tr-nap", 0.05)
    doubled = yield timed(2)
    parts = yield zart.parallel(*[part(i) for i in range(3)])
    return {"key": key, "doubled": doubled, "parts": parts}


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    observer = TracingObserver(provider)
    add_observer(observer)
    yield provider, exporter
    remove_observer(observer)


def named(found: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in found if s.name.startswith(prefix)]


def test_every_run_and_attempt_span_joins_the_trace_of_the_request_that_started_it(
        app: zart.Zart, spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    with provider.get_tracer("test").start_as_current_span("POST /orders") as request:
        handle = app.start(flow, "k")
    trace_id = request.get_span_context().trace_id
    with app.worker(threads=3, lease=5, poll_interval=0.2, workflows=["tr-flow"]):
        assert handle.result(timeout=30)["parts"] == [0, 1, 2]
    found = exporter.get_finished_spans()
    runs = named(found, "zart.run tr-flow")
    steps = named(found, "zart.step ")
    assert len(runs) >= 3  # suspended by the retry, the sleep, the fan-out
    assert {s.context.trace_id for s in runs + steps} == {trace_id}
    assert all(r.parent is not None and r.parent.span_id == request.get_span_context().span_id
               for r in runs)
    run_ids = {r.context.span_id for r in runs}
    flaky_spans = [s for s in steps if s.name == "zart.step tr-flaky"]
    assert [s.status.status_code for s in flaky_spans] == [StatusCode.ERROR, StatusCode.UNSET]
    [timed_span] = [s for s in steps if s.name == "zart.step tr-timed"]
    assert timed_span.parent is not None and timed_span.parent.span_id in run_ids
    children = [s for s in steps if s.name.startswith("zart.step tr-part-")]
    assert len(children) == 3  # claimed as work of their own: still in the request's trace
    assert {s.attributes["zart.execution_id"] for s in steps} == {handle.id}
    assert runs[-1].attributes["zart.run.status"] == "completed"


def test_an_execution_started_outside_any_trace_gets_a_trace_of_its_own(
        app: zart.Zart, spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    _, exporter = spans
    handle = app.start(flow, "m")
    with app.worker(threads=3, lease=5, poll_interval=0.2, workflows=["tr-flow"]):
        handle.result(timeout=30)
    runs = named(exporter.get_finished_spans(), "zart.run tr-flow")
    assert runs and all(r.parent is None for r in runs)
