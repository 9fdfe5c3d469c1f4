"""Workflows that tests/faults/test_database.py runs in worker subprocesses while it restarts
their PostgreSQL under them (the test process imports this module too, to start them).

Every step records each of its runs in ``<schema>.effects`` on a connection of its own, so the
table shows every run, including runs whose checkpoint a restart prevented. That bookkeeping is
the test's, not zart's: it retries through a restart, so that a step never fails because of it
(zart would rightly record a step's own exception as the step's failure). The transactional
step writes ``<schema>.ledger`` through ``zart.context().connection``: its row must exist
exactly once per execution however many times a restart rolled the step back.

Run a worker with ``python -c "from tests.faults.db_app import main; main()" NAME THREADS
LEASE`` and ``ZART_TEST_DSN`` / ``ZART_TEST_SCHEMA`` set.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import psycopg

import zart

SLOW = 0.15  # seconds a slow step takes: long enough for a restart to land inside one


def effect(step: str) -> None:
    """Record one run of ``step`` for the current execution, retrying through a restart."""
    schema = os.environ["ZART_TEST_SCHEMA"]
    execution = zart.context().execution_id
    deadline = time.monotonic() + 120
    while True:
        try:
            with psycopg.connect(os.environ["ZART_TEST_DSN"], autocommit=True,
                                 connect_timeout=5) as conn:
                conn.execute(f'INSERT INTO "{schema}".effects (execution_id, step) '
                             f"VALUES (%s, %s)", (execution, step))
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# -- the busy workflow: four steps, two of them slow, one transactional -----------------------

@zart.step("db-add")
def add(n: int) -> int:
    effect("add")
    return n + 1


@zart.step("db-double")
def double(x: int) -> int:
    effect("double")
    time.sleep(SLOW)
    return x * 2


@zart.step("db-ledger", transactional=True)
def ledger(x: int) -> str:
    effect("ledger")
    ctx = zart.context()
    assert ctx.connection is not None
    schema = os.environ["ZART_TEST_SCHEMA"]
    ctx.connection.execute(f'INSERT INTO "{schema}".ledger (execution_id, amount) '
                           f"VALUES (%s, %s)", (ctx.execution_id, x))
    time.sleep(SLOW)  # the transaction stays open: a restart now must roll the write back
    return f"entry-{x}"


@zart.step("db-finish")
def finish(x: int, entry: str) -> str:
    effect("finish")
    time.sleep(SLOW)
    return f"{entry}/{x + 1}"


@zart.workflow("db-chain")
def chain(data: Any) -> Any:
    a = yield add(data["n"])
    b = yield double(a)
    entry = yield ledger(b)
    done = yield finish(b, entry)
    return {"n": data["n"], "a": a, "b": b, "entry": entry, "done": done}


CHAIN_STEPS = ["db-add", "db-double", "db-ledger", "db-finish"]


def chain_result(n: int) -> dict[str, Any]:
    """What ``chain({"n": n})`` must return."""
    a = n + 1
    b = a * 2
    return {"n": n, "a": a, "b": b, "entry": f"entry-{b}", "done": f"entry-{b}/{b + 1}"}


# -- the waiting workflow: a step, a long sleep on the DB clock, a step, an event, a step ------

@zart.step("db-prepare")
def prepare(n: int) -> int:
    effect("prepare")
    return n * 10


@zart.step("db-resume")
def resume(x: int) -> int:
    effect("resume")
    return x + 1


@zart.step("db-deliver")
def deliver(x: int, payload: Any) -> str:
    effect("deliver")
    return f"{payload['tag']}:{x}"


@zart.workflow("db-waiter")
def waiter(data: Any) -> Any:
    x = yield prepare(data["n"])
    yield zart.sleep("db-nap", "1h")
    y = yield resume(x)
    payload = yield zart.wait_for_event("db-go")
    z = yield deliver(y, payload)
    return {"n": data["n"], "x": x, "y": y, "z": z}


WAITER_HISTORY = [("step", "db-prepare"), ("sleep", "db-nap"), ("step", "db-resume"),
                  ("event", "db-go"), ("step", "db-deliver")]


def waiter_result(n: int) -> dict[str, Any]:
    """What ``waiter({"n": n})`` must return once it received ``{"tag": f"go-{n}"}``."""
    x = n * 10
    return {"n": n, "x": x, "y": x + 1, "z": f"go-{n}:{x + 1}"}




def main() -> None:
    """Run a worker for these workflows until SIGTERM (logs to stderr)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s "
                                                   "%(threadName)s %(message)s")
    name, threads, lease = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    worker = zart.Worker(os.environ["ZART_TEST_DSN"], os.environ["ZART_TEST_SCHEMA"],
                         threads=threads, lease=lease, poll_interval=0.5, name=name,
                         workflows=["db-chain", "db-waiter"])
    worker.run()


if __name__ == "__main__":
    main()
