"""Runs one claimed execution, or one parallel child, in the calling worker thread.

The generator stays alive while the thread holds the execution: each step runs with no
transaction open (or in the checkpoint's own, for a transactional step), its outcome is
checkpointed in one fenced statement, and the *stored* form is sent back in. A sleep, an event
wait, a retry delay or a parallel fan-out that cannot be satisfied now suspends the execution
in the database and returns, freeing the thread.

When a write is refused (the claim was cancelled, taken over, or this thread's view of the
history was stale) or the thread can no longer know that it holds the lease, it lets go: it
hands the execution back if it still owns it, and reports the loss so that a takeover of a
worker that is alive is not counted against the execution (:meth:`Store.refund_lost`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from .. import serde
from ..commands import Capture, ChildWorkflow, Parallel, Sleep, Step, WaitEvent
from ..constants import ExecutionStatus, WaitKind
from ..context import ExecutionContext, bound
from ..errors import SerializationError, WorkflowDefinitionError, WorkflowNotFound
from ..interpreter import (
    Broken,
    Interpreter,
    Outcome,
    Pending,
    Raised,
    Record,
    Returned,
)
from ..store import ChildClaim, Claim, Connection, Store
from ..workflow import get_workflow
from . import observing
from .attempts import AttemptOutcome, LeaseExpired, StepCall, run_attempt, timeout_failure
from .children import ChildRunner, child_start, known_refs
from .completions import ChildCompletions
from .fanout import captured, fan_out
from .hooks import (
    Held,
    Hooks,
    backoff_delay,
    failure,
    fields,
    log_failed_attempt,
    retry_delay,
)
from .lanes import Lane
from .pauses import PauseCache

__all__ = ["Executor"]

log = logging.getLogger(__name__)

class Executor:
    """Drives claimed work to its next suspension; owned by a worker, shared by its threads.

    ``on_lost`` is told of every claim this executor let go of without finishing it (fenced out,
    stale, or past its lease by its own clock); by default the loss is reported to the store at
    once. ``claim_siblings``: see :class:`ChildRunner`.
    """

    def __init__(self, store: Store, *, max_lease_losses: int = 10,
                 should_stop: Callable[[], bool] = lambda: False,
                 on_suspend: Callable[[], None] = lambda: None, lease: float = 30.0,
                 claim_siblings: bool = False,
                 on_lost: Callable[[Held], None] | None = None,
                 worker: uuid.UUID | None = None, pauses: PauseCache | None = None) -> None:
        # The children's steps this executor's worker claims siblings of: what it can run.
        steps = known_refs() if claim_siblings else []
        self.store = store
        self.max_lease_losses = max_lease_losses
        self.should_stop = should_stop
        self.on_suspend = on_suspend
        self.hooks = Hooks(store, max_lease_losses, should_stop, on_suspend,
                           on_lost or (lambda held: store.refund_lost([held])), pauses)
        self.children = ChildRunner(self.hooks, ChildCompletions(store, lease, worker, steps),
                                    claim_siblings)

    def run_child(self, child: ChildClaim, conn: Connection | Lane) -> ChildClaim | None:
        """Run one attempt of a parallel child (see :meth:`ChildRunner.run_child`)."""
        return self.children.run_child(child, conn)

    # -- executions -----------------------------------------------------------------------

    def run_execution(self, claim: Claim, conn: Connection | Lane) -> None:
        """Run ``claim`` until it completes, fails, suspends or is lost."""
        with observing.observed_run(claim):
            self._run_execution(claim, conn)

    def _run_execution(self, claim: Claim, conn: Connection | Lane) -> None:
        lane = conn if isinstance(conn, Lane) else Lane(self.store, given=conn)
        store = self.store
        if claim.lost_leases > self.max_lease_losses:
            self._fail(claim, failure("", "LeaseLost", (
                f"the execution lost its worker {claim.lost_leases} times (crashes or stalls "
                f"past the lease); giving up after {self.max_lease_losses}"), claim.attempt),
                lane)
            return
        if claim.expired:
            self._time_out(claim, lane)
            return
        try:
            workflow = get_workflow(claim.workflow)
        except WorkflowNotFound as exc:  # claims filter on registered names; defensive
            store.release(claim, lane.conn)
            log.error("%s", exc, extra=fields(claim.execution_id, claim.workflow))
            return
        data = serde.loads(claim.input_text)
        deadline = None if claim.remaining is None else time.monotonic() + claim.remaining
        history = store.load_history(claim.execution_id, lane.conn) if claim.has_history else []
        ctx = ExecutionContext(claim.execution_id, claim.workflow, data, claim.attempt,
                               claim.max_attempts)
        interpreter = Interpreter(workflow(data), history)
        with bound(ctx):
            try:
                self._drive(claim, ctx, interpreter, deadline, lane)
            except LeaseExpired:
                log.info("execution %s: this worker's lease ran out by its own clock (a "
                         "pause?); handing it back rather than starting its next step",
                         claim.execution_id, extra=fields(claim.execution_id, claim.workflow))
                observing.run_ends_as("lost")
                self.hooks.let_go(claim, lane)
            finally:
                # The body ends here for this thread (done, suspended, cancelled or lost):
                # close it now rather than whenever the garbage collector gets to it.
                interpreter.close()

    def _drive(self, claim: Claim, ctx: ExecutionContext, interpreter: Interpreter,
               deadline: float | None, lane: Lane) -> None:
        store = self.store
        outcome: Outcome | None = interpreter.start()
        while outcome is not None:
            if isinstance(outcome, Pending):
                if deadline is not None and time.monotonic() >= deadline:
                    self._time_out(claim, lane)
                    return
                if self.should_stop():
                    store.release(claim, lane.conn)
                    observing.run_ends_as("released")
                    return
                try:
                    records = self._perform(claim, ctx, outcome, lane)
                except (WorkflowDefinitionError, SerializationError) as exc:
                    # The command cannot be carried out as written (e.g. a parallel child
                    # that cannot be stored): a bug in the workflow, so the execution fails.
                    self._fail(claim, serde.encode_error(exc), lane)
                    return
                if records is None:
                    return
                outcome = interpreter.resume(records)
            else:
                self._finish(claim, interpreter, outcome, lane)
                outcome = None

    def _finish(self, claim: Claim, interpreter: Interpreter, outcome: Outcome,
                lane: Lane) -> None:
        store = self.store
        conn = lane.conn
        if isinstance(outcome, Returned):
            try:
                result_text = serde.dumps(outcome.value, what=f"the result of workflow "
                                                               f"{claim.workflow!r}")
            except SerializationError as exc:
                self._fail(claim, serde.encode_error(exc), lane)
                return
            if store.complete(claim, result_text, conn):
                observing.run_ends_as("completed")
            else:
                self._lost(claim, lane)
        elif isinstance(outcome, Broken):
            self._fail(claim, serde.encode_error(outcome.error), lane)
        elif isinstance(outcome, Raised):
            error = serde.encode_error(outcome.error, attempts=claim.attempt)
            delay = claim.retry.delay_before(claim.attempt + 1)
            if delay is None:
                self._fail(claim, error, lane)
            elif store.retry_workflow(claim, error, delay, outcome.from_seq, conn):
                log.warning("execution %s (workflow %s) raised %s: %s; its body runs again in "
                            "%.1fs (attempt %d of %d)", claim.execution_id, claim.workflow,
                            error["type"], error["message"], delay, claim.attempt + 1,
                            claim.max_attempts,
                            extra=fields(claim.execution_id, claim.workflow,
                                         attempt=claim.attempt))
                self.on_suspend()
            else:  # fenced: cancelled meanwhile, or taken over
                self._lost(claim, lane)

    def _fail(self, claim: Claim, error: dict[str, Any], lane: Lane) -> None:
        """End the execution as failed with ``error`` (logged, never silently)."""
        if self.store.fail(claim, error, lane.conn):
            observing.run_ends_as("failed")
            log.error("execution %s (workflow %s) failed: %s: %s", claim.execution_id,
                      claim.workflow, error.get("type"), error.get("message"),
                      extra=fields(claim.execution_id, claim.workflow, error.get("step"),
                                   error.get("attempts")))
        else:
            self._lost(claim, lane)

    def _time_out(self, claim: Claim, lane: Lane) -> None:
        """Fail an execution whose workflow timeout has passed."""
        self._fail(claim, failure("", "WorkflowTimeout", "the workflow's timeout passed",
                                  claim.attempt), lane)

    def _lost(self, claim: Claim, lane: Lane) -> None:
        """A fenced write was refused: the execution was cancelled, another worker took it
        over, or this thread's view of its history was stale."""
        row = self.store.get_execution(claim.execution_id, lane.conn)
        cancelled = row is not None and row.status == ExecutionStatus.CANCELLED
        observing.run_ends_as("cancelled" if cancelled else "lost")
        if cancelled:
            log.info("execution %s (workflow %s) was cancelled; its body is closed",
                     claim.execution_id, claim.workflow,
                     extra=fields(claim.execution_id, claim.workflow))
        else:
            log.warning("execution %s (workflow %s): no longer held by this worker (its lease "
                        "passed to another worker); its body is closed", claim.execution_id,
                        claim.workflow, extra=fields(claim.execution_id, claim.workflow))
        self.hooks.let_go(claim, lane)

    def _perform(self, claim: Claim, ctx: ExecutionContext, pending: Pending,
                 lane: Lane) -> list[Record] | None:
        """Do what ``pending`` asks; its stored records, or None if the thread must let go."""
        command = pending.command
        seq = pending.seq
        store = self.store
        if isinstance(command, Step):
            return self._run_step(claim, ctx, command, seq, pending.records[0], lane)
        stored = pending.records[0]
        conn = lane.conn
        if isinstance(command, Sleep):
            # Woken after suspending on it: one statement when it is due (the usual case).
            if stored is not None and store.resume_due_sleep(claim, seq, command.name, conn):
                return [Record(seq, "sleep", command.name, value="null")]
            scheduled = store.schedule_sleep(claim, seq, command.name, command.seconds,
                                             command.until, conn)
            if scheduled is None:
                self._lost(claim, lane)
                return None
            wake_at, due = scheduled
            if not due:
                store.suspend(claim, wake_at, WaitKind.SLEEP, None, conn)
                self.on_suspend()
                return None
            return self._checkpoint(claim, Record(seq, "sleep", command.name, value="null"),
                                    lane)
        if isinstance(command, WaitEvent):
            if stored is not None:  # woken after suspending on it: the event is likely here
                arrived = store.resume_arrived_event(claim, seq, command.name, conn)
                if arrived is not None:
                    return [Record(seq, "event", command.name, value=arrived[0])]
            waited = store.wait_for_event(claim, seq, command.name, command.timeout, conn)
            if waited is None:
                self._lost(claim, lane)
                return None
            if waited[0] == "waiting":
                self.on_suspend()
                return None
            state, payload = waited
            if state == "received":
                record = Record(seq, "event", command.name, value=payload)
            else:
                record = Record(seq, "event", command.name, ok=False, error=failure(
                    command.name, "EventTimeout",
                    f"event {command.name!r} did not arrive within {command.timeout}s", 1))
            return self._checkpoint(claim, record, lane)
        if isinstance(command, Capture):
            return self._checkpoint(claim, captured(command, seq), lane)
        if isinstance(command, ChildWorkflow):
            started = store.start_child(claim, seq, child_start(claim, command), conn)
            if started is None:
                self._lost(claim, lane)
                return None
            if started is True:
                self.on_suspend()
                return None
            assert isinstance(started, Record)
            return [started]
        assert isinstance(command, Parallel)
        spawned = fan_out(store, claim, command, seq, conn)
        if spawned is False:
            self._lost(claim, lane)
        elif spawned is True:
            self.on_suspend()
        else:
            return spawned
        return None

    def _checkpoint(self, claim: Claim, record: Record, lane: Lane, *, fresh: bool = False,
                    elapsed: float = 0.0) -> list[Record] | None:
        if self.store.checkpoint(claim, record, lane.conn, fresh=fresh, elapsed=elapsed):
            return [record]
        self._lost(claim, lane)
        return None

    # -- steps --------------------------------------------------------------------------

    def _run_step(self, claim: Claim, ctx: ExecutionContext, step: Step, seq: int,
                  record: Record | None, lane: Lane) -> list[Record] | None:
        store = self.store
        rule = self.hooks.holding(claim.workflow, claim.execution_id, step.name)
        while rule is not None:  # suspend in front of it, until the rule lifts
            suspended = store.suspend_paused(claim, rule.id, step.name, lane.conn)
            if suspended is None:  # lifted meanwhile: look again with fresh rules
                rule = self.hooks.holding(claim.workflow, claim.execution_id, step.name,
                                          fresh=True)
                continue
            if suspended:
                log.info("execution %s: step %r is paused by rule %d; suspended in front of it",
                         claim.execution_id, step.name, rule.id,
                         extra=fields(claim.execution_id, claim.workflow, step.name))
                self.on_suspend()
            else:
                self._lost(claim, lane)
            return None
        attempt = 1
        if record is not None:  # a retry was due, or an attempt was cut short
            attempt = record.attempt + 1 if record.status == "pending" else max(record.attempt, 1)
        remaining = None
        if step.timeout is not None:
            remaining = store.begin_attempt(claim, seq, step.name, attempt, step.timeout,
                                            step.timeout_scope, lane.conn)
            if remaining is None:
                self._lost(claim, lane)
                return None
        timed = step.timeout is not None
        fresh = record is None and not timed  # no row at this position yet

        def commit(tx_conn: Connection, value_text: str, elapsed: float) -> bool | None:
            done = Record(seq, "step", step.name, value=value_text, attempt=attempt)
            if timed:  # the database decides whether it came in time
                return store.checkpoint_in_time(claim, done, tx_conn, elapsed=elapsed)
            return store.checkpoint(claim, done, tx_conn, fresh=fresh, elapsed=elapsed)

        step_ctx = ExecutionContext(ctx.execution_id, ctx.workflow, ctx.data, attempt,
                                    step.retry.max_attempts, step.name)
        call = StepCall(step.fn, step.args, step.kwargs, step_ctx, step.transactional,
                        step.timeout, remaining, claim.lease_expiry, step.retry,
                        claim.trace_text)
        result = run_attempt(call, lane, commit)
        if result.fenced:
            self._lost(claim, lane)
            return None
        if result.ok:
            observing.step_outcome(step_ctx, True, None, None, None)
            done = Record(seq, "step", step.name, value=result.value_text, attempt=attempt)
            if result.committed:
                return [done]
            if not timed:
                return self._checkpoint(claim, done, lane, fresh=fresh, elapsed=result.elapsed)
            written = commit(lane.conn, done.value or "null", result.elapsed)
            if written:
                return [done]
            if written is False:
                self._lost(claim, lane)
                return None
            result = AttemptOutcome(False, error=timeout_failure(step_ctx, (
                f"attempt {attempt} finished after the step's deadline; its late result is "
                f"not recorded")), elapsed=result.elapsed)
        error = result.error or {}
        backoff = backoff_delay(error, record.backoffs if record is not None else 0)
        if backoff is not None:  # asked to run again later: suspend, spend no attempt
            observing.step_outcome(step_ctx, False, error, backoff, None)
            log.info("step %r of execution %s asked to run again in %.1fs", step.name,
                     claim.execution_id, backoff,
                     extra=fields(claim.execution_id, claim.workflow, step.name, attempt))
            if store.retry_step_later(claim, seq, step.name, attempt - 1, error, backoff,
                                      lane.conn, elapsed=result.elapsed, backoff=True):
                self.on_suspend()
            else:
                self._lost(claim, lane)
            return None
        delay = retry_delay(step.retry, attempt, error, step.timeout_scope)
        observing.step_outcome(step_ctx, False, error, None, delay)
        log_failed_attempt(claim.execution_id, claim.workflow, step.name, attempt,
                           step.retry.max_attempts, error, delay)
        if delay is not None:
            if store.retry_step_later(claim, seq, step.name, attempt, error, delay, lane.conn,
                                      elapsed=result.elapsed):
                self.on_suspend()
            else:
                self._lost(claim, lane)
            return None
        error["attempts"] = attempt
        return self._checkpoint(claim, Record(seq, "step", step.name, ok=False, error=error,
                                              attempt=attempt), lane, elapsed=result.elapsed)

