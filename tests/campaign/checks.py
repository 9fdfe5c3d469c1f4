"""Checks 1 (final, right result), 6 (no infrastructure failure) and 8 (racing starts), and
:func:`run_all`, which runs every check on the evidence.

Nothing here trusts zart's view of itself beyond the rows it wrote: a result is compared with
the model, a timing-dependent part of it with the audit (when the step started and ended on
which clock) and the fault log (what could have made a fast step time out).
"""

from __future__ import annotations

from typing import Any

from . import checks_events, checks_history
from .evidence import Evidence, Execution, ts
from .history import describe, done_writes, faults_within, first_write, live_done
from .model import NO_EVENT_MARK, TIMEOUT_MARK, Expectation, Outcome, StepInfo, expect
from .plan import ExecutionPlan
from .verdict import Verdict

FINAL = ("completed", "failed", "cancelled")
CLOCK_TOLERANCE = 0.05   # seconds of zart-clock slack (plus every step back the clock took)


def run_all(ev: Evidence, plans: list[ExecutionPlan]) -> tuple[Verdict, dict[str, Expectation]]:
    """Every check on ``ev``; the verdict and the model of each execution."""
    verdict = Verdict()
    models = {p.id: expect(p.id, p.workflow, p.data) for p in plans}
    for plan in plans:
        exe = ev.executions.get(plan.id)
        if exe is None:
            _never_started(ev, verdict, plan)
            continue
        model = models[plan.id]
        check_final(ev, verdict, exe, model)
        check_infra(ev, verdict, exe, model)
        checks_history.check_outcomes_once(ev, verdict, exe, model)
        checks_history.check_runs(ev, verdict, exe)
        checks_history.check_transactional(ev, verdict, exe, model)
        checks_history.check_cancel(ev, verdict, exe)
        checks_events.check_events(ev, verdict, exe, model)
        check_start(ev, verdict, plan)
    lost = [e.lost_leases for e in ev.executions.values()]
    verdict.note("lost leases, all executions", sum(lost))
    verdict.note("lost leases, the most of one execution", max(lost, default=0))
    stray = set(ev.executions) - set(models)
    for eid in sorted(stray):
        verdict.fail("8-racing-starts", eid, "an execution nobody started exists")
    return verdict, models


def _never_started(ev: Evidence, verdict: Verdict, plan: ExecutionPlan) -> None:
    starts = [c for c in ev.driver.of("start") if c.eid == plan.id]
    if any(c.result == plan.id for c in starts):
        verdict.fail("1-final-result", plan.id, "start returned a handle but there is no "
                     "execution", starts=[vars(c) for c in starts])
    else:
        verdict.note("executions never started (the driver gave up during an outage)")


def cancelled_on_purpose(ev: Evidence, eid: str) -> tuple[bool, bool]:
    """(a cancel returned True, a cancel may have taken effect without saying so)."""
    cancels = [c for c in ev.driver.of("cancel") if c.eid == eid]
    return (any(c.result is True for c in cancels),
            any(c.errors or c.result not in (True, False) for c in cancels))


# -- check 1 -----------------------------------------------------------------------------------

def check_final(ev: Evidence, verdict: Verdict, exe: Execution, model: Expectation) -> None:
    verdict.check("1-final-result")
    sure, maybe = cancelled_on_purpose(ev, exe.id)
    if exe.status not in FINAL:
        verdict.fail("1-final-result", exe.id, f"not final: {exe.status}",
                     waiting_for=exe.waiting_for, lost_leases=exe.lost_leases,
                     last_writes=[(a.tbl, a.op, a.row.get("status"), a.row.get("name"))
                                  for a in ev.audit.get(exe.id, [])[-6:]])
        return
    if exe.status == "cancelled":
        if not (sure or maybe):
            verdict.fail("1-final-result", exe.id, "cancelled, but no cancel returned True")
        return
    if sure:
        verdict.fail("1-final-result", exe.id, f"a cancel returned True, yet it {exe.status}")
    if exe.status == "failed":
        return   # check 6 judges the error
    if not model.completes:
        verdict.fail("1-final-result", exe.id, "completed, but the model says it fails with "
                     f"{model.error_type}", result=exe.result)
        return
    if not model.result_matches(exe.result):
        verdict.fail("1-final-result", exe.id, "wrong result", result=exe.result,
                     expected_acc=model.acc, expected_ops=len(model.outcomes))
        return
    if exe.attempt != model.attempts:
        verdict.fail("1-final-result", exe.id, f"finished on body attempt {exe.attempt}, the "
                     f"model says {model.attempts}")
    trace = exe.result["trace"]
    for outcome, entry in zip([o for o in model.outcomes if o.kind != "none"], trace,
                              strict=True):
        _check_entry(ev, verdict, exe, outcome, entry)


