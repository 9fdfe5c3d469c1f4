"""Views of one execution's audit that several checks share: the versions of each history row,
the writes that made an outcome ``done`` (and whether a workflow retry deleted it later), the
cancel, and the fault windows that overlap a stretch of time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .config import LEASE
from .evidence import Audit, Evidence
from .nemesis import Fault


@dataclass
class DoneWrite:
    """A write that recorded a step's outcome (``done``), and the delete that undid it."""

    name: str
    kind: str
    seq: int
    write: Audit
    deleted: Audit | None = None

    @property
    def ok(self) -> bool:
        return bool(self.write.row.get("ok"))

    @property
    def commit(self) -> float | None:
        return self.write.commit

    @property
    def error_type(self) -> str | None:
        error = self.write.row.get("error")
        return error.get("type") if isinstance(error, dict) else None


def step_versions(rows: list[Audit]) -> dict[int, list[Audit]]:
    """The audit of each ``steps`` row of an execution (by seq), in write order."""
    out: dict[int, list[Audit]] = defaultdict(list)
    for a in rows:
        if a.tbl == "steps":
            out[int(a.row["seq"])].append(a)
    return out


def done_writes(rows: list[Audit]) -> dict[str, list[DoneWrite]]:
    """Per history name, every write that made its row ``done``, with its later delete."""
    out: dict[str, list[DoneWrite]] = defaultdict(list)
    for seq, versions in step_versions(rows).items():
        current: DoneWrite | None = None
        for a in versions:
            was_done = a.old is not None and a.old.get("status") == "done"
            if a.op == "DELETE":
                if current is not None and was_done:
                    current.deleted = a
                current = None
            elif a.new is not None and a.new.get("status") == "done" and not was_done:
                current = DoneWrite(a.new["name"], a.new["kind"], seq, a)
                out[current.name].append(current)
    return out


def live_done(writes: list[DoneWrite]) -> DoneWrite | None:
    """The outcome in force at the end (not deleted), if any."""
    live = [w for w in writes if w.deleted is None]
    return live[-1] if live else None


def first_write(rows: list[Audit], name: str) -> Audit | None:
    """The first write of the history row ``name`` (a timed attempt, a wait, a sleep...)."""
    for a in rows:
        if a.tbl == "steps" and a.row.get("name") == name:
            return a
    return None


def cancel_write(rows: list[Audit]) -> Audit | None:
    """The write that cancelled the execution."""
    for a in rows:
        if (a.tbl == "executions" and a.op == "UPDATE" and a.new is not None
                and a.new.get("status") == "cancelled"
                and (a.old or {}).get("status") != "cancelled"):
            return a
    return None


def retry_txids(rows: list[Audit]) -> set[int]:
    """Transactions that started another attempt of the body (a workflow retry)."""
    return {a.txid for a in rows
            if a.tbl == "executions" and a.op == "UPDATE" and a.old and a.new
            and int(a.new.get("attempt", 0)) == int(a.old.get("attempt", 0)) + 1}


# How long a fault's effects outlast its window, for judging whether it explains a timeout:
# after a restart or an outage the workers' pools reconnect with backoff (seconds); a killed
# or paused worker's executions wait out its lease before another worker takes them over.
AFTERMATH = {"restart-fast": 10.0, "restart-immediate": 10.0, "outage": 10.0,
             "kill": 2 * LEASE, "pause-short": LEASE, "pause-long": LEASE}


def faults_within(ev: Evidence, start: float, end: float, pad: float = 0.5) -> list[Fault]:
    """Faults whose window, with its aftermath, overlaps ``[start - pad, end + pad]`` (wall
    clock)."""
    return [f for f in ev.faults if not f.note.startswith("not injected")
            and f.start <= end + pad
            and (f.end or f.start) + AFTERMATH.get(f.kind, 1.0) >= start - pad]


def describe(faults: list[Fault]) -> str:
    return ", ".join(sorted({f.label() for f in faults})) or "none"


def brief(a: Audit | None) -> dict[str, Any] | None:
    """An audit row cut down to what a violation report needs."""
    if a is None:
        return None
    keep = ("seq", "kind", "name", "status", "ok", "value", "error", "attempt", "owner",
            "wake_at", "deadline", "finished_at", "lease_until", "lost_leases")

    def cut(row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None:
            return None
        out = {k: row[k] for k in keep if k in row and row[k] is not None}
        if isinstance(out.get("error"), dict):
            out["error"] = {k: v for k, v in out["error"].items() if k != "traceback"}
        return out

    return {"audit": a.id, "op": a.op, "txid": a.txid, "commit": a.commit, "old": cut(a.old),
            "new": cut(a.new)}
