"""Check 7: events. The driver's log says which ``send_event`` returned True; the inbox says
when (zart clock, ``received_at``) and at what wall time it committed; the audit says what
the wait's deadline was (zart clock) and when its outcome committed. From those:

* at most one delivery of a name returns True, and the payload consumed is that one's;
* an event that arrived before the deadline and committed before the wait's timeout did is
  not lost (the wait must not time out);
* an event that arrived after the deadline does not win;
* a wait does not time out before its deadline.

Comparisons on the zart clock allow ``CLOCK_TOLERANCE`` plus every step the nemesis moved
the clock back, as a backward step can make a later arrival look earlier.
"""

from __future__ import annotations

from .evidence import Evidence, Execution, ts
from .history import brief, done_writes, first_write, live_done
from .model import Expectation
from .verdict import Verdict

CLOCK_TOLERANCE = 0.05
WALL_TOLERANCE = 0.005


def check_events(ev: Evidence, verdict: Verdict, exe: Execution, model: Expectation) -> None:
    rows = ev.audit.get(exe.id, [])
    writes = done_writes(rows)
    tolerance = CLOCK_TOLERANCE + ev.backward
    for name, info in model.names.items():
        if info.kind != "event":
            continue
        sends = [c for c in ev.driver.of("send") if c.eid == exe.id and c.detail["name"] == name]
        verdict.check("7-events")
        trues = [c for c in sends if c.result is True]
        if len(trues) > 1:
            verdict.fail("7-events", exe.id, "two deliveries of one event returned True",
                         event=name, payloads=[c.detail["payload"] for c in trues])
        outcome = live_done(writes.get(name, []))
        if outcome is None:
            continue   # the execution ended (cancelled, failed) before the wait
        inbox = ev.events.get((exe.id, name))
        begun = first_write(rows, name)
        deadline = None if begun is None else begun.row.get("wake_at")
        deadline_at = ts(deadline) if isinstance(deadline, str) else None
        details = {"event": name, "modes": sorted({c.detail["mode"] for c in sends}),
                   "outcome": brief(outcome.write),
                   "received_at_minus_deadline": None if inbox is None or deadline_at is None
                   else round(inbox.received_at - deadline_at, 3)}
        if outcome.ok:
            payload = outcome.write.row.get("value")
            if trues and payload != trues[0].detail["payload"]:
                verdict.fail("7-events", exe.id, "the payload consumed is not the delivery "
                             "that returned True", got=payload,
                             delivered=trues[0].detail["payload"], **details)
            elif not trues and not any(c.errors and c.detail["payload"] == payload
                                       for c in sends):
                verdict.fail("7-events", exe.id, "a payload nobody delivered was consumed",
                             got=payload, **details)
            if inbox is not None and deadline_at is not None and \
                    inbox.received_at > deadline_at + tolerance:
                verdict.fail("7-events", exe.id, "a late event won: it arrived after the "
                             "wait's deadline", **details)
            else:
                verdict.note("events consumed by their wait")
            continue
        # The wait timed out.
        finished = outcome.write.row.get("finished_at")
        if deadline_at is not None and isinstance(finished, str) and \
                (ts(finished) or 0.0) < deadline_at - tolerance:
            verdict.fail("7-events", exe.id, "a wait timed out before its deadline",
                             **details)
        if inbox is None or deadline_at is None:
            verdict.note("waits timed out with no event in the inbox")
            continue
        if inbox.received_at >= deadline_at:
            verdict.note("late events that lost to the timeout")
            if inbox.received_at - deadline_at < 0.5:
                verdict.note("late events that lost to the timeout by less than 0.5 s")
        if inbox.received_at < deadline_at - tolerance and inbox.commit is not None and \
                outcome.commit is not None and inbox.commit + WALL_TOLERANCE < outcome.commit:
            verdict.fail("7-events", exe.id, "an event delivered in time was lost: the wait "
                         "timed out after it committed",
                         committed_before_timeout_ms=round(
                             (outcome.commit - inbox.commit) * 1000, 1), **details)
