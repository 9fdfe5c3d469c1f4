"""Entry points of the campaign's subprocesses.

``python -m tests.campaign.worker worker``: a zart worker for the campaign's workflows, run
until SIGTERM (``zart.Worker.run``), logging to stderr (the campaign points it at a file).

``python -m tests.campaign.worker racer``: a client that starts executions on request, for
racing starts of one id from several processes. It reads one JSON request per line on stdin
(``{"id", "workflow", "data", "at"}``), waits until the wall-clock time ``at`` (every racer
is given the same one), calls ``Zart.start`` (retrying ``DatabaseUnavailable``: start is
idempotent by id) and answers one JSON line on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

import zart

from . import app
from .config import ENV_DSN, ENV_THREADS, ENV_WORKER_NAME, LEASE, POLL_INTERVAL, ZART_SCHEMA


def _exit_with_parent() -> None:
    """Stop this worker (SIGTERM: gracefully) once the campaign process is gone, so that a
    campaign killed outright leaves no worker behind retrying a dead server forever."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(1.0)   # nothing to wait on: the parent's death sends nothing
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(15)
        os._exit(1)

    threading.Thread(target=watch, name="campaign-watchdog", daemon=True).start()


def run_worker() -> None:
    """A zart worker with the campaign's settings, until SIGTERM."""
    _exit_with_parent()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(threadName)s %(name)s "
                               "%(levelname)s %(message)s")
    worker = zart.Worker(os.environ[ENV_DSN], ZART_SCHEMA,
                         threads=int(os.environ[ENV_THREADS]), lease=LEASE,
                         poll_interval=POLL_INTERVAL, name=os.environ[ENV_WORKER_NAME],
                         workflows=sorted(app.WORKFLOWS))
    worker.run()


def _start(client: zart.Zart, request: dict[str, Any]) -> dict[str, Any]:
    delay = request["at"] - time.time()
    if delay > 0:
        threading.Event().wait(delay)   # line up with the other racers
    answer: dict[str, Any] = {"id": request["id"], "pid": os.getpid(), "t0": time.time(),
                              "errors": []}
    deadline = time.monotonic() + 120
    while True:
        try:
            handle = client.start(app.WORKFLOWS[request["workflow"]], request["data"],
                                  id=request["id"])
            answer.update(ok=True, returned=handle.id, t1=time.time())
            return answer
        except zart.DatabaseUnavailable as exc:
            answer["errors"].append(f"DatabaseUnavailable: {str(exc)[:120]}")
            if time.monotonic() > deadline:
                answer.update(ok=False, t1=time.time())
                return answer
            threading.Event().wait(0.1)   # the server is restarting: retry shortly
        except Exception as exc:   # reported to the campaign, which counts it against check 8
            answer.update(ok=False, t1=time.time(), error=f"{type(exc).__name__}: {exc}")
            return answer


def run_racer() -> None:
    """Serve start requests from stdin until it closes."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    client = zart.Zart(os.environ[ENV_DSN], schema=ZART_SCHEMA)
    lock = threading.Lock()

    def serve(request: dict[str, Any]) -> None:
        answer = _start(client, request)
        with lock:
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()

    print(json.dumps({"ready": os.getpid()}), flush=True)
    serving = []
    for line in sys.stdin:
        if line.strip():
            thread = threading.Thread(target=serve, args=(json.loads(line),), daemon=True)
            thread.start()
            serving.append(thread)
    for thread in serving:   # every request gets its answer before the racer exits
        thread.join(150)
    client.close()


if __name__ == "__main__":
    {"worker": run_worker, "racer": run_racer}[sys.argv[1]]()
