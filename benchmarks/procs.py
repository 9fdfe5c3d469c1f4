"""Subprocesses for the multi-process figures (run with ``python -m benchmarks.procs``).

``worker THREADS``: a zart worker for the benchmark workflows on ``$ZART_BENCH_DSN`` /
``$ZART_BENCH_SCHEMA``; prints ``ready`` once started and stops gracefully on SIGTERM.

``insert THREADS SECONDS``: the limit: ``THREADS`` connections doing autocommit INSERTs. Prints
``ready`` once connected, starts on a line ``go`` on stdin, and prints one JSON line
``{"inserts": N, "seconds": S}`` at the end.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from types import FrameType

import psycopg

import zart

from . import workflows
from .common import limit_insert_sql, timed_inserts


def run_worker(threads: int) -> None:
    """Serve the benchmark workflows until SIGTERM."""
    assert workflows.steps.name  # importing the module registered the workflows
    app = zart.Zart(os.environ["ZART_BENCH_DSN"], schema=os.environ["ZART_BENCH_SCHEMA"])
    worker = app.worker(threads=threads, poll_interval=60)
    done = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_term)
    worker.start()
    print("ready", flush=True)
    while not done.wait(0.5):
        pass
    worker.stop()
    app.close()


def run_insert(threads: int, seconds: float) -> None:
    """Autocommit INSERTs from ``threads`` connections for ``seconds``, after ``go``."""
    conns = [psycopg.connect(os.environ["ZART_BENCH_DSN"], autocommit=True)
             for _ in range(threads)]

    def go() -> bool:
        print("ready", flush=True)
        return sys.stdin.readline().strip() == "go"

    try:
        timed = timed_inserts(conns, limit_insert_sql(os.environ["ZART_BENCH_SCHEMA"]),
                              seconds, f"proc-{os.getpid()}", go)
    finally:
        for conn in conns:
            conn.close()
    if timed is not None:
        print(json.dumps({"inserts": timed[0], "seconds": timed[1]}), flush=True)


def main(argv: list[str]) -> None:
    """``worker THREADS`` or ``insert THREADS SECONDS``."""
    if argv[:1] == ["worker"]:
        run_worker(int(argv[1]))
    elif argv[:1] == ["insert"]:
        run_insert(int(argv[1]), float(argv[2]))
    else:
        sys.exit(f"usage: python -m benchmarks.procs worker THREADS | insert THREADS SECONDS "
                 f"(got {argv})")


if __name__ == "__main__":
    main(sys.argv[1:])