def _stored(ev: Evidence, eid: str, name: str) -> dict[str, Any] | None:
    for row in ev.steps.get(eid, []):
        if row["name"] == name:
            return row
    return None


def _check_entry(ev: Evidence, verdict: Verdict, exe: Execution, outcome: Outcome,
                 entry: Any) -> None:
    op = outcome.op
    verdict.check("1-final-result")
    if outcome.kind == "exact":
        if entry != outcome.value:
            verdict.fail("1-final-result", exe.id, f"wrong value for {op['k']} operation",
                         op=op, got=entry, expected=outcome.value)
    elif outcome.kind == "timeout":
        if entry != TIMEOUT_MARK:
            verdict.fail("1-final-result", exe.id, "a slow step's late result was recorded "
                         "past its timeout", op=op, got=entry)
        else:
            _check_deadline(ev, verdict, exe, op)
    elif outcome.kind == "timeout-or":
        if entry == TIMEOUT_MARK:
            _check_deadline(ev, verdict, exe, op)
            _justify_timeout(ev, verdict, exe, op)
        elif entry != outcome.value:
            verdict.fail("1-final-result", exe.id, "wrong value for a timed step", op=op,
                         got=entry, expected=outcome.value)
    elif outcome.kind in ("captured", "event"):
        name = f"{op['k'] if op['k'] != 'event' else 'e'}-{op['i']}"
        row = _stored(ev, exe.id, name)
        if row is None or row["status"] != "done":
            verdict.fail("1-final-result", exe.id, f"no recorded outcome for {name}", got=entry)
        elif row["ok"] and entry != row["value"]:
            verdict.fail("1-final-result", exe.id, f"{name}: the body saw another value than "
                         f"the one recorded", got=entry, recorded=row["value"])
        elif not row["ok"] and entry != NO_EVENT_MARK:
            verdict.fail("1-final-result", exe.id, f"{name}: recorded as failed, the body "
                         f"saw {entry!r}", recorded=row["error"])


def _check_deadline(ev: Evidence, verdict: Verdict, exe: Execution, op: dict[str, Any]) -> None:
    """A StepTimeout must not be recorded before the step's deadline (zart clock)."""
    name = f"{op['v']}-{op['i']}"
    row = _stored(ev, exe.id, name)
    if row is None or row.get("deadline") is None or row.get("finished_at") is None:
        return
    early = (ts(row["deadline"]) or 0.0) - (ts(row["finished_at"]) or 0.0)
    if early > CLOCK_TOLERANCE + ev.backward:
        verdict.fail("1-final-result", exe.id, "a step timed out before its deadline",
                     step=name, seconds_early=round(early, 3), outcome=row.get("error"))


def _justify_timeout(ev: Evidence, verdict: Verdict, exe: Execution, op: dict[str, Any]) -> None:
    """A fast step timed out: allowed only if a fault overlaps its time (else check 6)."""
    name = f"{op['v']}-{op['i']}"
    rows = ev.audit.get(exe.id, [])
    begun = first_write(rows, name)
    done = live_done(done_writes(rows).get(name, []))
    if begun is None or done is None or begun.commit is None or done.commit is None:
        verdict.fail("1-final-result", exe.id, f"{name} timed out with no recorded attempt")
        return
    faults = faults_within(ev, begun.commit, done.commit)
    if faults:
        verdict.note(f"fast timed steps timed out during a fault ({describe(faults)})")
    else:
        runs = ev.runs.get((exe.id, name), [])
        verdict.fail("6-infra-failure", exe.id, "StepTimeout the model does not allow: a fast "
                     "step timed out with no fault in its time", step=name,
                     seconds=round(done.commit - begun.commit, 3),
                     runs=[(r.attempt, ev.worker_names.get(r.pid, r.pid), r.entry) for r in runs])


