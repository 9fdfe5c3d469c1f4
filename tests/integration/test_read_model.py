"""Schema version 2 records what inspection reads, with no second statement on the hot path:
when each step started and ended, every failed attempt, what a waiting execution waits on
(typed), and the live workers, kept by their heartbeat."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import zart
from zart.constants import WaitKind

from .conftest import run_due, wait_until


@zart.step("rm-slow")
def slow() -> str:
    time.sleep(0.2)
    return "slow"


@zart.step("rm-flaky", retry=zart.fixed(2, 0))
def flaky() -> str:
    if zart.context().attempt < 3:
        raise ConnectionError(f"attempt {zart.context().attempt} failed")
    return "third time"


@zart.workflow("rm-flow")
def flow(data: Any) -> Any:
    a = yield slow()
    b = yield flaky()
    return [a, b]


def test_an_inline_step_records_when_it_started_and_ended(app: zart.Zart, sql: Any,
                                                          schema: str) -> None:
    handle = app.start(flow, None)
    with app.worker(threads=1, lease=5.0, poll_interval=0.2):
        assert handle.result(timeout=20) == ["slow", "third time"]
    [(seconds,)] = sql(f"SELECT EXTRACT(EPOCH FROM finished_at - started_at) "
                       f'FROM "{schema}".steps WHERE execution_id = %s AND name = %s',
                       handle.id, "rm-slow")
    assert 0.2 <= float(seconds) < 5


def test_every_failed_attempt_is_kept_with_its_error_and_traceback(app: zart.Zart, sql: Any,
                                                                   schema: str) -> None:
    handle = app.start(flow, None)
    with app.worker(threads=1, lease=5.0, poll_interval=0.2):
        handle.result(timeout=20)
    attempts = sql(f'SELECT attempt, run, error->>\'message\', error->>\'traceback\' '
                   f'FROM "{schema}".step_attempts WHERE execution_id = %s ORDER BY attempt',
                   handle.id)
    assert [(a, run, message) for a, run, message, _ in attempts] == [
        (1, 1, "attempt 1 failed"), (2, 1, "attempt 2 failed")]
    assert all("ConnectionError" in trace for *_, trace in attempts)


@zart.workflow("rm-waits")
def waits(data: Any) -> Any:
    yield zart.sleep("rm-nap", "1h")
    yield zart.wait_for_event("rm-go")
    return "woken"


def wait_state(sql: Any, schema: str, execution_id: str) -> tuple[Any, ...]:
    return tuple(sql(f'SELECT status, wait_kind, waiting_for FROM "{schema}".executions '
                     f"WHERE id = %s", execution_id)[0])


def test_a_waiting_execution_says_what_it_waits_on(app: zart.Zart, sql: Any,
                                                   schema: str) -> None:
    handle = app.start(waits, None)
    run_due(app, "rm-waits")
    assert wait_state(sql, schema, handle.id) == ("waiting", WaitKind.SLEEP, None)
    app.store.shift_clock(3601)
    run_due(app, "rm-waits")
    assert wait_state(sql, schema, handle.id) == ("waiting", WaitKind.EVENT, "rm-go")
    app.send_event(handle.id, "rm-go")
    assert wait_state(sql, schema, handle.id) == ("pending", None, None)
    run_due(app, "rm-waits")
    assert handle.result(timeout=5) == "woken"


@zart.step("rm-retry-later", retry=zart.fixed(1, "1h"))
def retry_later() -> str:
    if zart.context().attempt == 1:
        raise ValueError("not yet")
    return "done"


@zart.workflow("rm-retrying")
def retrying(data: Any) -> Any:
    return (yield retry_later())


def test_a_step_waiting_for_its_retry_is_named(app: zart.Zart, sql: Any, schema: str) -> None:
    handle = app.start(retrying, None)
    run_due(app, "rm-retrying")
    assert wait_state(sql, schema, handle.id) == ("waiting", WaitKind.RETRY, "rm-retry-later")
    app.store.shift_clock(3601)
    run_due(app, "rm-retrying")
    assert handle.result(timeout=5) == "done"


def test_a_worker_registers_itself_and_its_heartbeat_keeps_its_row(
        app: zart.Zart, sql: Any, schema: str) -> None:
    worker = app.worker(threads=2, lease=1.0, poll_interval=0.2)
    with worker:
        row = wait_until(lambda: sql(
            f'SELECT name, host, pid, threads, version, workflows, stopped_at, heartbeat_at '
            f'FROM "{schema}".workers WHERE id = %s', worker.info.id), what="the worker's row")
        name, host, pid, threads, version, workflows, stopped, first_beat = row[0]
        assert (name, host, pid, threads, version) == (
            worker.name, socket.gethostname(), os.getpid(), 2, zart.__version__)
        assert "rm-flow" in workflows and stopped is None
        wait_until(lambda: sql(f'SELECT heartbeat_at > %s FROM "{schema}".workers '
                               f"WHERE id = %s", first_beat, worker.info.id) == [(True,)],
                   what="a later heartbeat")
    [(stopped,)] = sql(f'SELECT stopped_at FROM "{schema}".workers WHERE id = %s',
                       worker.info.id)
    assert stopped is not None


def test_a_claim_records_its_worker_and_when(app: zart.Zart, sql: Any, schema: str) -> None:
    handle = app.start(waits, None)
    worker = app.worker(threads=1, lease=1.0, poll_interval=0.2)
    with worker:
        wait_until(lambda: wait_state(sql, schema, handle.id)[0] == "waiting",
                   what="the sleep")
    [(worker_id, claimed_at)] = sql(f'SELECT worker_id, claimed_at FROM "{schema}".executions '
                                    f"WHERE id = %s", handle.id)
    assert worker_id == worker.info.id and claimed_at is not None
    app.cancel(handle.id)
