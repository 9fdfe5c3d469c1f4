"""``python -m tests.campaign --seed N --duration SECONDS [--workers K] [--focus F] [--keep]``

Runs one campaign (see ``tests/campaign/__init__.py``) and prints its report. Without
``--seed`` a random seed is drawn (and printed, with the command that replays it). The exit
status is 1 when a check found a violation, 0 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys

from .config import FOCUSES, Config
from .runner import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.campaign",
                                     description="zart's randomized fault campaign")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds of workload and faults (then heal, drain, check)")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--focus", choices=FOCUSES, default="all")
    parser.add_argument("--keep", action="store_true",
                        help="keep the server directory and logs in .zart/campaign/<pid>")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    # The driver's client logs every connection a restart killed: it would drown the report.
    logging.basicConfig(level=logging.ERROR)
    for name in ("zart", "psycopg", "psycopg.pool"):
        logging.getLogger(name).setLevel(logging.ERROR)
    report = run(Config(seed=seed, duration=args.duration, workers=args.workers,
                        focus=args.focus, keep=args.keep))
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
