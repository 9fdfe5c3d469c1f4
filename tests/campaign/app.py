"""The campaign's workflows and steps, imported by the worker and racer subprocesses (and by
the campaign process, which starts the executions).

Two workflows interpret the operations in their input (see ``plan.py``): ``cmp-flow`` and
``cmp-wretry``, the same body under a workflow-level retry. Every step records its run in the
ledger first (``ledger.record_run``). Deliberate failures raise :class:`InjectedFailure`,
decided by the input and the attempt only, so the model can tell which attempt succeeds. The
body catches only the errors the model expects at each operation; anything else (a cancelled
statement recorded as a step failure, say) fails the execution, which check 6 reports.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator
from typing import Any

import zart

from .config import EVIDENCE_SCHEMA
from .ledger import record_run
from .model import INJECTED, NO_EVENT_MARK, TIMEOUT_MARK, mix, start_acc
from .plan import FLOW, RETRYING, WORKFLOW_ATTEMPTS

FAST_TIMEOUT = "3s"       # fast timed steps take at most 0.15 s: only a fault times them out
SLOW_TIMEOUT = "300ms"    # slow timed steps take 1 s: they always time out
SLOW_STEP = 1.0
RETRY = zart.fixed(3, "100ms")
CHILD_RETRY = zart.fixed(1, "100ms")

BIZ_INSERT = (f"INSERT INTO {EVIDENCE_SCHEMA}.biz (eid, step, value, attempt) "
              f"VALUES (%s, %s, %s, %s)")


class InjectedFailure(Exception):
    """A deliberate step failure."""


def _business_write(value: int) -> None:
    """The transactional steps' write: one row through the checkpoint's own transaction."""
    ctx = zart.context()
    assert ctx.connection is not None, "a transactional step runs with a connection"
    _own_sql(ctx.connection, BIZ_INSERT, (ctx.execution_id, ctx.step, value, ctx.attempt))


def _own_sql(conn: Any, statement: Any, params: Any) -> None:
    """Run a statement of the step's own, out of reach of the nemesis's statement timeouts.

    By zart's semantics a statement timeout on a step's own SQL is that step's failure (its
    query was too slow; its retry policy decides), while a cancel from outside
    (``pg_cancel_backend``) is an infrastructure fault, handed back and run again. The
    campaign aims its statement timeouts at zart's own statements; the cancels reach both.
    """
    conn.execute("SET LOCAL statement_timeout = 0")
    conn.execute(statement, params)
    conn.execute("SET LOCAL statement_timeout = DEFAULT")


def _fail_until(fails: int) -> None:
    if zart.context().attempt <= fails:
        raise InjectedFailure(f"injected failure on attempt {zart.context().attempt}")


# -- steps -------------------------------------------------------------------------------------

@zart.step("p-{i}")
def plain(acc: int, i: int, ms: int) -> int:
    record_run()
    time.sleep(ms / 1000)
    return mix(acc, i, "p")


@zart.step("x-{i}", transactional=True)
def tx(acc: int, i: int, ms: int, pg: bool) -> int:
    record_run()
    value = mix(acc, i, "x")
    _business_write(value)
    conn = zart.context().connection
    if pg and conn is not None:
        _own_sql(conn, "SELECT pg_sleep(%s)", (ms / 1000,))   # 'active' inside the transaction
    else:
        time.sleep(ms / 1000)                               # 'idle in transaction'
    return value


def _timed_body(acc: int, i: int, ms: int, variant: str, transactional: bool) -> int:
    record_run()
    value = mix(acc, i, variant)
    if transactional:
        _business_write(value)
    slow = variant in ("ts", "txs") or (variant == "tp" and zart.context().attempt == 1)
    time.sleep(SLOW_STEP if slow else ms / 1000)
    return value


@zart.step("tf-{i}", timeout=FAST_TIMEOUT)
def timed_fast(acc: int, i: int, ms: int) -> int:
    return _timed_body(acc, i, ms, "tf", False)


@zart.step("ts-{i}", timeout=SLOW_TIMEOUT)
def timed_slow(acc: int, i: int, ms: int) -> int:
    return _timed_body(acc, i, ms, "ts", False)


@zart.step("txf-{i}", timeout=FAST_TIMEOUT, transactional=True)
def timed_tx_fast(acc: int, i: int, ms: int) -> int:
    return _timed_body(acc, i, ms, "txf", True)


@zart.step("txs-{i}", timeout=SLOW_TIMEOUT, transactional=True)
def timed_tx_slow(acc: int, i: int, ms: int) -> int:
    return _timed_body(acc, i, ms, "txs", True)


@zart.step("tp-{i}", timeout="500ms", timeout_scope="per_attempt", retry=zart.fixed(2, "100ms"))
def timed_per_attempt(acc: int, i: int, ms: int) -> int:
    return _timed_body(acc, i, ms, "tp", False)


TIMED = {"tf": timed_fast, "ts": timed_slow, "txf": timed_tx_fast, "txs": timed_tx_slow,
         "tp": timed_per_attempt}


@zart.step("r-{i}", retry=RETRY)
def retried(acc: int, i: int, fails: int) -> int:
    record_run()
    _fail_until(fails)
    return mix(acc, i, "r")


@zart.step("rx-{i}", retry=RETRY, transactional=True)
def retried_tx(acc: int, i: int, fails: int) -> int:
    record_run()
    value = mix(acc, i, "r")
    _business_write(value)   # written, then rolled back by the failure on early attempts
    _fail_until(fails)
    return value


@zart.step("c-{i}-{j}", retry=CHILD_RETRY)
def child(acc: int, i: int, j: int, fails: int) -> int:
    record_run()
    time.sleep(0.02)
    _fail_until(fails)
    return mix(acc, i * 10 + j, "c")


@zart.step("cx-{i}-{j}", retry=CHILD_RETRY, transactional=True)
def child_tx(acc: int, i: int, j: int, fails: int) -> int:
    record_run()
    value = mix(acc, i * 10 + j, "c")
    _business_write(value)
    time.sleep(0.02)
    _fail_until(fails)
    return value


@zart.step("w-{i}")
def gate(acc: int, i: int, workflow_attempt: int, until: int) -> int:
    record_run()
    if workflow_attempt < until:
        raise InjectedFailure(f"injected failure on workflow attempt {workflow_attempt}")
    return mix(acc, i * 100 + workflow_attempt, "w")


@zart.step("d-{i}")
def doomed(acc: int, i: int) -> int:
    record_run()
    raise InjectedFailure("doomed")


def _token() -> str:
    return uuid.uuid4().hex


# -- the body -----------------------------------------------------------------------------------

def _parallel(op: dict[str, Any], acc: int) -> Generator[Any, Any, Any]:
    i = op["i"]
    children = [(child_tx if c["tx"] else child)(acc, i, j, c["f"])
                for j, c in enumerate(op["ch"])]
    try:
        results = yield zart.parallel(*children, return_exceptions=op["rex"])
    except zart.StepFailed as exc:
        if exc.error_type != INJECTED:
            raise
        return f"parfail:{exc.step}"
    out: list[Any] = []
    for r in results:
        if isinstance(r, zart.StepFailed):
            if r.error_type != INJECTED:
                raise r
            out.append(f"failed:{r.error_type}")
        else:
            out.append(r)
    return out


def run_ops(data: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    """Interpret ``data["ops"]``; the model (``model.expect``) says what this must return."""
    acc = start_acc(data["n"])
    trace: list[Any] = []
    for op in data["ops"]:
        k, i = op["k"], op["i"]
        if k == "plain":
            acc = yield plain(acc, i, op["ms"])
            trace.append(acc)
        elif k == "tx":
            acc = yield tx(acc, i, op["ms"], op["pg"])
            trace.append(acc)
        elif k == "timed":
            try:
                trace.append((yield TIMED[op["v"]](acc, i, op["ms"])))
            except zart.StepTimeout:
                trace.append(TIMEOUT_MARK)
        elif k == "retry":
            try:
                acc = yield (retried_tx if op["tx"] else retried)(acc, i, op["f"])
                trace.append(acc)
            except zart.StepFailed as exc:
                if exc.error_type != INJECTED:
                    raise
                trace.append(f"failed:{exc.error_type}")
        elif k == "par":
            trace.append((yield from _parallel(op, acc)))
        elif k == "sleep":
            yield zart.sleep(f"s-{i}", op["s"])
            trace.append("slept")
        elif k == "event":
            try:
                trace.append((yield zart.wait_for_event(f"e-{i}", timeout=op["t"])))
            except zart.EventTimeout:
                trace.append(NO_EVENT_MARK)
        elif k == "cap":
            trace.append((yield zart.capture(f"cap-{i}", _token)))
        elif k == "now":
            trace.append((yield zart.now(f"now-{i}")).isoformat())
        elif k == "wfail":
            acc = yield gate(acc, i, zart.context().attempt, op["u"])
            trace.append(acc)
        elif k == "bfail":
            if zart.context().attempt < op["u"]:
                raise InjectedFailure(f"body failure on attempt {zart.context().attempt}")
            trace.append("bfail-ok")
        elif k == "think":
            # The body takes its time between two commands (no trace entry): widens the
            # window in which a paused worker holds a checkpoint and has not started the
            # next step yet.
            time.sleep(op["ms"] / 1000)
        elif k == "doom":
            yield doomed(acc, i)
    return {"trace": trace, "acc": acc}


@zart.workflow(FLOW)
def flow(data: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    return (yield from run_ops(data))


@zart.workflow(RETRYING, retry=zart.fixed(WORKFLOW_ATTEMPTS - 1, "200ms"))
def flow_with_retry(data: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    return (yield from run_ops(data))


WORKFLOWS = {FLOW: flow, RETRYING: flow_with_retry}
