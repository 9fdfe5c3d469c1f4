"""Workflows that both the released zart v1 (git ``01baf79``, run in subprocesses) and the
current code (the test process) import, for ``test_upgrade.py``.

Only the public API both versions share is used here (``zart.workflow``, ``zart.step``,
``zart.sleep``, ``zart.wait_for_event``, ``zart.parallel``, ``zart.fixed``, ``zart.context``,
``zart.EventTimeout``, ``zart.Zart``, ``app.start``, ``app.send_event``, ``app.worker``), and
the module is imported under the same path, ``tests.integration.upgrade_v1_app``, by both, so
the workflow names, the step names and the ``module:qualname`` that v1 stores for parallel
children all match.

Every step records each real run in a ledger table of its own (``ZART_UPGRADE_LEDGER``, a
schema-qualified table) on its own autocommit connection, before doing anything else, with the
directory of the zart package that ran it. The ledger therefore counts runs independently of
the engine's checkpoints, including runs a SIGKILL cut short, and says which engine ran them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

import psycopg

import zart

PREFIX = "upgrade-v1"
"""Workflow and step names start with this, apart from the rest of the test suite's."""


def engine_dir() -> str:
    """The directory of the zart package running in this process (v1's or the current one)."""
    return os.path.dirname(os.path.realpath(zart.__file__))


def ledger_ddl(table: str) -> str:
    """The ledger table: one row per real run of a step."""
    return (f"CREATE TABLE IF NOT EXISTS {table} (execution_id text NOT NULL, "
            f"label text NOT NULL, engine text NOT NULL, "
            f"at timestamptz NOT NULL DEFAULT clock_timestamp())")


def record(label: str) -> int:
    """Record one run of the step ``label`` of the current execution; return how many runs it
    has had so far (across both engines), this one included."""
    table = os.environ["ZART_UPGRADE_LEDGER"]
    execution = zart.context().execution_id
    with psycopg.connect(os.environ["ZART_UPGRADE_DSN"], autocommit=True) as conn:
        conn.execute(f"INSERT INTO {table} (execution_id, label, engine) VALUES (%s, %s, %s)",
                     (execution, label, engine_dir()))
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE execution_id = %s "
                           f"AND label = %s", (execution, label)).fetchone()
    assert row is not None
    return int(row[0])


def stall_on_first_run(label: str) -> None:
    """Record the run; the first run of ``label`` hangs until its worker is SIGKILLed."""
    if record(label) == 1:
        time.sleep(600)


# -- steps -------------------------------------------------------------------------------


@zart.step(PREFIX + "-bump-{label}")
def bump(label: str, value: int, by: int) -> int:
    record(label)
    return value + by


@zart.step(PREFIX + "-explode-{label}")
def explode(label: str, value: int) -> int:
    record(label)
    raise ValueError(f"boom at {value}")


@zart.step(PREFIX + "-stall-{label}")
def stall(label: str, value: int) -> int:
    stall_on_first_run(label)
    return value * 2


# The first attempt fails; the retry is due 30 minutes later (by the database clock), so the
# execution (or, as a parallel child, the child) waits across the upgrade.
@zart.step(PREFIX + "-flaky-{label}", retry=zart.fixed(1, "30m"))
def flaky(label: str, value: int, by: int) -> int:
    if record(label) == 1:
        raise RuntimeError(f"first attempt of {label} fails")
    return value + by


# Parallel children: v1 stores their function as "module:qualname" in steps.fn.
@zart.step(PREFIX + "-child-{label}")
def child(label: str, value: int, by: int) -> int:
    record(label)
    return value + by


@zart.step(PREFIX + "-child-stall-{label}")
def child_stall(label: str, value: int, by: int) -> int:
    stall_on_first_run(label)
    return value + by


@zart.step(PREFIX + "-child-flaky-{label}", retry=zart.fixed(1, "30m"))
def child_flaky(label: str, value: int, by: int) -> int:
    return flaky.fn(label, value, by)


# -- workflows ---------------------------------------------------------------------------


