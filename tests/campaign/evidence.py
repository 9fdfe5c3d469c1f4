"""Everything the checks look at, loaded once after the run: zart's tables as they ended, the
audit of every write to them (with commit times), the ledger of step runs, the business
table, the event inbox, and the driver's and the nemesis's own logs.

Times are seconds since the epoch. Two clocks are involved and never mixed: *wall* times
(``time.time()`` in the processes, ``clock_timestamp()``, commit timestamps) and the *zart
clock* (``clock_now()``: the wall clock plus the test offset the nemesis moves), in which
zart records deadlines, wake-up times and ``received_at``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .config import EVIDENCE_SCHEMA, ZART_SCHEMA
from .driver import DriverLog
from .nemesis import Fault
from .server import Server

E, Z = EVIDENCE_SCHEMA, ZART_SCHEMA
COMMIT = "extract(epoch FROM pg_xact_commit_timestamp(({col} % 4294967296)::text::xid))"


def ts(value: Any) -> float | None:
    """A timestamp (datetime, or the ISO text ``to_jsonb`` makes of one) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return float(value.timestamp())


@dataclass
class Audit:
    id: int
    tbl: str
    op: str
    txid: int
    eid: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    commit: float | None

    @property
    def row(self) -> dict[str, Any]:
        """The row after the write (before it, for a delete)."""
        return self.new if self.new is not None else (self.old or {})


@dataclass
class Run:
    """One real run of a step function (a ledger row)."""

    eid: str
    step: str
    attempt: int
    pid: int
    thread: str
    entry: float
    at: float


@dataclass
class Biz:
    eid: str
    step: str
    value: int
    attempt: int
    txid: int
    commit: float | None


@dataclass
class Event:
    eid: str
    name: str
    payload: Any
    received_at: float          # zart clock
    commit: float | None        # wall clock


@dataclass
class Execution:
    id: str
    workflow: str
    status: str
    data: Any
    result: Any
    error: Any
    attempt: int
    lost_leases: int
    waiting_for: str | None


@dataclass
class Evidence:
    executions: dict[str, Execution]
    steps: dict[str, list[dict[str, Any]]]              # eid -> final rows, by seq
    audit: dict[str, list[Audit]]                       # eid -> writes, in order
    runs: dict[tuple[str, str], list[Run]]              # (eid, step) -> runs
    biz: dict[tuple[str, str], list[Biz]]
    events: dict[tuple[str, str], Event]
    driver: DriverLog
    faults: list[Fault]
    backward: float                                     # seconds the clock was moved back
    worker_names: dict[int, str] = field(default_factory=dict)   # pid -> worker

    def __post_init__(self) -> None:
        self._runs_of: dict[str, list[Run]] = defaultdict(list)
        for (eid, _), runs in self.runs.items():
            self._runs_of[eid].extend(runs)

    def runs_of(self, eid: str) -> list[Run]:
        """Every step run of one execution."""
        return self._runs_of.get(eid, [])


def load(server: Server, driver: DriverLog, faults: list[Fault], backward: float,
         worker_names: dict[int, str]) -> Evidence:
    """Read the evidence from the (healed) server."""
    executions = {}
    for r in server.query(f"SELECT id, workflow, status, input::text, result::text, "
                          f"error::text, attempt, lost_leases, waiting_for "
                          f"FROM {Z}.executions"):
        executions[r[0]] = Execution(r[0], r[1], r[2], _json(r[3]), _json(r[4]), _json(r[5]),
                                     r[6], r[7], r[8])
    steps: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (row,) in server.query(f"SELECT to_jsonb(s) FROM {Z}.steps s "
                               f"ORDER BY execution_id, seq"):
        steps[row["execution_id"]].append(row)
    audit: dict[str, list[Audit]] = defaultdict(list)
    for r in server.query(f"SELECT id, tbl, op, txid, eid, old, new, {COMMIT.format(col='txid')} "
                          f"FROM {E}.audit ORDER BY id"):
        audit[r[4]].append(Audit(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _float(r[7])))
    runs: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for r in server.query(f"SELECT eid, step, attempt, pid, thread, entry, "
                          f"extract(epoch FROM at) FROM {E}.ledger ORDER BY id"):
        runs[(r[0], r[1])].append(Run(r[0], r[1], r[2], r[3], r[4], float(r[5]), float(r[6])))
    biz: dict[tuple[str, str], list[Biz]] = defaultdict(list)
    for r in server.query(f"SELECT eid, step, value, attempt, txid, {COMMIT.format(col='txid')} "
                          f"FROM {E}.biz ORDER BY id"):
        biz[(r[0], r[1])].append(Biz(r[0], r[1], r[2], r[3], r[4], _float(r[5])))
    events = {}
    for r in server.query(f"SELECT execution_id, name, payload::text, "
                          f"extract(epoch FROM received_at), "
                          f"extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM {Z}.events"):
        events[(r[0], r[1])] = Event(r[0], r[1], _json(r[2]), float(r[3]), _float(r[4]))
    return Evidence(executions, dict(steps), dict(audit), dict(runs), dict(biz), events,
                    driver, faults, backward, worker_names)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def dump(ev: Evidence, eid: str, model: Any, path: Path) -> None:
    """Everything known about one execution, as JSON, for reading a violation afterwards."""
    record = {
        "execution": vars(ev.executions[eid]) if eid in ev.executions else None,
        "model": model,
        "audit": [{"id": a.id, "tbl": a.tbl, "op": a.op, "txid": a.txid, "commit": a.commit,
                   "old": a.old, "new": a.new} for a in ev.audit.get(eid, [])],
        "runs": [vars(r) for r in ev.runs_of(eid)],
        "biz": [vars(b) for (e, _), rows in ev.biz.items() if e == eid for b in rows],
        "events": [vars(e) for (e_id, _), e in ev.events.items() if e_id == eid],
        "driver": [vars(c) for c in ev.driver.calls if c.eid == eid],
        "faults": [vars(f) for f in ev.faults],
    }
    path.write_text(json.dumps(record, default=str, indent=1))
