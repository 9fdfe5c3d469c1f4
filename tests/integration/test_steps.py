"""Steps: run once, checkpointed once, retried, timed out, transactional; workflow retries and
timeouts; the first run sees exactly what a replay sees."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

import zart
from zart.interpreter import Interpreter, Returned
from zart.runtime.executor import Executor

from .conftest import run_due, wait_until

RAN: dict[str, int] = {}
RELEASE = threading.Event()


def ran(key: str) -> int:
    RAN[key] = RAN.get(key, 0) + 1
    return RAN[key]


@zart.step("steps-noop-{i}")
def noop(i: int) -> int:
    ran(f"noop-{i}")
    return i


@zart.workflow("steps-five")
def five(data: Any) -> Any:
    total = 0
    for i in range(5):
        total += yield noop(i)
    return total


@zart.step("steps-shape")
def shape() -> Any:
    ran("shape")
    return {"tuple": (1, 2), "nested": {"z": 1, "a": [1.5, None]}}


@zart.workflow("steps-decoded")
def decoded(data: Any) -> Any:
    first = yield shape()
    yield zart.sleep("steps-decoded-nap", "1h")  # forces a replay on resume
    return {"seen": first, "is_list": isinstance(first["tuple"], list)}


@zart.step("steps-flaky", retry=zart.fixed(3, 0))
def flaky(key: str, failures: int) -> dict[str, int]:
    ctx = zart.context()
    ran(key)
    if ctx.attempt <= failures:
        raise ConnectionError(f"attempt {ctx.attempt} failed")
    return {"attempt": ctx.attempt, "max": ctx.max_attempts}


@zart.workflow("steps-retrying")
def retrying(data: Any) -> Any:
    try:
        return (yield flaky(data["key"], data["failures"]))
    except zart.StepFailed as exc:
        return {"failed": exc.error_type, "attempts": exc.attempts, "message": exc.message}


@zart.step("steps-slow", timeout="200ms", timeout_scope="per_attempt", retry=zart.fixed(1, 0))
def slow() -> str:
    ran("slow")
    RELEASE.wait(30)
    return "late"


@zart.workflow("steps-timeout")
def timing_out(data: Any) -> Any:
    try:
        return (yield slow())
    except zart.StepTimeout as exc:
        return {"timeout": exc.error_type, "attempts": exc.attempts}


@zart.step("steps-ledger", transactional=True)
def write_ledger(amount: int, fail: bool) -> int:
    conn = zart.context().connection
    assert conn is not None
    conn.execute("INSERT INTO steps_ledger (amount) VALUES (%s)", (amount,))
    if fail:
        raise ValueError("declined after writing")
    return amount


@zart.workflow("steps-transactional")
def transactional(data: Any) -> Any:
    try:
        return (yield write_ledger(data["amount"], data["fail"]))
    except zart.StepFailed as exc:
        return {"failed": exc.message}


@zart.step("steps-body-guard")
def guard() -> str:
    ran("guard")
    return "ok"


@zart.workflow("steps-body-retry", retry=zart.fixed(2, 0))
def body_retry(data: Any) -> Any:
    yield guard()
    if zart.context().attempt < 2:
        raise RuntimeError("the body failed on its first attempt")
    return {"attempt": zart.context().attempt}


@zart.step("steps-fails-once")
def fails_once() -> str:
    if ran("fails-once") == 1:
        raise KeyError("first time")
    return "second time"


@zart.workflow("steps-step-then-body-retry", retry=zart.fixed(1, 0))
def step_then_body_retry(data: Any) -> Any:
    yield guard()
    return (yield fails_once())


@zart.workflow("steps-always-fails", retry=zart.fixed(1, 0))
def always_fails(data: Any) -> Any:
    yield guard()
    raise RuntimeError(f"attempt {zart.context().attempt} failed too")


@zart.workflow("steps-deadline", timeout="1h")
def with_deadline(data: Any) -> Any:
    yield zart.sleep("steps-deadline-nap", "2h")
    return "too late"


@zart.workflow("steps-context")
def with_context(data: Any) -> Any:
    ctx = zart.context()
    now = yield zart.now("steps-context-now")
    picked = yield zart.capture("steps-context-pick", lambda: ran("pick"))
    return {"id": ctx.execution_id, "workflow": ctx.workflow, "data": ctx.data,
            "attempt": ctx.attempt, "year": now.year, "picked": picked}


def test_each_step_runs_once_and_is_checkpointed_once(app: zart.Zart, worker: zart.Worker,
                                                      sql: Any, schema: str) -> None:
    handle = app.start(five, None)
    assert handle.result(timeout=15) == 0 + 1 + 2 + 3 + 4
    assert all(RAN[f"noop-{i}"] == 1 for i in range(5))
    rows = sql(f'SELECT seq, name, status, ok FROM "{schema}".steps WHERE execution_id = %s '
               f"ORDER BY seq", handle.id)
    assert rows == [(i, f"steps-noop-{i}", "done", True) for i in range(5)]


class CountingConnection(psycopg.Connection[Any]):
    """Counts the statements, round trips and explicit transactions a worker sends.

    ``statements`` holds the first word of each statement sent through ``execute``;
    ``round_trips`` counts every exchange with the server, including the checkpoint's raw
    prepared statement, which bypasses ``execute`` (zart.store.prepared).
    """

    statements: list[str]
    round_trips: int
    transactions: int

    def reset_counts(self) -> None:
        self.statements, self.round_trips, self.transactions = [], 0, 0

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        text = query.decode() if isinstance(query, bytes) else str(query)
        self.statements.append(text.split()[0])
        return super().execute(query, params, **kwargs)

    def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        self.round_trips += 1
        return super().wait(gen, *args, **kwargs)

    def transaction(self, *args: Any, **kwargs: Any) -> Any:
        self.transactions += 1
        return super().transaction(*args, **kwargs)


def test_a_k_step_workflow_costs_one_statement_per_step_and_no_replay(app: zart.Zart,
                                                                      dsn: str) -> None:
    with CountingConnection.connect(dsn, autocommit=True) as conn:
        conn.reset_counts()
        warm = app.start(five, None)  # the first run on a connection prepares the checkpoint
        [claim] = app.store.claim_executions(["steps-five"], 1, 30)
        Executor(app.store).run_execution(claim, conn)
        assert warm.result(timeout=5) == 10
        assert conn.round_trips == 5 + 1 + 1  # + the one PREPARE

        handle = app.start(five, None)
        [claim] = app.store.claim_executions(["steps-five"], 1, 30)
        conn.reset_counts()
        Executor(app.store).run_execution(claim, conn)
        # 5 fenced checkpoints (each one autocommit statement, prepared) and the completion;
        # a fresh execution has no history to load. (Read before the block ends: closing
        # the connection is a round trip of its own.)
        assert conn.round_trips == 5 + 1
        assert conn.statements == ["WITH"]  # the completion; the checkpoints went prepared
        assert conn.transactions == 0
    assert handle.result(timeout=5) == 10


@zart.workflow("steps-nap")
def nap(data: Any) -> Any:
    yield zart.sleep("steps-nap-sleep", "1h")
    return "rested"


@zart.workflow("steps-await")
def awaiting(data: Any) -> Any:
    got = yield zart.wait_for_event("steps-await-go", timeout="1h")
    return got


def _resume_counted(app: zart.Zart, dsn: str, workflow: str) -> CountingConnection:
    """Claim the execution of ``workflow`` that is due and run it on a counting connection."""
    [claim] = app.store.claim_executions([workflow], 1, 30)
    with CountingConnection.connect(dsn, autocommit=True) as conn:
        conn.reset_counts()
        Executor(app.store).run_execution(claim, conn)
    return conn


def test_a_due_sleep_resumes_with_one_statement_not_a_reschedule_and_a_checkpoint(
        app: zart.Zart, dsn: str, sql: Any, schema: str) -> None:
    handle = app.start(nap, None)
    run_due(app, "steps-nap")
    assert handle.status() == "waiting"
    assert app.store.claim_executions(["steps-nap"], 1, 30) == []  # not due yet
    app.store.shift_clock(2 * 3600)
    conn = _resume_counted(app, dsn, "steps-nap")
    # the history, the sleep recorded done (one fenced statement), the completion
    assert conn.statements == ["SELECT", "WITH", "WITH"]
    assert conn.transactions == 0
    assert handle.result(timeout=5) == "rested"
    assert sql(f'SELECT kind, status, ok, value::text FROM "{schema}".steps '
               f"WHERE execution_id = %s", handle.id) == [("sleep", "done", True, "null")]


def test_an_arrived_event_resumes_with_one_statement_taking_its_payload(
        app: zart.Zart, dsn: str, sql: Any, schema: str) -> None:
    handle = app.start(awaiting, None)
    run_due(app, "steps-await")
    assert handle.status() == "waiting"
    app.send_event(handle.id, "steps-await-go", {"approved": True, "by": "ada"})
    conn = _resume_counted(app, dsn, "steps-await")
    assert conn.statements == ["SELECT", "WITH", "WITH"]
    assert conn.transactions == 0
    assert handle.result(timeout=5) == {"approved": True, "by": "ada"}
    assert sql(f'SELECT kind, status, ok, value::text FROM "{schema}".steps '
               f"WHERE execution_id = %s", handle.id) == [
        ("event", "done", True, '{"approved":true,"by":"ada"}')]


def test_an_event_wait_woken_by_its_timeout_takes_the_general_path_and_times_out(
        app: zart.Zart, dsn: str) -> None:
    handle = app.start(awaiting, None)
    run_due(app, "steps-await")
    app.store.shift_clock(2 * 3600)
    conn = _resume_counted(app, dsn, "steps-await")
    assert conn.statements[:2] == ["SELECT", "WITH"]  # history, the one-statement try
    assert conn.transactions == 1  # then the general path's transaction
    with pytest.raises(zart.WorkflowFailed, match="EventTimeout"):
        handle.result(timeout=5)


def test_the_first_run_receives_the_decoded_stored_form_like_a_replay(
        app: zart.Zart, worker: zart.Worker) -> None:
    handle = app.start(decoded, None)
    wait_until(lambda: handle.status() == "waiting", what="the sleep")
    app.store.shift_clock(2 * 3600)
    worker._wake.set()
    result = handle.result(timeout=15)
    assert result["is_list"] is True  # the tuple arrived as the list a replay decodes
    assert result["seen"] == {"tuple": [1, 2], "nested": {"z": 1, "a": [1.5, None]}}
    assert list(result["seen"]["nested"]) == ["z", "a"]  # key order kept (json, not jsonb)
    assert RAN["shape"] == 1


def test_the_first_run_and_a_replay_of_the_same_history_receive_equal_values(
        app: zart.Zart, worker: zart.Worker) -> None:
    handle = app.start(five, None)
    handle.result(timeout=15)
    history = app.store.load_history(handle.id)
    outcome = Interpreter(five(None), history).start()
    assert isinstance(outcome, Returned) and outcome.value == handle.result()


@pytest.mark.parametrize(("failures", "expected"), [
    (0, {"attempt": 1, "max": 4}),
    (2, {"attempt": 3, "max": 4}),
    (4, {"failed": "ConnectionError", "attempts": 4, "message": "attempt 4 failed"}),
])
def test_step_retries_count_attempts_and_exhaustion_raises_step_failed_at_the_yield(
        app: zart.Zart, worker: zart.Worker, failures: int, expected: Any) -> None:
    key = f"flaky-{failures}"
    handle = app.start(retrying, {"key": key, "failures": failures})
    assert handle.result(timeout=15) == expected
    assert RAN[key] == min(failures + 1, 4)


def test_a_timed_out_attempt_is_abandoned_and_its_late_result_never_recorded(
        app: zart.Zart, worker: zart.Worker, sql: Any, schema: str) -> None:
    RELEASE.clear()
    handle = app.start(timing_out, None)
    try:
        assert handle.result(timeout=15) == {"timeout": "StepTimeout", "attempts": 2}
        assert RAN["slow"] == 2  # per_attempt: the retry got a fresh timeout
    finally:
        RELEASE.set()
    rows = sql(f'SELECT ok, error->>\'kind\' FROM "{schema}".steps WHERE execution_id = %s',
               handle.id)
    assert rows == [(False, "StepTimeout")]


@pytest.fixture
def ledger(dsn: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS steps_ledger (amount int)")
        conn.execute("TRUNCATE steps_ledger")
    yield
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE steps_ledger")


def test_a_transactional_step_commits_its_writes_with_its_checkpoint(
        app: zart.Zart, worker: zart.Worker, ledger: None, sql: Any) -> None:
    handle = app.start(transactional, {"amount": 42, "fail": False})
    assert handle.result(timeout=15) == 42
    assert sql("SELECT amount FROM steps_ledger") == [(42,)]


def test_a_failing_transactional_step_rolls_its_writes_back(
        app: zart.Zart, worker: zart.Worker, ledger: None, sql: Any) -> None:
    handle = app.start(transactional, {"amount": 7, "fail": True})
    assert handle.result(timeout=15) == {"failed": "declined after writing"}
    assert sql("SELECT amount FROM steps_ledger") == []


def test_a_fenced_out_transactional_step_rolls_its_writes_back(
        app: zart.Zart, ledger: None, sql: Any, dsn: str) -> None:
    handle = app.start(transactional, {"amount": 9, "fail": False})
    [claim] = app.store.claim_executions(["steps-transactional"], 1, 30)
    app.cancel(handle.id)  # the claim's fence no longer holds
    with psycopg.connect(dsn, autocommit=True) as conn:
        Executor(app.store).run_execution(claim, conn)
    assert sql("SELECT amount FROM steps_ledger") == []
    assert handle.status() == "cancelled"


def test_a_workflow_retry_replays_completed_steps_instead_of_running_them(
        app: zart.Zart, worker: zart.Worker) -> None:
    before = RAN.get("guard", 0)
    handle = app.start(body_retry, None)
    assert handle.result(timeout=15) == {"attempt": 2}
    assert RAN["guard"] == before + 1


def test_a_workflow_retry_runs_again_the_step_whose_failure_ended_the_body(
        app: zart.Zart, worker: zart.Worker) -> None:
    before = RAN.get("guard", 0)
    handle = app.start(step_then_body_retry, None)
    assert handle.result(timeout=15) == "second time"
    assert RAN["fails-once"] == 2
    assert RAN["guard"] == before + 1


def test_a_body_that_exhausts_its_retries_fails_with_the_cause(
        app: zart.Zart, worker: zart.Worker) -> None:
    handle = app.start(always_fails, None)
    with pytest.raises(zart.WorkflowFailed) as failure:
        handle.result(timeout=15)
    assert failure.value.cause_type == "RuntimeError"
    assert failure.value.cause_message == "attempt 2 failed too"
    assert handle.status() == "failed"


def test_the_workflow_timeout_fails_an_execution_still_sleeping_past_it(
        app: zart.Zart, worker: zart.Worker) -> None:
    handle = app.start(with_deadline, None)
    wait_until(lambda: handle.status() == "waiting", what="the sleep")
    app.store.shift_clock(3700)
    worker._wake.set()
    with pytest.raises(zart.WorkflowFailed) as failure:
        handle.result(timeout=15)
    assert failure.value.cause_type == "WorkflowTimeout"


def test_context_and_captured_values_are_visible_in_the_body(app: zart.Zart,
                                                             worker: zart.Worker) -> None:
    handle = app.start(with_context, {"who": "me"}, id="steps-ctx-1")
    result = handle.result(timeout=15)
    assert result["id"] == "steps-ctx-1" and result["workflow"] == "steps-context"
    assert result["data"] == {"who": "me"} and result["attempt"] == 1
    assert result["year"] >= 2024 and result["picked"] == RAN["pick"]


# -- errors keep what users need (issue 8, item 4) ----------------------------------------------

class CardDeclined(Exception):
    """A business error with attributes the workflow wants."""

    def __init__(self, message: str, code: str, amount: float) -> None:
        super().__init__(message)
        self.code = code
        self.amount = amount
        self.gateway = object()  # not JSON: left out, the rest kept


@zart.step("steps-declined", retry=zart.fixed(3, 0, non_retryable=(CardDeclined,)))
def declined() -> str:
    ran("declined")
    raise CardDeclined("card declined", code="insufficient_funds", amount=9.5)


@zart.workflow("steps-declined-flow")
def declined_flow(data: Any) -> Any:
    try:
        yield declined()
    except zart.StepFailed as exc:
        if data == "reraise":
            raise
        return {"type": exc.error_type, "module": exc.error_module, "attrs": exc.attributes,
                "attempts": exc.attempts, "has_trace": "CardDeclined" in (exc.traceback or "")}
    return "charged"


def test_a_step_error_keeps_type_module_message_traceback_and_attributes(
        app: zart.Zart, worker: zart.Worker) -> None:
    RAN.pop("declined", None)
    handle = app.start(declined_flow, None)
    assert handle.result(timeout=15) == {
        "type": "CardDeclined", "module": __name__,
        "attrs": {"code": "insufficient_funds", "amount": 9.5}, "attempts": 1,
        "has_trace": True}
    assert RAN["declined"] == 1  # non_retryable: failed at once, three retries unused


def test_a_workflow_failed_by_a_step_error_exposes_it(app: zart.Zart,
                                                     worker: zart.Worker) -> None:
    handle = app.start(declined_flow, "reraise")
    with pytest.raises(zart.WorkflowFailed) as failure:
        handle.result(timeout=15)
    assert (failure.value.cause_type, failure.value.cause_module) == ("CardDeclined", __name__)
    assert failure.value.attributes == {"code": "insufficient_funds", "amount": 9.5}
    assert "card declined" in (failure.value.traceback or "")


@zart.step("steps-gives-up", retry=zart.fixed(5, 0))
def gives_up() -> str:
    ran("gives-up")
    raise zart.NonRetryableError("the account is closed: no retry can help")


@zart.workflow("steps-gives-up-flow")
def gives_up_flow(data: Any) -> Any:
    try:
        return (yield gives_up())
    except zart.StepFailed as exc:
        return [exc.error_type, exc.attempts]


def test_a_step_raising_non_retryable_error_is_not_retried(app: zart.Zart,
                                                          worker: zart.Worker) -> None:
    RAN.pop("gives-up", None)
    handle = app.start(gives_up_flow, None)
    assert handle.result(timeout=15) == ["NonRetryableError", 1]
    assert RAN["gives-up"] == 1


@zart.workflow("steps-event-timeout-message")
def event_timeout_message(data: Any) -> Any:
    try:
        yield zart.wait_for_event("steps-never", timeout=0)
    except zart.EventTimeout as exc:
        return str(exc)
    return "arrived"


def test_an_event_timeout_is_not_described_as_a_failed_attempt(app: zart.Zart,
                                                              worker: zart.Worker) -> None:
    message = app.start(event_timeout_message, None).result(timeout=15)
    assert "attempt" not in message and "steps-never" in message and "did not arrive" in message