# -- check 6 -----------------------------------------------------------------------------------

def _error_type(error: Any) -> str:
    return str(error.get("type")) if isinstance(error, dict) else repr(error)


def raised_in(error: Any) -> str:
    """Whose statement raised a recorded error, from its stored traceback: the step's own
    SQL (a cancel or timeout that hit the user's statement) or zart's, past psycopg."""
    text = error.get("traceback", "") if isinstance(error, dict) else ""
    frames = [line.split('"')[1] for line in str(text).splitlines()
              if line.startswith('  File "') and line.count('"') >= 2]
    for path in reversed(frames):
        if "/psycopg/" in path or "/psycopg_pool/" in path:
            continue
        if "tests/campaign" in path:
            return "raised by the step's own SQL"
        return "raised in zart" if "/zart/" in path else f"raised in {path}"
    return "no traceback"


def check_infra(ev: Evidence, verdict: Verdict, exe: Execution, model: Expectation) -> None:
    """A failed execution fails with the model's error; every recorded failure of a step
    attempt (final or retried) has the error type the model allows for that step."""
    verdict.check("6-infra-failure")
    if exe.status == "failed":
        kind = _error_type(exe.error)
        if model.completes or kind != model.error_type:
            cut = {k: v for k, v in (exe.error or {}).items() if k != "traceback"}
            verdict.fail("6-infra-failure", exe.id, f"execution failed with {kind}",
                         error=cut, expected=model.error_type, lost_leases=exe.lost_leases)
    seen: set[tuple[str, Any, str]] = set()
    for a in ev.audit.get(exe.id, []):
        row = a.new
        if a.tbl != "steps" or row is None or row.get("error") is None:
            continue
        kind = _error_type(row["error"])
        key = (row["name"], row.get("attempt"), kind)
        if key in seen:
            continue
        seen.add(key)
        verdict.check("6-infra-failure")
        info = model.names.get(row["name"], StepInfo("?", "?"))
        if kind != info.failure:
            error = {k: v for k, v in row["error"].items() if k != "traceback"}
            verdict.fail("6-infra-failure", exe.id, f"a step attempt recorded {kind} "
                         f"({raised_in(row['error'])}): {info.op} step", step=row["name"],
                         status=row.get("status"), attempt=row.get("attempt"), error=error,
                         allowed=info.failure)


# -- check 8 -----------------------------------------------------------------------------------

def check_start(ev: Evidence, verdict: Verdict, plan: ExecutionPlan) -> None:
    verdict.check("8-racing-starts")
    inserts = [a for a in ev.audit.get(plan.id, [])
               if a.tbl == "executions" and a.op == "INSERT"]
    if len(inserts) != 1:
        verdict.fail("8-racing-starts", plan.id, f"{len(inserts)} executions were created",
                     raced=plan.racers > 1, txids=[a.txid for a in inserts])
    starts = [c for c in ev.driver.of("start") if c.eid == plan.id]
    bad = [vars(c) for c in starts if c.result != plan.id and c.result != "gave-up"]
    if bad:
        verdict.fail("8-racing-starts", plan.id, "a start did not return the execution",
                     calls=bad)
    if plan.racers > 1:
        answers = [a for a in ev.driver.race_answers if a["id"] == plan.id]
        wrong = [a for a in answers if not a.get("ok") or a.get("returned") != plan.id]
        asked = ev.driver.raced.get(plan.id, 1) - 1
        verdict.check("8-racing-starts", len(answers))
        if wrong or len(answers) != asked:
            verdict.fail("8-racing-starts", plan.id, "a racing start failed or went "
                         "unanswered", answers=answers, asked=asked)
        elif len({a["pid"] for a in answers}) > 1:
            verdict.note("racing starts checked (3 processes at the same moment)")
