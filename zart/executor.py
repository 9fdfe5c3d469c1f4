"""Runs one claimed execution, or one parallel child, in the calling worker thread.

The generator stays alive while the thread holds the execution: each step runs with no
transaction open, its outcome is checkpointed in one fenced statement, and the *stored* form is
sent back in. A sleep, an event wait, a retry delay or a parallel fan-out that cannot be
satisfied now suspends the execution in the database and returns, freeing the thread.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import serde
from .commands import Capture, Parallel, Sleep, Step, WaitEvent
from .completions import ChildCompletions
from .context import ExecutionContext, bound
from .errors import SerializationError, WorkflowDefinitionError, WorkflowNotFound
from .interpreter import Broken, Interpreter, Outcome, Pending, Raised, Record, Returned
from .retry import RetryPolicy
from .store import ChildClaim, ChildOutcome, Claim, Connection, Store
from .workflow import StepFunction, get_workflow

__all__ = ["Executor", "function_ref", "resolve_function"]

log = logging.getLogger("zart")


class _Fenced(Exception):
    """The checkpoint found the claim gone; the step's transaction must roll back."""


class _Abandoned(Exception):
    """A timed-out attempt finished late; its outcome must not be recorded."""


@dataclass(slots=True)
class _Attempt:
    ok: bool
    value_text: str | None = None
    error: dict[str, Any] | None = None
    committed: bool = False
    fenced: bool = False


def function_ref(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of a module-level function, for parallel children; else raise."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise SerializationError(
            f"parallel child {qualname or fn!r} must be a module-level function, so that any "
            f"worker can import it (not a lambda, closure or nested function)")
    ref = f"{module}:{qualname}"
    try:
        resolve_function(ref)
    except Exception as exc:
        raise SerializationError(f"parallel child {ref} cannot be imported by name, so other "
                                 f"workers could not run it: {exc}") from None
    return ref


def resolve_function(ref: str) -> Callable[..., Any]:
    """Import the function named by :func:`function_ref`."""
    module_name, _, qualname = ref.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if isinstance(target, StepFunction):
        target = target.fn
    if not callable(target):
        raise TypeError(f"{ref} is not callable")
    return target  # type: ignore[no-any-return]


def _failure(name: str, kind: str, message: str, attempts: int) -> dict[str, Any]:
    return {"type": kind, "kind": kind, "module": "zart.errors", "message": message,
            "attempts": attempts, "step": name}