@zart.workflow(PREFIX + "-linear")
def linear(data: Any) -> Any:
    a = yield bump("a", data["n"], 1)
    b = yield bump("b", a, 10)
    return {"n": data["n"], "value": b}


@zart.workflow(PREFIX + "-failing")
def failing(data: Any) -> Any:
    a = yield bump("a", data["n"], 1)
    yield explode("boom", a)  # StepFailed, unhandled: the execution fails
    return {"n": data["n"], "value": a}


@zart.workflow(PREFIX + "-sleeper")
def sleeper(data: Any) -> Any:
    a = yield bump("a", data["n"], 1)
    b = yield bump("b", a, 10)
    yield zart.sleep("nap", "1h")
    c = yield bump("c", b, 100)
    return {"n": data["n"], "value": c}


@zart.workflow(PREFIX + "-event")
def event(data: Any) -> Any:
    a = yield bump("a", data["n"], 1)
    payload = yield zart.wait_for_event("go")
    c = yield bump("c", a, payload["add"])
    return {"n": data["n"], "value": c, "payload": payload}


@zart.workflow(PREFIX + "-deadline")
def deadline(data: Any) -> Any:
    a = yield bump("a", data["n"], 1)
    try:
        payload = yield zart.wait_for_event("go", timeout="1h")
    except zart.EventTimeout:  # recorded like any outcome
        payload = None
    c = yield bump("c", a, 1000 if payload is None else payload["add"])
    return {"n": data["n"], "value": c, "timed_out": payload is None}


@zart.workflow(PREFIX + "-retrying")
def retrying(data: Any) -> Any:
    a = yield bump("a", data["n"], 1)
    b = yield flaky("b", a, 10)
    return {"n": data["n"], "value": b}


@zart.workflow(PREFIX + "-killed")
def killed(data: Any) -> Any:
    a = yield bump("a", data["n"], 1)
    b = yield stall("b", a)
    c = yield bump("c", b, 100)
    return {"n": data["n"], "value": c}


@zart.workflow(PREFIX + "-fanout")
def fanout(data: Any) -> Any:
    a = yield bump("a", data["n"], 1)
    children = yield zart.parallel(child("c0", a, 1), child("c1", a, 2),
                                   child_stall("c2", a, 3), child_flaky("c3", a, 4))
    d = yield bump("d", sum(children), 1000)
    return {"n": data["n"], "value": d, "children": children}


# -- the v1 side -------------------------------------------------------------------------


def main() -> None:
    """Driven by ``test_upgrade.py`` in a subprocess running zart v1.

    ``argv[1]`` is a JSON plan: ``{"start": [[id, workflow, data], ...], "events": [[id, name,
    payload], ...], "worker": {"threads": n, "lease": s} or null}``. Creates the schema (v1's
    ``zart.Zart``) and the ledger, starts the executions, sends the events, prints a JSON
    report, then runs the worker (if any) until killed.
    """
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    expected = os.path.join(os.path.realpath(os.environ["ZART_UPGRADE_V1_ROOT"]), "zart")
    # The whole point is to run the released code: refuse to run anything else.
    if engine_dir() != expected:
        sys.exit(f"imported zart from {engine_dir()}, not from {expected}")
    plan = json.loads(sys.argv[1])
    dsn = os.environ["ZART_UPGRADE_DSN"]
    app = zart.Zart(dsn, schema=os.environ["ZART_UPGRADE_SCHEMA"])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(ledger_ddl(os.environ["ZART_UPGRADE_LEDGER"]))
    started = [app.start(name, data, id=id).id for id, name, data in plan.get("start", [])]
    delivered = [app.send_event(id, name, payload) for id, name, payload in
                 plan.get("events", [])]
    print(json.dumps({"zart": zart.__file__, "started": started, "delivered": delivered}),
          flush=True)
    if plan.get("worker"):
        app.worker(threads=plan["worker"]["threads"], lease=plan["worker"]["lease"],
                   poll_interval=0.5).run()
    app.close()
