"""Workflows that the crash tests run in worker subprocesses (and register in the test process).

Every step records its side effect in ``<schema>.effects`` on its own connection *before*
returning, so the table shows every run of a step, including runs whose checkpoint a crash
prevented.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import psycopg

import zart


def effect(step: str) -> int:
    """Record one run of ``step`` for the current execution; return how many runs it has had."""
    schema = os.environ["ZART_TEST_SCHEMA"]
    execution = zart.context().execution_id
    with psycopg.connect(os.environ["ZART_TEST_DSN"], autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{schema}".effects (execution_id, step) VALUES (%s, %s)',
                     (execution, step))
        row = conn.execute(f'SELECT count(*) FROM "{schema}".effects WHERE execution_id = %s '
                           f"AND step = %s", (execution, step)).fetchone()
    assert row is not None
    return int(row[0])


@zart.step("crash-charge")
def charge() -> str:
    effect("charge")
    return "txn-1"


@zart.step("crash-reserve")
def reserve() -> str:
    if effect("reserve") == 1:
        time.sleep(600)  # the first run hangs until the worker is killed
    return "reserved"


@zart.step("crash-receipt")
def receipt(txn: str) -> str:
    effect("receipt")
    return f"receipt for {txn}"


@zart.workflow("crash-order")
def order(data: Any) -> Any:
    txn = yield charge()
    reserved = yield reserve()
    note = yield receipt(txn)
    return {"txn": txn, "reserved": reserved, "note": note}


def main() -> None:
    """Run a worker for these workflows until killed (logs to stderr)."""
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    app = zart.Zart(os.environ["ZART_TEST_DSN"], schema=os.environ["ZART_TEST_SCHEMA"])
    lease = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    app.worker(threads=2, lease=lease, poll_interval=0.5).run()


if __name__ == "__main__":
    main()