class Executor:
    """Drives claimed work to its next suspension; owned by a worker, shared by its threads."""

    def __init__(self, store: Store, *, max_lease_losses: int = 10,
                 should_stop: Callable[[], bool] = lambda: False,
                 on_suspend: Callable[[], None] = lambda: None, lease: float = 30.0,
                 claim_siblings: bool = False) -> None:
        self.store = store
        # A worker's executor claims, with each child's outcome, a sibling for the same thread
        # (the worker then runs it); an executor driven by hand claims nothing it would strand.
        self.claim_siblings = claim_siblings
        self.max_lease_losses = max_lease_losses
        self.should_stop = should_stop
        self.on_suspend = on_suspend
        self.completions = ChildCompletions(store, lease)

    # -- executions -----------------------------------------------------------------------

    def run_execution(self, claim: Claim, conn: Connection) -> None:
        """Run ``claim`` until it completes, fails, suspends or is lost."""
        store = self.store
        if claim.lost_leases > self.max_lease_losses:
            store.fail(claim, _failure("", "LeaseLost", (
                f"the execution lost its worker {claim.lost_leases} times (crashes or stalls "
                f"past the lease); giving up after {self.max_lease_losses}"), claim.attempt), conn)
            return
        if claim.expired:
            self._time_out(claim, conn)
            return
        try:
            workflow = get_workflow(claim.workflow)
        except WorkflowNotFound as exc:  # claims filter on registered names; defensive
            store.release(claim, conn)
            log.error("%s", exc)
            return
        data = serde.loads(claim.input_text)
        deadline = None if claim.remaining is None else time.monotonic() + claim.remaining
        history = store.load_history(claim.execution_id, conn) if claim.has_history else []
        ctx = ExecutionContext(claim.execution_id, claim.workflow, data, claim.attempt,
                               claim.max_attempts)
        interpreter = Interpreter(workflow(data), history)
        with bound(ctx):
            try:
                self._drive(claim, ctx, interpreter, deadline, conn)
            finally:
                # The body ends here for this thread (done, suspended, cancelled or lost):
                # close it now rather than whenever the garbage collector gets to it.
                interpreter.close()

    def _drive(self, claim: Claim, ctx: ExecutionContext, interpreter: Interpreter,
               deadline: float | None, conn: Connection) -> None:
        store = self.store
        outcome: Outcome | None = interpreter.start()
        while outcome is not None:
            if isinstance(outcome, Pending):
                if deadline is not None and time.monotonic() >= deadline:
                    self._time_out(claim, conn)
                    return
                if self.should_stop():
                    store.release(claim, conn)
                    return
                try:
                    records = self._perform(claim, ctx, outcome, conn)
                except (WorkflowDefinitionError, SerializationError) as exc:
                    # The command cannot be carried out as written (e.g. a parallel child
                    # that cannot be stored): a bug in the workflow, so the execution fails.
                    log.error("execution %s: %s", claim.execution_id, exc)
                    store.fail(claim, serde.encode_error(exc), conn)
                    return
                if records is None:
                    return
                outcome = interpreter.resume(records)
            else:
                self._finish(claim, interpreter, outcome, conn)
                outcome = None

    def _finish(self, claim: Claim, interpreter: Interpreter, outcome: Outcome,
                conn: Connection) -> None:
        store = self.store
        if isinstance(outcome, Returned):
            try:
                result_text = serde.dumps(outcome.value, what=f"the result of workflow "
                                                               f"{claim.workflow!r}")
            except SerializationError as exc:
                store.fail(claim, serde.encode_error(exc), conn)
                return
            if not store.complete(claim, result_text, conn):
                self._lost(claim)
        elif isinstance(outcome, Broken):
            log.error("execution %s: %s", claim.execution_id, outcome.error)
            store.fail(claim, serde.encode_error(outcome.error), conn)
        elif isinstance(outcome, Raised):
            error = serde.encode_error(outcome.error, attempts=claim.attempt)
            delay = claim.retry.delay_before(claim.attempt + 1)
            if delay is not None:
                store.retry_workflow(claim, error, delay, outcome.from_seq, conn)
                self.on_suspend()
            else:
                store.fail(claim, error, conn)

    def _time_out(self, claim: Claim, conn: Connection) -> None:
        """Fail an execution whose workflow timeout has passed."""
        self.store.fail(claim, _failure("", "WorkflowTimeout", "the workflow's timeout passed",
                                        claim.attempt), conn)

    @staticmethod
    def _lost(claim: Claim) -> None:
        """The fence refused a write: the execution was cancelled or another worker owns it."""
        log.warning("execution %s: no longer held by this worker (cancelled, or its lease "
                    "passed to another worker); its body is closed", claim.execution_id)

    def _perform(self, claim: Claim, ctx: ExecutionContext, pending: Pending,
                 conn: Connection) -> list[Record] | None:
        """Do what ``pending`` asks; its stored records, or None if the thread must let go."""
        command = pending.command
        seq = pending.seq
        store = self.store
        if isinstance(command, Step):
            return self._run_step(claim, ctx, command, seq, pending.records[0], conn)
        stored = pending.records[0]
        if isinstance(command, Sleep):
            # Woken after suspending on it: one statement when it is due (the usual case).
            if stored is not None and store.resume_due_sleep(claim, seq, command.name, conn):
                return [Record(seq, "sleep", command.name, value="null")]
            scheduled = store.schedule_sleep(claim, seq, command.name, command.seconds,
                                             command.until, conn)
            if scheduled is None:
                return None
            wake_at, due = scheduled
            if not due:
                store.suspend(claim, wake_at, None, conn)
                self.on_suspend()
                return None
            return self._checkpoint(claim, Record(seq, "sleep", command.name, value="null"),
                                    conn)
        if isinstance(command, WaitEvent):
            if stored is not None:  # woken after suspending on it: the event is likely here
                arrived = store.resume_arrived_event(claim, seq, command.name, conn)
                if arrived is not None:
                    return [Record(seq, "event", command.name, value=arrived[0])]
            waited = store.wait_for_event(claim, seq, command.name, command.timeout, conn)
            if waited is None or waited[0] == "waiting":
                self.on_suspend()
                return None
            state, payload = waited
            if state == "received":
                record = Record(seq, "event", command.name, value=payload)
            else:
                record = Record(seq, "event", command.name, ok=False, error=_failure(
                    command.name, "EventTimeout",
                    f"event {command.name!r} did not arrive within {command.timeout}s", 1))
            return self._checkpoint(claim, record, conn)
        if isinstance(command, Capture):
            try:
                record = Record(seq, "capture", command.name,
                                value=serde.dumps(command.fn(), what=f"capture {command.name!r}"))
            except Exception as exc:
                record = Record(seq, "capture", command.name, ok=False,
                                error=serde.encode_error(exc))
            return self._checkpoint(claim, record, conn)
        assert isinstance(command, Parallel)
        return self._fan_out(claim, command, seq, conn)

    def _checkpoint(self, claim: Claim, record: Record, conn: Connection, *,
                    fresh: bool = False) -> list[Record] | None:
        if self.store.checkpoint(claim, record, conn, fresh=fresh):
            return [record]
        self._lost(claim)
        return None

    def _fan_out(self, claim: Claim, command: Parallel, seq: int,
                 conn: Connection) -> list[Record] | None:
        children = []
        for child in command.steps:
            args = serde.dumps({"args": list(child.args), "kwargs": dict(child.kwargs)},
                               what=f"the arguments of parallel child {child.name!r}")
            children.append({
                "name": child.name, "fn": function_ref(child.fn), "args": args,
                "options": serde.dumps({"retry": child.retry.to_json(), "timeout": child.timeout,
                                        "timeout_scope": child.timeout_scope,
                                        "transactional": child.transactional})})
        done = self.store.spawn_children(claim, seq, children, conn)
        if not done:
            self.on_suspend()
            return None
        by_seq = {r.seq: r for r in self.store.load_history(claim.execution_id, conn)}
        return [by_seq[seq + i] for i in range(len(children))]

    # -- steps --------------------------------------------------------------------------

    def _run_step(self, claim: Claim, ctx: ExecutionContext, step: Step, seq: int,
                  record: Record | None, conn: Connection) -> list[Record] | None:
        store = self.store
        attempt = 1
        if record is not None:  # a retry was due, or an attempt was cut short by a crash
            attempt = record.attempt + 1 if record.status == "pending" else max(record.attempt, 1)
        remaining = None
        if step.timeout is not None:
            remaining = store.begin_attempt(claim, seq, step.name, attempt, step.timeout,
                                            step.timeout_scope, conn)
            if remaining is None:
                return None
        step_ctx = ExecutionContext(ctx.execution_id, ctx.workflow, ctx.data, attempt,
                                    step.retry.max_attempts, step.name)

        fresh = record is None and step.timeout is None  # no row at this position yet

        def commit(tx_conn: Connection, value_text: str) -> bool:
            return store.checkpoint(claim, Record(seq, "step", step.name, value=value_text,
                                                  attempt=attempt), tx_conn, fresh=fresh)

        result = self._attempt(step.fn, step.args, dict(step.kwargs), step_ctx, remaining,
                               step.transactional, conn, commit, step.timeout or 0.0)
        if result.fenced:
            return None
        if result.ok:
            record = Record(seq, "step", step.name, value=result.value_text, attempt=attempt)
            if result.committed:
                return [record]
            return self._checkpoint(claim, record, conn, fresh=fresh)
        error = result.error or {}
        delay = self._retry_delay(step.retry, attempt, error, step.timeout_scope)
        if delay is not None:
            if store.retry_step_later(claim, seq, step.name, attempt, error, delay, conn):
                self.on_suspend()
            return None
        error["attempts"] = attempt
        return self._checkpoint(claim, Record(seq, "step", step.name, ok=False, error=error,
                                              attempt=attempt), conn)

    @staticmethod
    def _retry_delay(retry: RetryPolicy, attempt: int, error: dict[str, Any],
                     scope: str) -> float | None:
        if error.get("kind") == "StepTimeout" and scope == "global":
            return None  # the one deadline of every attempt has passed
        return retry.delay_before(attempt + 1)

    def _attempt(self, fn: Callable[..., Any], args: tuple[Any, ...] | list[Any],
                 kwargs: dict[str, Any], ctx: ExecutionContext, remaining: float | None,
                 transactional: bool, conn: Connection,
                 commit: Callable[[Connection, str], bool], timeout: float) -> _Attempt:
        """One attempt of a step: call it, encode its outcome, commit it if transactional."""
        if remaining is None:
            return self._call(fn, args, kwargs, ctx, transactional, conn, commit, None)
        if remaining <= 0:
            return _Attempt(False, error=_failure(ctx.step or "", "StepTimeout", (
                f"the step's deadline ({timeout}s) passed before attempt {ctx.attempt} "
                f"started"), ctx.attempt))
        guard = _Guard()
        box: list[_Attempt] = []

        def work() -> None:
            if transactional:  # the worker keeps its own connection: take another
                with self.store.connection() as own:
                    box.append(self._call(fn, args, kwargs, ctx, True, own, commit, guard))
            else:
                box.append(self._call(fn, args, kwargs, ctx, False, conn, commit, guard))
            guard.done.set()

        thread = threading.Thread(target=work, name=f"zart-step-{ctx.step}", daemon=True)
        thread.start()
        finished = guard.done.wait(remaining)
        with guard.lock:
            if finished or box:
                return box[0]
            guard.abandoned = True
        return _Attempt(False, error=_failure(ctx.step or "", "StepTimeout", (
            f"attempt {ctx.attempt} ran past the step's timeout of {timeout}s; it was abandoned "
            f"and its late result will not be recorded"), ctx.attempt))

    @staticmethod
    def _call(fn: Callable[..., Any], args: tuple[Any, ...] | list[Any],
              kwargs: dict[str, Any], ctx: ExecutionContext, transactional: bool,
              conn: Connection, commit: Callable[[Connection, str], bool],
              guard: _Guard | None) -> _Attempt:
        what = f"the result of step {ctx.step!r}"
        if not transactional:
            try:
                with bound(ctx):
                    value = fn(*args, **kwargs)
                return _Attempt(True, serde.dumps(value, what=what))
            except Exception as exc:
                return _Attempt(False, error=serde.encode_error(exc, attempts=ctx.attempt))
        locked = False
        try:
            with conn.transaction():
                with bound(ctx, connection=conn):
                    value = fn(*args, **kwargs)
                text = serde.dumps(value, what=what)
                if guard is not None:
                    guard.lock.acquire()
                    locked = True
                    if guard.abandoned:
                        raise _Abandoned()
                if not commit(conn, text):
                    raise _Fenced()
            return _Attempt(True, text, committed=True)
        except (_Fenced, _Abandoned):  # either way, nothing of this attempt is recorded
            return _Attempt(False, fenced=True)
        except Exception as exc:
            if conn.broken:
                raise
            return _Attempt(False, error=serde.encode_error(exc, attempts=ctx.attempt))
        finally:
            if locked and guard is not None:
                guard.lock.release()

    # -- parallel children ----------------------------------------------------------------

    def run_child(self, child: ChildClaim, conn: Connection) -> ChildClaim | None:
        """Run one attempt of a parallel child and record its outcome (or its retry).

        Returns a sibling claimed in the same commit as the outcome, for this thread to run
        next (None: none was due, or the worker is stopping).
        """
        store = self.store
        options = child.options
        retry = RetryPolicy.from_json(options.get("retry"))
        if child.lost_leases > self.max_lease_losses:
            return self._complete_child(child, False, None, _failure(
                child.name, "LeaseLost", f"the step lost its worker {child.lost_leases} times",
                child.attempt), conn)
        try:
            fn = resolve_function(child.fn)
        except Exception as exc:
            return self._complete_child(child, False, None, serde.encode_error(exc), conn)
        call = serde.loads(child.args_text)
        ctx = ExecutionContext(child.execution_id, child.workflow,
                               serde.loads(child.input_text), child.attempt,
                               retry.max_attempts, child.name)

        def commit(tx_conn: Connection, value_text: str) -> bool:
            return store.complete_child(child, True, value_text, None, tx_conn)

        result = self._attempt(fn, call["args"], call["kwargs"], ctx, child.remaining,
                               bool(options.get("transactional")), conn, commit,
                               float(options.get("timeout") or 0.0))
        if result.fenced or result.committed:
            return None
        if result.ok:
            return self._complete_child(child, True, result.value_text, None, conn)
        error = result.error or {}
        delay = self._retry_delay(retry, child.attempt, error,
                                  str(options.get("timeout_scope", "global")))
        if delay is not None:
            store.retry_child_later(child, error, delay, conn)
            self.on_suspend()
            return None
        error["attempts"] = child.attempt
        return self._complete_child(child, False, None, error, conn)

    def _complete_child(self, child: ChildClaim, ok: bool, value_text: str | None,
                        error: dict[str, Any] | None, conn: Connection) -> ChildClaim | None:
        """Record a child's outcome outside a transaction of its own (batched with its
        siblings finishing at the same moment on this worker's other threads); a sibling
        claimed to run next, if any."""
        claim_next = self.claim_siblings and not self.should_stop()
        accepted, following = self.completions.complete(
            ChildOutcome(child, ok, value_text, error), conn, claim_next=claim_next)
        if not accepted:
            log.info("parallel child %s of execution %s: no longer held by this worker "
                     "(its lease passed to another); its outcome is dropped", child.name,
                     child.execution_id)
        return following


class _Guard:
    """Orders a timed-out attempt's late commit against the waiter giving up on it."""

    __slots__ = ("abandoned", "done", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.abandoned = False
