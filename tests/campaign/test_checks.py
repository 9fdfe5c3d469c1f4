"""The checks themselves, on made-up evidence (no database, no processes): each one passes a
clean history and flags the violation it exists for. A check that can never fire would make
a clean campaign meaningless; these prove each can."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from . import checks
from .driver import Call, DriverLog
from .evidence import Audit, Biz, Event, Evidence, Execution, Run
from .model import mix, start_acc
from .nemesis import Fault
from .plan import FLOW, ExecutionPlan
from .verdict import Verdict

EID = "e1"
T0 = 1_000_000.0   # wall clock of the made-up run
OPS = [{"k": "tx", "i": 0, "ms": 1, "pg": False}, {"k": "event", "i": 1, "t": 2.0}]
VALUE = mix(start_acc(0), 0, "x")
PAYLOAD = {"tag": "p"}
_ids = itertools.count(1)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def write(op: str, txid: int, commit: float, old: dict[str, Any] | None,
          new: dict[str, Any] | None, tbl: str = "steps") -> Audit:
    return Audit(next(_ids), tbl, op, txid, EID, old, new, commit)


def step_row(seq: int, kind: str, name: str, status: str, **more: Any) -> dict[str, Any]:
    return {"execution_id": EID, "seq": seq, "kind": kind, "name": name, "status": status,
            "lost_leases": 0, **more}


class World:
    """A clean history of ``OPS`` (the event sent in time and consumed); tests spoil it."""

    def __init__(self) -> None:
        done_x = step_row(0, "step", "x-0", "done", ok=True, value=VALUE, attempt=1,
                          finished_at=iso(T0 + 0.2))
        wait = step_row(1, "event", "e-1", "pending", wake_at=iso(T0 + 2.3))
        got = {**wait, "status": "done", "ok": True, "value": PAYLOAD,
               "finished_at": iso(T0 + 1.0)}
        self.audit = [
            write("INSERT", 1, T0, None, {"id": EID, "status": "pending", "attempt": 1},
                  "executions"),
            write("INSERT", 10, T0 + 0.2, None, done_x),
            write("INSERT", 11, T0 + 0.3, None, wait),
            write("UPDATE", 12, T0 + 1.0, wait, got),
            write("UPDATE", 13, T0 + 1.1, {"id": EID, "status": "running", "attempt": 1},
                  {"id": EID, "status": "completed", "attempt": 1}, "executions"),
        ]
        self.runs = [Run(EID, "x-0", 1, 7, "t", T0 + 0.1, T0 + 0.1001)]
        self.biz = [Biz(EID, "x-0", VALUE, 1, 10, T0 + 0.2)]
        self.event = Event(EID, "e-1", PAYLOAD, T0 + 0.9, T0 + 0.9)
        self.sends = [Call("send", EID, T0 + 0.9, T0 + 0.9, True,
                           detail={"name": "e-1", "payload": PAYLOAD, "mode": "mid"})]
        self.status = "completed"
        self.result: dict[str, Any] | None = {"trace": [VALUE, PAYLOAD], "acc": VALUE}
        self.error: dict[str, Any] | None = None
        self.steps = [done_x, got]
        self.faults: list[Fault] = []

    def verdict(self) -> Verdict:
        log = DriverLog(calls=[Call("start", EID, T0, T0, EID), *self.sends])
        runs: dict[tuple[str, str], list[Run]] = defaultdict(list)
        for run in self.runs:
            runs[(EID, run.step)].append(run)
        ev = Evidence(
            {EID: Execution(EID, FLOW, self.status, {"n": 0, "ops": OPS}, self.result,
                            self.error, 1, 0, None)},
            {EID: self.steps}, {EID: self.audit}, dict(runs), {(EID, "x-0"): self.biz},
            {(EID, "e-1"): self.event}, log, self.faults, 0.0)
        verdict, _ = checks.run_all(ev, [ExecutionPlan(EID, FLOW, {"n": 0, "ops": OPS}, 0.0)])
        return verdict


def violated(world: World) -> set[str]:
    return {v.check for v in world.verdict().violations}


def test_a_clean_history_passes_every_check() -> None:
    verdict = World().verdict()
    assert verdict.violations == []
    assert all(verdict.checked[c] for c in ("1-final-result", "2-outcome-once",
                                             "3-run-after-checkpoint", "4-tx-exactly-once",
                                             "6-infra-failure", "7-events", "8-racing-starts"))


def test_a_step_started_after_its_checkpoint_committed() -> None:
    world = World()
    world.runs.append(Run(EID, "x-0", 1, 8, "zombie", T0 + 0.5, T0 + 0.5001))
    assert violated(world) == {"3-run-after-checkpoint"}


@pytest.mark.parametrize(("frozen_from", "frozen_for", "flagged"), [
    (T0 + 0.1, 2.5, False),   # frozen past its lease right after its check: the stated limit
    (T0 + 0.1, 1.5, True),    # frozen shorter than a lease: it could have checked on thawing
    (T0 + 0.3, 2.5, True),    # frozen after the checkpoint committed: no excuse
])
def test_a_step_entered_on_thawing_after_a_freeze_past_the_lease_is_the_stated_limit(
        frozen_from: float, frozen_for: float, flagged: bool) -> None:
    world = World()
    world.faults.append(Fault(1.0, "pause-long", {"seconds": frozen_for}, frozen_from,
                              frozen_from + frozen_for, [{"worker": "w", "pid": 8}]))
    thawed = frozen_from + frozen_for
    world.runs.append(Run(EID, "x-0", 1, 8, "frozen", thawed + 0.01, thawed + 0.02))
    assert violated(world) == ({"3-run-after-checkpoint"} if flagged else set())


@pytest.mark.parametrize(("change", "check"), [
    ({"value": 1}, "2-outcome-once"),                       # the outcome overwritten
    ({"lost_leases": 1}, None),                             # bookkeeping only: noted
])
def test_an_update_of_a_done_outcome(change: dict[str, Any], check: str | None) -> None:
    world = World()
    done = world.audit[1].new or {}
    world.audit.append(write("UPDATE", 20, T0 + 1.5, done, {**done, **change}))
    assert violated(world) == ({check} if check else set())


def test_a_business_write_outside_the_checkpoint_transaction_or_twice() -> None:
    world = World()
    world.biz.append(Biz(EID, "x-0", VALUE, 2, 99, T0 + 0.15))
    assert violated(world) == {"4-tx-exactly-once"}


def test_an_infrastructure_error_recorded_as_an_outcome_or_failing_the_execution() -> None:
    world = World()
    world.status, world.error = "failed", {"type": "LeaseLost"}
    world.audit.append(write("UPDATE", 30, T0 + 2.0, None, step_row(
        5, "step", "x-0", "pending", error={"type": "QueryCanceled"})))
    assert "6-infra-failure" in violated(world)


def test_a_late_event_that_won_and_one_in_time_that_was_lost() -> None:
    late = World()
    late.event = Event(EID, "e-1", PAYLOAD, T0 + 2.6, T0 + 0.9)   # after the 2.3 deadline
    assert violated(late) == {"7-events"}
    lost = World()
    wait = lost.audit[2].new or {}
    timed_out = {**wait, "status": "done", "ok": False, "error": {"type": "EventTimeout"},
                 "finished_at": iso(T0 + 2.4)}
    lost.audit[3] = write("UPDATE", 12, T0 + 2.4, wait, timed_out)
    lost.steps[1] = timed_out
    lost.result = {"trace": [VALUE, "no-event"], "acc": VALUE}
    assert violated(lost) == {"7-events"}


def test_a_write_after_the_cancel_committed() -> None:
    world = World()
    world.status, world.result = "cancelled", None
    world.sends.append(Call("cancel", EID, T0 + 0.5, T0 + 0.5, True))
    world.audit[4] = write("UPDATE", 13, T0 + 0.5, {"id": EID, "status": "running"},
                           {"id": EID, "status": "cancelled"}, "executions")
    world.audit.append(write("INSERT", 40, T0 + 0.8, None, step_row(3, "sleep", "s", "done")))
    assert "5-write-after-cancel" in violated(world)


def test_a_start_that_created_two_executions_and_a_wrong_result() -> None:
    world = World()
    world.audit.append(write("INSERT", 2, T0, None, {"id": EID, "status": "pending"},
                             "executions"))
    world.result = {"trace": [VALUE + 1, PAYLOAD], "acc": VALUE}
    assert violated(world) == {"8-racing-starts", "1-final-result"}
