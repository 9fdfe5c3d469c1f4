"""The workflow the kill tests run in worker subprocesses, and the fault points they hang at.

``ZART_FAULT=<point>`` makes the worker process record a marker row and hang (so the test can
SIGKILL it there) the first time it reaches ``point``:

* ``before-step:<name>``      the executor is about to run the step
* ``inside-step:<name>``      the step has made its side effect and not returned yet
* ``before-checkpoint:<name>`` the step returned; its checkpoint is not written yet
* ``after-checkpoint:<name>``  the checkpoint is committed; the workflow has not gone on
* ``after-spawn``             the parallel children are inserted and the parent suspended
* ``before-child-done:<name>`` a parallel child returned; its outcome is not written yet
* ``after-suspend``           the execution has just suspended on its sleep
* ``after-suspend-event``     the execution has just suspended on its event wait
* ``before-complete`` / ``after-complete``  around the completion of the execution

Every step records each run in ``<schema>.effects`` on its own connection before returning,
so the test sees every run, including runs that a kill kept from being checkpointed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import psycopg

import zart
from zart.runtime.executor import Executor
from zart.store import Store

STEPS = ("kill-reserve", "kill-charge", "kill-ship")
CHILDREN = ("kill-pack-a", "kill-pack-b")


def _connect() -> psycopg.Connection[Any]:
    return psycopg.connect(os.environ["ZART_TEST_DSN"], autocommit=True)


def _schema() -> str:
    return os.environ["ZART_TEST_SCHEMA"]


def effect(step: str) -> None:
    """Record one run of ``step`` for the current execution."""
    with _connect() as conn:
        conn.execute(f'INSERT INTO "{_schema()}".effects (execution_id, step) VALUES (%s, %s)',
                     (zart.context().execution_id, step))


def hang_at(point: str) -> None:
    """If this process was told to fault at ``point``, mark it and hang until killed."""
    if os.environ.get("ZART_FAULT") != point or os.environ.get("ZART_FAULT_FIRED"):
        return
    os.environ["ZART_FAULT_FIRED"] = "1"
    run = os.environ["ZART_FAULT_RUN"]
    with _connect() as conn:
        conn.execute(f'INSERT INTO "{_schema()}".markers (run, point) VALUES (%s, %s)',
                     (run, point))
        if not os.environ.get("ZART_FAULT_RELEASABLE"):
            time.sleep(600)  # until SIGKILL
            return
        # A zombie: paused here (SIGSTOP) and later resumed, it goes on once the test
        # inserts a "release" marker, as a slow step would.
        while not conn.execute(f'SELECT 1 FROM "{_schema()}".markers WHERE run = %s AND '
                               f"point = 'release'", (run,)).fetchone():
            time.sleep(0.05)


@zart.step("kill-reserve")
def reserve(order: str) -> str:
    effect("kill-reserve")
    hang_at("inside-step:kill-reserve")
    return f"reserved-{order}"


@zart.step("kill-charge")
def charge(order: str) -> str:
    effect("kill-charge")
    hang_at("inside-step:kill-charge")
    return f"txn-{order}"


@zart.step("kill-pack-{box}")
def pack(box: str) -> str:
    effect(f"kill-pack-{box}")
    hang_at(f"inside-step:kill-pack-{box}")
    return f"packed-{box}"


@zart.step("kill-ship")
def ship(order: str, tracking: str) -> str:
    effect("kill-ship")
    hang_at("inside-step:kill-ship")
    return f"shipped-{order}-{tracking}"


@zart.workflow("kill-order")
def order(data: Any) -> Any:
    """Steps, a parallel fan-out, a sleep and an event wait: every kind of durable point."""
    reserved = yield reserve(data["order"])
    txn = yield charge(data["order"])
    boxes = yield zart.parallel(pack("a"), pack("b"))
    yield zart.sleep("kill-settle", "100ms")
    event = yield zart.wait_for_event("kill-go", timeout="1h")
    shipped = yield ship(data["order"], event["tracking"])
    return {"reserved": reserved, "txn": txn, "boxes": boxes, "shipped": shipped}


def expected_result(order_id: str, tracking: str) -> dict[str, Any]:
    """What ``order`` must return, however often its workers were killed."""
    return {"reserved": f"reserved-{order_id}", "txn": f"txn-{order_id}",
            "boxes": ["packed-a", "packed-b"], "shipped": f"shipped-{order_id}-{tracking}"}


def _wrap(cls: Any, name: str, before: Callable[..., None] | None = None,
          after: Callable[..., None] | None = None) -> None:
    original = getattr(cls, name)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before(*args)
        result = original(self, *args, **kwargs)
        if after is not None:
            after(result, *args)
        return result

    setattr(cls, name, wrapper)


def install_fault_points() -> None:
    """Wrap the store and executor so the configured fault point hangs."""
    _wrap(Executor, "_run_step", before=lambda claim, ctx, step, *rest:
          hang_at(f"before-step:{step.name}"))
    _wrap(Store, "checkpoint",
          before=lambda claim, record, *rest: hang_at(f"before-checkpoint:{record.name}"),
          after=lambda ok, claim, record, *rest: hang_at(f"after-checkpoint:{record.name}"))
    _wrap(Store, "spawn_children", after=lambda *args: hang_at("after-spawn"))
    _wrap(Store, "complete_children", before=lambda execution_id, outcomes, *rest: [
        hang_at(f"before-child-done:{o.child.name}") for o in outcomes])
    _wrap(Store, "suspend", after=lambda *args: hang_at("after-suspend"))
    _wrap(Store, "wait_for_event", after=lambda result, *args: hang_at(
        "after-suspend-event") if result is not None and result[0] == "waiting" else None)
    _wrap(Store, "complete", before=lambda *args: hang_at("before-complete"),
          after=lambda *args: hang_at("after-complete"))


def main() -> None:
    """Run a worker (with the configured fault point) until killed or signalled."""
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    install_fault_points()
    app = zart.Zart(os.environ["ZART_TEST_DSN"], schema=_schema())
    lease = float(os.environ.get("ZART_TEST_LEASE", "1.0"))
    app.worker(threads=4, lease=lease, poll_interval=0.2).run()


if __name__ == "__main__":
    main()
