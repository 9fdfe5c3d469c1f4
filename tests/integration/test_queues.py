"""Queues (issue 11): a global limit on running executions, a limit per key, a rate limit
(starts per period) and priorities, enforced by the claim itself; a worker may serve a subset
of the queues. Limits are checked against evidence: every step run records when it started
and ended, and the overlaps are counted afterwards."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import pytest

import zart

from .conftest import wait_until

SPANS: list[tuple[str, str | None, float, float]] = []
LOCK = threading.Lock()
ORDER: list[str] = []

narrow = zart.Queue("q-narrow", concurrency=2)
keyed = zart.Queue("q-keyed", per_key=1)
throttled = zart.Queue("q-throttled", rate=(3, "1h"))
ranked = zart.Queue("q-ranked", concurrency=1)


@zart.step("q-work")
def work(queue: str, key: str | None, seconds: float) -> str:
    started = time.monotonic()
    with LOCK:
        ORDER.append(zart.context().execution_id)
    time.sleep(seconds)
    with LOCK:
        SPANS.append((queue, key, started, time.monotonic()))
    return "done"


@zart.workflow("q-narrow-flow", queue=narrow)
def narrow_flow(data: Any) -> Any:
    return (yield work("q-narrow", None, data))


@zart.workflow("q-keyed-flow", queue=keyed)
def keyed_flow(data: Any) -> Any:
    return (yield work("q-keyed", data["key"], data["seconds"]))


@zart.workflow("q-throttled-flow", queue=throttled)
def throttled_flow(data: Any) -> Any:
    return (yield work("q-throttled", None, 0))


@zart.workflow("q-ranked-flow", queue=ranked)
def ranked_flow(data: Any) -> Any:
    return (yield work("q-ranked", None, 0.01))


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The most spans open at once."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    open_now = peak = 0
    for _, delta in events:
        open_now += delta
        peak = max(peak, open_now)
    return peak


def spans_of(queue: str) -> list[tuple[str | None, float, float]]:
    with LOCK:
        return [(k, s, e) for q, k, s, e in SPANS if q == queue]


def test_a_queues_concurrency_limit_holds_on_a_worker_with_more_threads(app: zart.Zart,
                                                                       sql: Any,
                                                                       schema: str) -> None:
    handles = [app.start(narrow_flow, 0.15) for _ in range(8)]
    peak_running = 0
    with app.worker(threads=6, lease=5.0, poll_interval=0.2):
        while not all(h.status() == "completed" for h in handles):
            [(running,)] = sql(f'SELECT count(*) FROM "{schema}".executions '
                               f"WHERE queue = 'q-narrow' AND status = 'running'")
            peak_running = max(peak_running, int(running))
            time.sleep(0.01)
    assert max_overlap([(s, e) for _, s, e in spans_of("q-narrow")]) <= 2
    assert peak_running <= 2 and len(spans_of("q-narrow")) == 8
    assert sql(f"SELECT running FROM \"{schema}\".queues WHERE name = 'q-narrow'") == [(0,)]


def test_a_per_key_limit_runs_one_execution_per_key_at_a_time(app: zart.Zart) -> None:
    handles = [app.start(keyed_flow, {"key": key, "seconds": 0.1}, key=key)
               for key in ("a", "b", "a", "b", "a", "c")]
    with app.worker(threads=6, lease=5.0, poll_interval=0.2):
        for handle in handles:
            handle.result(timeout=30)
    by_key: dict[str | None, list[tuple[float, float]]] = defaultdict(list)
    for key, started, ended in spans_of("q-keyed"):
        by_key[key].append((started, ended))
    assert {k: max_overlap(v) for k, v in by_key.items()} == {"a": 1, "b": 1, "c": 1}
    assert max_overlap([s for v in by_key.values() for s in v]) >= 2  # keys run side by side


def test_a_rate_limit_starts_at_most_n_per_period(app: zart.Zart) -> None:
    handles = [app.start(throttled_flow, None) for _ in range(5)]
    with app.worker(threads=4, lease=5.0, poll_interval=0.2):
        wait_until(lambda: sum(h.status() == "completed" for h in handles) == 3,
                   what="the first three starts")
        time.sleep(0.5)  # nothing more may start within the hour: look for a while
        assert sum(h.status() == "completed" for h in handles) == 3
        app.store.shift_clock(3600)
        for handle in handles:
            handle.result(timeout=20)


def test_higher_priority_runs_first(app: zart.Zart) -> None:
    with LOCK:
        ORDER.clear()
    low = [app.start(ranked_flow, None, priority=0) for _ in range(3)]
    high = [app.start(ranked_flow, None, priority=10) for _ in range(3)]
    with app.worker(threads=2, lease=5.0, poll_interval=0.2):
        for handle in low + high:
            handle.result(timeout=30)
    with LOCK:
        order = [e for e in ORDER if e in {h.id for h in low + high}]
    assert set(order[:3]) == {h.id for h in high}


def test_a_worker_serves_only_the_queues_it_is_given(app: zart.Zart) -> None:
    handle = app.start(narrow_flow, 0)
    with app.worker(threads=2, lease=5.0, poll_interval=0.2, queues=["q-keyed"]):
        time.sleep(0.5)  # a worker serving another queue leaves it alone
        assert handle.status() == "pending"
    with app.worker(threads=2, lease=5.0, poll_interval=0.2, queues=[narrow]):
        assert handle.result(timeout=20) == "done"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"concurrency": 0}, "concurrency"),
    ({"per_key": -1}, "per_key"),
    ({"rate": (0, "1s")}, "rate"),
    ({"rate": (5, "0s")}, "period"),
    ({"rate": 5}, "rate"),
])
def test_bad_queue_limits_are_refused_naming_them(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(zart.ConfigurationError, match=message):
        zart.Queue("q-bad", **kwargs)


def test_a_key_without_a_queue_is_refused(app: zart.Zart) -> None:
    with pytest.raises(zart.ConfigurationError, match="no queue"):
        app.start("q-work-unqueued", None, key="x")


@zart.workflow("q-work-unqueued")
def unqueued(data: Any) -> Any:
    yield zart.sleep("q-nap", 0)


GATE = threading.Event()
single = zart.Queue("q-single", concurrency=1)


@zart.step("q-held")
def held() -> str:
    GATE.wait(20)
    return "done"


@zart.workflow("q-single-flow", queue=single)
def single_flow(data: Any) -> Any:
    return (yield held())


def test_describe_says_which_queue_limit_holds_a_due_execution_back(app: zart.Zart) -> None:
    GATE.clear()
    with app.worker(threads=2, lease=5.0, poll_interval=0.2, workflows=["q-single-flow"]):
        first = app.start(single_flow, None)
        wait_until(lambda: first.status() == "running", what="the first execution to run")
        second = app.start(single_flow, None)
        waiting = second.describe().waiting
        assert (waiting.state, second.status()) == ("queued", "pending")
        assert "queued in 'q-single': 1 of its 1 running at once already" in waiting.text
        GATE.set()
        assert second.result(timeout=20) == "done"


once_an_hour = zart.Queue("q-once-an-hour", rate=(1, "1h"))
BUSY = threading.Event()


@zart.step("q-busy")
def busy() -> str:
    BUSY.wait(20)
    return "done"


@zart.workflow("q-rated-napper", queue=once_an_hour)
def rated_napper(data: Any) -> Any:
    yield zart.sleep("q-rated-nap", 0.3)
    return "woke"


@zart.workflow("q-busy-flow")
def busy_flow(data: Any) -> Any:
    return (yield busy())


def test_describe_never_blames_the_rate_limit_for_an_execution_that_already_started(
        app: zart.Zart) -> None:
    # The rate limit counts starts only: a started execution due again (its sleep is over)
    # is claimed whatever the tokens left; here it waits for the worker's one busy thread.
    BUSY.clear()
    with app.worker(threads=1, lease=5.0, poll_interval=0.2,
                    workflows=["q-rated-napper", "q-busy-flow"]):
        try:
            napper = app.start(rated_napper, None)  # spends the hour's one start
            wait_until(lambda: napper.describe().waiting.state == "sleeping",
                       what="the napper to sleep")
            blocker = app.start(busy_flow, None)
            wait_until(lambda: blocker.status() == "running", what="the thread to be busy")
            waiting = wait_until(lambda: (w := napper.describe().waiting).state != "sleeping"
                                 and w, what="the napper's sleep to be over")
            assert "rate limit" not in waiting.text
            assert waiting.state == "due" and "will claim it" in waiting.text
        finally:
            BUSY.set()
        assert napper.result(timeout=20) == "woke"


first_come = zart.Queue("q-first-come", rate=(2, "1h"))


@zart.workflow("q-first-come-flow", queue=first_come)
def first_come_flow(data: Any) -> Any:
    return (yield work("q-first-come", None, 0))


def test_a_rate_limited_queue_first_seen_by_a_start_still_has_its_full_bucket(
        app: zart.Zart) -> None:
    # Started before any worker stored the queue's limits (a client deployed first): the
    # start creates the queue's row; the worker's limits then must not leave it without
    # tokens for a whole period.
    handles = [app.start(first_come_flow, None) for _ in range(2)]
    with app.worker(threads=2, lease=5.0, poll_interval=0.2, workflows=["q-first-come-flow"]):
        assert [h.result(timeout=20) for h in handles] == ["done", "done"]


brisk = zart.Queue("q-brisk", rate=(10, "1s"))  # a token every 0.1 s


def test_an_idle_worker_serving_an_empty_rate_limited_queue_does_not_look_at_every_token(
        app: zart.Zart) -> None:
    # Looking again as tokens refill is for due work the rate holds back; an empty queue
    # made a claim round every 0.1 s, forever.
    worker = app.worker(threads=1, poll_interval=5, queues=[brisk], workflows=[])
    rounds = [0]
    original = worker.store.claim_executions

    def counting(*args: Any, **kwargs: Any) -> Any:
        rounds[0] += 1
        return original(*args, **kwargs)

    worker.store.claim_executions = counting  # type: ignore[method-assign]
    with worker:
        threading.Event().wait(1.0)
        looked = rounds[0]
    assert looked <= 3, looked
