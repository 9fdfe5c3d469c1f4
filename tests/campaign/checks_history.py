"""Checks on the history rows themselves: 2 (an outcome is done once, never overwritten or
deleted but by a workflow retry forgetting a failure), 3 (no step function started after its
checkpoint committed), 4 (a transactional step's business write exists once, in its
checkpoint's transaction) and 5 (nothing is written for an execution after its cancel)."""

from __future__ import annotations

from .config import LEASE
from .evidence import Evidence, Execution, Run
from .history import (
    brief,
    cancel_write,
    done_writes,
    live_done,
    retry_txids,
    step_versions,
)
from .model import Expectation
from .verdict import Verdict

WALL_TOLERANCE = 0.005   # seconds: clock granularity between a worker and the server
THAWED_START = 0.5       # seconds: a step entered this soon after its worker thawed

# What makes a done row an outcome; other columns (leases, counters) are bookkeeping. Columns
# zart may add later count as bookkeeping, so an update touching only those is noted, not
# failed.
OUTCOME_COLUMNS = ("execution_id", "seq", "kind", "name", "status", "ok", "value", "error",
                   "attempt", "finished_at")


# Columns that count things about a row rather than being its state: a write after a cancel
# that changes only these is noted, not failed.
COUNTERS = frozenset({"lost_leases", "lost_owner", "claims"})


# -- check 2 -----------------------------------------------------------------------------------

def check_outcomes_once(ev: Evidence, verdict: Verdict, exe: Execution,
                        model: Expectation) -> None:
    rows = ev.audit.get(exe.id, [])
    retries = retry_txids(rows)
    for seq, versions in step_versions(rows).items():
        verdict.check("2-outcome-once")
        done = None
        names = {a.row.get("name") for a in versions}
        if len(names) > 1:
            verdict.fail("2-outcome-once", exe.id, "one history position held two commands",
                         seq=seq, names=sorted(map(str, names)))
        for a in versions:
            was_done = a.old is not None and a.old.get("status") == "done"
            if a.op == "INSERT" and done is not None:
                verdict.fail("2-outcome-once", exe.id, "an outcome was inserted over a done one",
                             first=brief(done), second=brief(a))
            elif a.op == "UPDATE" and was_done:
                changed = sorted(k for k in OUTCOME_COLUMNS
                                 if (a.old or {}).get(k) != (a.new or {}).get(k))
                if changed:
                    verdict.fail("2-outcome-once", exe.id, "a done outcome was overwritten",
                                 step=a.row.get("name"), changed=changed, write=brief(a),
                                 done=brief(done))
                else:   # bookkeeping (a lease counter, say): the outcome itself is intact
                    verdict.note("done rows updated without changing their outcome")
            elif a.op == "DELETE" and was_done:
                # The one allowed delete: a workflow retry forgetting a failed step outcome
                # (whether the failure itself was legitimate is check 6's business).
                old = a.old or {}
                forgotten_failure = (old.get("ok") is False and old.get("kind") == "step"
                                     and a.txid in retries)
                if not forgotten_failure:
                    verdict.fail("2-outcome-once", exe.id, "a done outcome was deleted",
                                 step=old.get("name"), write=brief(a),
                                 in_workflow_retry=a.txid in retries)
                else:
                    verdict.note("failed outcomes forgotten by a workflow retry")
                done = None
            if a.new is not None and a.new.get("status") == "done" and not was_done:
                done = a


# -- check 3 -----------------------------------------------------------------------------------

def check_runs(ev: Evidence, verdict: Verdict, exe: Execution) -> None:
    """A run (ledger) whose function entry is later than the commit of a done outcome of its
    step that was still in force at that moment."""
    writes = done_writes(ev.audit.get(exe.id, []))
    for run in ev.runs_of(exe.id):
        verdict.check("3-run-after-checkpoint")
        step = run.step
        for w in writes.get(step, []):
            if w.commit is None:
                verdict.note("done writes without a commit timestamp")
                continue
            gone = w.deleted.commit if w.deleted is not None else None
            if run.entry > w.commit + WALL_TOLERANCE and (gone is None or run.entry < gone):
                if frozen_after_its_lease_check(ev, run, w.commit):
                    # The limit the README states: a worker frozen in the microseconds
                    # between its last lease check and the step's first line. Frozen for
                    # longer than its lease, it cannot have passed the check after thawing
                    # (its lease could not be renewed: another worker held the execution),
                    # so it passed it before. A transactional step's writes still roll back
                    # with its fenced checkpoint (check 4).
                    verdict.note("steps entered on thawing by a worker frozen between its "
                                 "lease check and the step's first line (the stated limit)")
                    continue
                verdict.fail(
                    "3-run-after-checkpoint", exe.id,
                    "a step function started after its checkpoint committed",
                    step=step, attempt=run.attempt,
                    worker=ev.worker_names.get(run.pid, run.pid), thread=run.thread,
                    started_after_commit_ms=round((run.entry - w.commit) * 1000, 1),
                    ledger_row_after_entry_ms=round((run.at - run.entry) * 1000, 1),
                    checkpoint=brief(w.write))


