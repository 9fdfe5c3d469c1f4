"""A scheduled workflow that tests/faults/test_schedule_ticks.py runs in worker subprocesses:
every minute (on the database's clock), each tick's one transactional step records the tick
in ``<schema>.ticks`` inside its checkpoint, so the table holds exactly what ran.

Run a worker with ``python -c "from tests.faults.schedule_app import main; main()"`` and
``ZART_TEST_DSN`` / ``ZART_TEST_SCHEMA`` set. With ``ZART_TEST_STALL_TICK`` (a file path), the
worker stalls inside its first tick round that starts an execution, after the inserts and
before the commit, and creates that file first: the test kills it there.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import zart
from zart.store import Store

EVERY_MINUTE = zart.cron("* * * * *", overlap="allow", catchup="all", catchup_limit=1000)


@zart.step("st-record", transactional=True)
def record(tick: str) -> str:
    schema = os.environ["ZART_TEST_SCHEMA"]
    zart.context().connection.execute(
        f'INSERT INTO "{schema}".ticks (execution_id, tick) VALUES (%s, %s)',
        (zart.context().execution_id, tick))
    return tick


@zart.workflow("st-every-minute", schedule=EVERY_MINUTE)
def every_minute(data: Any) -> Any:
    return (yield record(data["scheduled_at"]))


def _stall_inside_the_tick(path: str) -> None:
    """Make the first tick round that starts an execution stop after its insert and before
    its commit, announced by creating ``path`` (the test SIGKILLs the process then)."""
    insert = Store.create_execution

    def stalling(self: Store, *args: Any, **kwargs: Any) -> bool:
        created = insert(self, *args, **kwargs)
        if created and kwargs.get("conn") is not None:  # inside the tick's transaction
            Path(path).touch()
            time.sleep(60)
        return created

    Store.create_execution = stalling  # type: ignore[method-assign]


def main() -> None:
    """A worker for this workflow until SIGTERM (or a SIGKILL)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    stall = os.environ.get("ZART_TEST_STALL_TICK")
    if stall:
        _stall_inside_the_tick(stall)
    app = zart.Zart(os.environ["ZART_TEST_DSN"], schema=os.environ["ZART_TEST_SCHEMA"])
    app.worker(threads=2, lease=5.0, poll_interval=0.3).run()
