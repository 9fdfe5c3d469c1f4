"""The workflow that the load tests run in worker subprocesses (and register in the test process).

``load-flow`` takes an integer ``n`` and runs five steps. Each step's result is derived from
``n`` and the previous step's result, so every checkpoint row and every final result can be
checked by recomputing it (:func:`expected_history`, :func:`expected_result`). Every
``SLEEP_EVERY``-th execution also takes a short real durable sleep after step 2, and every
``EVENT_EVERY``-th one waits for the event ``load-go`` after step 3, whose payload ends up in
the result.

Run ``main()`` to serve it from a worker process (8 threads) until SIGTERM; it logs to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import zart

STEPS = 5
SLEEP_EVERY = 7
EVENT_EVERY = 10
SLEEP_NAME = "load-nap"
SLEEP_FOR = "200ms"
EVENT_NAME = "load-go"
THREADS = 8


def step_name(k: int) -> str:
    return f"load-step-{k}"


def step_value(k: int, n: int, previous: int) -> int:
    """What step ``k`` returns for input ``n``: depends on the order of the chain."""
    return previous * 3 + n + k


def sleeps(n: int) -> bool:
    return n % SLEEP_EVERY == 0


def waits(n: int) -> bool:
    return n % EVENT_EVERY == 0


def event_payload(n: int, when: str) -> dict[str, Any]:
    return {"n": n, "sent": when}


def expected_values(n: int) -> list[int]:
    values, acc = [], 0
    for k in range(1, STEPS + 1):
        acc = step_value(k, n, acc)
        values.append(acc)
    return values


def expected_history(n: int) -> list[tuple[str, str, str | int | None]]:
    """(kind, name, value) of every checkpoint row of execution ``n``, in ``seq`` order."""
    rows: list[tuple[str, str, str | int | None]] = []
    for k, value in enumerate(expected_values(n), start=1):
        rows.append(("step", step_name(k), value))
        if k == 2 and sleeps(n):
            rows.append(("sleep", SLEEP_NAME, None))
        if k == 3 and waits(n):
            rows.append(("event", EVENT_NAME, "payload"))  # the payload is checked separately
    return rows


def expected_result(n: int, event: dict[str, Any] | None) -> dict[str, Any]:
    return {"n": n, "values": expected_values(n), "event": event}


@zart.step("load-step-{k}")
def load_step(k: int, n: int, previous: int) -> int:
    return step_value(k, n, previous)


@zart.workflow("load-flow")
def load_flow(n: int) -> Any:
    acc = 0
    values = []
    event = None
    for k in range(1, STEPS + 1):
        acc = yield load_step(k, n, acc)
        values.append(acc)
        if k == 2 and sleeps(n):
            yield zart.sleep(SLEEP_NAME, SLEEP_FOR)
        if k == 3 and waits(n):
            event = yield zart.wait_for_event(EVENT_NAME)
    return {"n": n, "values": values, "event": event}


def main() -> None:
    """Run a worker (8 threads) for ``load-flow`` until SIGTERM; logs to stderr.

    ``sys.argv[1]``, if given, is the lease in seconds (default 10).
    """
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(threadName)s %(name)s "
                               "%(levelname)s %(message)s")
    lease = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    app = zart.Zart(os.environ["ZART_TEST_DSN"], schema=os.environ["ZART_TEST_SCHEMA"])
    try:
        app.worker(threads=THREADS, lease=lease, poll_interval=1.0).run()
    finally:
        app.close()


if __name__ == "__main__":
    main()
