"""The campaign's settings, its schema and table names, and where its files live."""

from __future__ import annotations

import itertools
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Focus = Literal["all", "transactional", "timed"]
FOCUSES: tuple[Focus, ...] = ("all", "transactional", "timed")

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN_ROOT = ROOT / ".zart" / "campaign"        # <pid>/ per run: server data and logs
FAILED_LOGS = ROOT / ".zart" / "campaign-failed"    # logs of runs that found violations

ZART_SCHEMA = "czart"     # zart's tables (the server is private to the run: fixed names do)
EVIDENCE_SCHEMA = "cev"   # the campaign's own: audit, ledger, business table

LEASE = 2.0               # the workers' lease: the nemesis's "long" faults outlast it
POLL_INTERVAL = 0.5

# Environment of the worker and racer subprocesses.
ENV_DSN = "CAMPAIGN_DSN"
ENV_WORKER_NAME = "CAMPAIGN_WORKER_NAME"
ENV_THREADS = "CAMPAIGN_THREADS"


_runs = itertools.count(1)


def new_run_dir() -> Path:
    """``.zart/campaign/<pid>/r<n>``: one per run, several runs per process (pytest); the
    process id lets a later run remove what a killed one left behind."""
    return CAMPAIGN_ROOT / str(os.getpid()) / f"r{next(_runs)}"


def sub_rng(seed: int, purpose: str) -> random.Random:
    """An independent random stream per purpose, all derived from the one seed.

    Separate streams keep the workload identical when only the nemesis changes (and the
    other way round), which helps when bisecting a failing seed.
    """
    return random.Random(f"{seed}:{purpose}")


@dataclass(frozen=True)
class Config:
    """One campaign run."""

    seed: int
    duration: float = 30.0            # seconds of workload and faults (then heal and drain)
    workers: int = 3
    focus: Focus = "all"
    start_rate: float = 1.6           # executions started per second of the chaos phase
    fault_gap: tuple[float, float] = (0.8, 2.6)   # seconds between two faults
    drain_timeout: float = 150.0      # after healing: how long executions may take to finish
    keep: bool = False                # keep the server directory and logs afterwards
    run_dir: Path = field(default_factory=new_run_dir)

    def __post_init__(self) -> None:
        if self.focus not in FOCUSES:
            raise ValueError(f"focus must be one of {FOCUSES}, got {self.focus!r}")
        if self.duration <= 0 or self.workers < 1:
            raise ValueError("duration must be > 0 and workers >= 1")

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "pgdata"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def engine_dir(self) -> Path:
        """The copy of zart the run's subprocesses import (see ``runner.snapshot_engine``)."""
        return self.run_dir / "engine"

    def replay_command(self) -> str:
        """The command line that runs this campaign again."""
        return (f"python -m tests.campaign --seed {self.seed} --duration {self.duration:g} "
                f"--workers {self.workers} --focus {self.focus}")
