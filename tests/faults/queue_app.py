"""Workflows that tests/faults/test_queue_limits.py runs in worker subprocesses: every step
run records its span (start, end, by the database's clock) in ``<schema>.spans``, on its own
connection, so the limits can be checked against what really ran at once.

Run a worker with ``python -c "from tests.faults.queue_app import main; main()" THREADS``
and ``ZART_TEST_DSN`` / ``ZART_TEST_SCHEMA`` set.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import psycopg

import zart

busy = zart.Queue("ql-busy", concurrency=5, per_key=2)
quiet = zart.Queue("ql-quiet", concurrency=2)


@zart.step("ql-work")
def work(queue: str, key: str | None, seconds: float) -> str:
    with psycopg.connect(os.environ["ZART_TEST_DSN"], autocommit=True) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        time.sleep(seconds)
        conn.execute(f'INSERT INTO "{os.environ["ZART_TEST_SCHEMA"]}".spans '
                     f"(execution_id, queue, key, started, ended) "
                     f"VALUES (%s, %s, %s, %s, clock_timestamp())",
                     (zart.context().execution_id, queue, key, row[0]))
    return "done"


@zart.workflow("ql-busy-flow", queue=busy)
def busy_flow(data: Any) -> Any:
    return (yield work("ql-busy", data["key"], data["seconds"]))


@zart.workflow("ql-quiet-flow", queue=quiet)
def quiet_flow(data: Any) -> Any:
    return (yield work("ql-quiet", None, data["seconds"]))


def main() -> None:
    """A worker for these workflows until SIGTERM (or a SIGKILL)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app = zart.Zart(os.environ["ZART_TEST_DSN"], schema=os.environ["ZART_TEST_SCHEMA"])
    app.worker(threads=int(sys.argv[1]), lease=2.0, poll_interval=0.5).run()