def frozen_after_its_lease_check(ev: Evidence, run: Run, commit: float) -> bool:
    """Whether ``run``'s worker was SIGSTOPped from before ``commit`` for longer than a
    lease, and the run's function was entered right when it thawed."""
    for fault in ev.faults:
        if not fault.kind.startswith("pause") or fault.end - fault.start <= LEASE:
            continue
        if not any(isinstance(h, dict) and h.get("pid") == run.pid for h in fault.hit):
            continue
        if fault.start < commit and 0 <= run.entry - fault.end <= THAWED_START:
            return True
    return False


# -- check 4 -----------------------------------------------------------------------------------

def check_transactional(ev: Evidence, verdict: Verdict, exe: Execution,
                        model: Expectation) -> None:
    writes = done_writes(ev.audit.get(exe.id, []))
    names = {n for n, info in model.names.items() if info.transactional}
    names |= {step for (eid, step) in ev.biz if eid == exe.id}
    for name in sorted(names):
        verdict.check("4-tx-exactly-once")
        rows = ev.biz.get((exe.id, name), [])
        info = model.names.get(name)
        if info is None or not info.transactional:
            verdict.fail("4-tx-exactly-once", exe.id, "a business row from a step that is not "
                         "transactional", step=name)
            continue
        done = live_done(writes.get(name, []))
        if done is not None and done.ok:
            matching = [b for b in rows if b.txid == done.write.txid]
            if len(rows) != 1 or len(matching) != 1:
                verdict.fail("4-tx-exactly-once", exe.id,
                             f"{len(rows)} business rows for one committed outcome",
                             step=name, checkpoint_txid=done.write.txid,
                             rows=[(b.txid, b.attempt, b.value, b.commit) for b in rows])
        elif rows:
            verdict.fail("4-tx-exactly-once", exe.id, "business rows without a committed "
                         "successful outcome", step=name,
                         outcome=None if done is None else brief(done.write),
                         rows=[(b.txid, b.attempt, b.value, b.commit) for b in rows])


# -- check 5 -----------------------------------------------------------------------------------

def check_cancel(ev: Evidence, verdict: Verdict, exe: Execution) -> None:
    rows = ev.audit.get(exe.id, [])
    cancel = cancel_write(rows)
    if cancel is None:
        return
    verdict.check("5-write-after-cancel")
    if cancel.commit is None:
        verdict.note("cancels without a commit timestamp")
        return
    for a in rows:
        if a.txid != cancel.txid and a.commit is not None and \
                a.commit > cancel.commit + WALL_TOLERANCE:
            changed = {k for k in set(a.old or {}) | set(a.new or {})
                       if (a.old or {}).get(k) != (a.new or {}).get(k)}
            if a.op == "UPDATE" and changed <= COUNTERS:
                verdict.note("counters updated after a cancel (no state changed)")
                continue
            verdict.fail("5-write-after-cancel", exe.id, "zart wrote after the cancel "
                         "committed", after_ms=round((a.commit - cancel.commit) * 1000, 1),
                         table=a.tbl, write=brief(a))
    for (eid, step), biz in ev.biz.items():
        for b in biz if eid == exe.id else []:
            verdict.check("5-write-after-cancel")
            if b.commit is not None and b.commit > cancel.commit + WALL_TOLERANCE:
                verdict.fail("5-write-after-cancel", exe.id, "a business write committed "
                             "after the cancel", step=step, txid=b.txid,
                             after_ms=round((b.commit - cancel.commit) * 1000, 1))
    late = [r for r in ev.runs_of(exe.id) if r.entry > cancel.commit]
    if late:
        verdict.note("step runs started after their execution was cancelled (allowed)",
                     len(late))
