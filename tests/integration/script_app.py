"""A module that is both a script and an importable module (issue 8, item 3).

Run as a script (``python tests/integration/script_app.py START DSN SCHEMA N``) its functions
live in ``__main__``: it starts N executions whose parallel children another worker process,
which imports this module as ``tests.integration.script_app``, must be able to run too. Run
with ``WORK`` instead of ``START`` it is a worker for a few seconds.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import zart


@zart.step("script-part-{i}")
def part(i: int) -> dict[str, Any]:
    time.sleep(0.02)  # long enough for both workers to take some
    return {"i": i, "pid": os.getpid()}


@zart.workflow("script-fan-out")
def fan_out(data: Any) -> Any:
    parts = yield zart.parallel(*[part(i) for i in range(data["width"])],
                                return_exceptions=True)
    return [p if isinstance(p, dict) else {"failed": str(p)} for p in parts]


def main(argv: list[str]) -> None:
    command, dsn, schema, count = argv[1], argv[2], argv[3], int(argv[4])
    app = zart.Zart(dsn, schema=schema)
    with app.worker(threads=2, lease=5.0, poll_interval=0.2):
        if command == "START":
            for n in range(count):
                app.start(fan_out, {"width": 6}, id=f"script-{n}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # a process that works until everything is done
            row = app.store.get_execution(f"script-{count - 1}")
            if row is not None and all(
                    app.handle(f"script-{n}").status() in ("completed", "failed")
                    for n in range(count)):
                break
            time.sleep(0.1)
    app.close()


if __name__ == "__main__":
    main(sys.argv)
