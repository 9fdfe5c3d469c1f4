"""One attempt of a step function: plain, transactional or timed, and what came of it.

Three rules decide what an attempt's outcome is, because an execution may only fail for its own
code's sake (ARCHITECTURE invariants 10 and 11):

- Whatever the step's own code raises, ``BaseException``s included (``SystemExit`` from
  argparse, ``asyncio.CancelledError``), is the step's failure, recorded and retried by its
  policy; a worker thread never dies of it. The one exception is a ``KeyboardInterrupt`` in the
  main thread: that is the user's Ctrl-C, not the step's.
- A value that cannot be stored is a failure that is never retried: retrying would run the
  side effect again for a result that can never be stored either.
- What zart's own statements raise, and a step whose transaction lost its connection, are
  infrastructure faults: :class:`zart.DatabaseUnavailable` is raised to the worker, which hands
  the work back; nothing is recorded and the attempt runs again.

A timed attempt runs in a helper thread (Python cannot stop a thread; a timed-out attempt is
abandoned). A transactional one runs on the worker thread's own connection: if it is abandoned,
the worker thread takes a fresh connection from the pool and the abandoned attempt returns the
old one when it ends, so a worker never needs two connections per thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from .. import faults, serde
from ..context import ExecutionContext, bound
from ..errors import DatabaseUnavailable, RetryAfter, SerializationError
from ..interpreter import is_user_interrupt
from ..retry import NO_RETRY, RetryPolicy
from ..store import Connection
from . import observing
from .lanes import Lane

__all__ = ["AttemptOutcome", "LeaseExpired", "StepCall", "run_attempt", "timeout_failure"]

Commit = Callable[[Connection, str, float], bool | None]
"""Records a transactional attempt's value (and how long it took) inside its transaction;
False: fenced out; None: too late, the attempt's deadline passed (by the database's clock)."""


class LeaseExpired(Exception):
    """This worker can no longer know that it holds the work (its lease ran out by its own
    clock: a pause, a frozen VM, a stalled heartbeat); it must not start the step."""


@dataclass(slots=True)
class AttemptOutcome:
    """What one attempt came to: a value, or an error dict to record (``ok`` False).

    ``committed``: a transactional attempt's checkpoint committed with its writes.
    ``fenced``: nothing of the attempt was recorded (the claim lost the work, or the attempt
    was abandoned and finished late).
    """

    ok: bool
    value_text: str | None = None
    error: dict[str, Any] | None = None
    committed: bool = False
    fenced: bool = False
    elapsed: float = 0.0
    """Seconds the step's code ran."""


@dataclass(slots=True)
class StepCall:
    """Everything one attempt needs: the function, its arguments and context, and how it runs."""

    fn: Callable[..., Any]
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    ctx: ExecutionContext
    transactional: bool
    timeout: float | None
    remaining: float | None
    """Seconds left before the attempt's deadline (None: no timeout)."""
    expires: Callable[[], float]
    """The monotonic time this worker's lease on the work runs out, by its own clock."""
    retry: RetryPolicy = NO_RETRY
    """Decides which of the step's own errors are never retried."""
    trace: str | None = None
    """What observers stored with the execution when it started (JSON), for their spans."""


class _Fenced(Exception):
    """The checkpoint found the claim gone; the step's transaction must roll back."""


class _Abandoned(Exception):
    """A timed-out attempt finished late; its outcome must not be recorded."""


class _CheckpointFailed(Exception):
    """zart's own checkpoint statement failed inside the step's transaction: infrastructure."""


class _Overdue(Exception):
    """A timed attempt finished after its deadline: its transaction rolls back, it timed
    out."""


def timeout_failure(ctx: ExecutionContext, message: str) -> dict[str, Any]:
    """The error recorded for an attempt that ran past (or started after) its deadline."""
    return {"type": "StepTimeout", "kind": "StepTimeout", "module": "zart.errors",
            "message": message, "attempts": ctx.attempt, "step": ctx.step}


def run_attempt(call: StepCall, lane: Lane, commit: Commit) -> AttemptOutcome:
    """Run one attempt of ``call`` on ``lane``; raises :class:`DatabaseUnavailable` for
    infrastructure faults and :class:`LeaseExpired` when it must not start at all."""
    if faults.step_hook is not None:  # zart.testing's doubles and crashes; None in production
        call.fn = faults.step_hook(lane.schema, call.ctx, call.fn)
    if call.remaining is None:
        return _call(call, lane.conn, commit, None)
    if call.remaining <= 0:
        return AttemptOutcome(False, error=timeout_failure(call.ctx, (
            f"the step's deadline ({call.timeout}s) passed before attempt {call.ctx.attempt} "
            f"started")))
    return _timed(call, lane, commit)


def _check_lease(call: StepCall) -> None:
    # Checked as late as possible, right before the step's code runs (after a transactional
    # step's BEGIN, not before its round trip): past this point only a worker frozen in the
    # few microseconds left could still start a step someone else finished.
    if time.monotonic() >= call.expires():
        raise LeaseExpired()


def _timed(call: StepCall, lane: Lane, commit: Commit) -> AttemptOutcome:
    assert call.remaining is not None
    guard = _Guard(time.monotonic() + call.remaining)
    conn = lane.conn

    def work() -> None:
        try:
            guard.outcome = _call(call, conn, commit, guard)
        except BaseException as exc:  # handed to the waiting thread, never lost with this one
            guard.raised = exc
        finally:
            with guard.lock:
                guard.finished = True
                abandoned = guard.abandoned
            guard.done.set()
            if abandoned and call.transactional:
                lane.return_abandoned(conn)

    thread = threading.Thread(target=work, name=f"zart-step-{call.ctx.step}", daemon=True)
    thread.start()
    guard.done.wait(call.remaining)
    with guard.lock:
        # An attempt already committing its checkpoint is let finish: its outcome stands.
        if not guard.finished and not guard.committing:
            guard.abandoned = True
    if guard.abandoned:
        if call.transactional:
            lane.abandon()  # the attempt keeps its connection; this thread takes another
        return _timed_out(call)
    guard.done.wait()
    if guard.raised is not None:
        raise guard.raised
    assert guard.outcome is not None
    if guard.outcome.ok and not guard.outcome.committed and guard.late:
        # Its function returned after the deadline (the process was paused, say, and both
        # woke together): a late result is never recorded.
        return _timed_out(call)
    return guard.outcome


def _timed_out(call: StepCall) -> AttemptOutcome:
    return AttemptOutcome(False, error=timeout_failure(call.ctx, (
        f"attempt {call.ctx.attempt} ran past the step's timeout of {call.timeout}s; it was "
        f"abandoned and its late result will not be recorded")))


def _call(call: StepCall, conn: Connection, commit: Commit,
          guard: _Guard | None) -> AttemptOutcome:
    ctx = call.ctx
    started = time.monotonic()
    if not call.transactional:
        _check_lease(call)
        try:
            with bound(ctx):
                value = observing.attempt(ctx, call.fn, call.args, call.kwargs, call.trace)
        except BaseException as exc:
            if is_user_interrupt(exc):
                raise
            return _failed(call, exc, time.monotonic() - started)
        if guard is not None:
            guard.returned()
        return _encoded(value, ctx, time.monotonic() - started)
    try:
        with conn.transaction():
            _check_lease(call)
            with bound(ctx, connection=conn):
                value = observing.attempt(ctx, call.fn, call.args, call.kwargs, call.trace)
            outcome = _encoded(value, ctx, time.monotonic() - started)
            if not outcome.ok:
                raise _Unstorable(outcome)
            assert outcome.value_text is not None
            if guard is not None:
                guard.returned()
                with guard.lock:
                    if guard.abandoned:
                        raise _Abandoned()
                    if guard.late:
                        raise _Overdue()
                    guard.committing = True  # from here on the waiter no longer abandons it
            try:
                recorded = commit(conn, outcome.value_text, outcome.elapsed)
            except BaseException as exc:
                raise _CheckpointFailed() from exc
            if recorded is None:
                raise _Overdue()
            if not recorded:
                raise _Fenced()
        outcome.committed = True
        return outcome
    except LeaseExpired:  # raised before the step's code: its (empty) transaction rolled back
        raise
    except (_Fenced, _Abandoned):  # either way, nothing of this attempt is recorded
        return AttemptOutcome(False, fenced=True)
    except _Overdue:  # its writes rolled back with it: it timed out
        return _timed_out(call)
    except _Unstorable as unstorable:  # its writes rolled back with it
        return unstorable.outcome
    except _CheckpointFailed as failed:
        cause = failed.__cause__
        assert cause is not None
        if isinstance(cause, DatabaseUnavailable):
            raise cause from None
        raise DatabaseUnavailable(f"the checkpoint of step {ctx.step!r} failed: "
                                  f"{type(cause).__name__}: {cause}") from cause
    except BaseException as exc:
        if is_user_interrupt(exc):
            raise
        if conn.broken or conn.closed:
            raise DatabaseUnavailable(f"the connection of transactional step {ctx.step!r} was "
                                      f"lost: {type(exc).__name__}: {exc}") from exc
        if isinstance(exc, psycopg.errors.QueryCanceled) and "user request" in str(exc):
            # Cancelled from outside (pg_cancel_backend: an operator, a failover tool): an
            # infrastructure fault on zart's connection. A statement or lock timeout stays
            # the step's own failure: its query was too slow, and its retry policy decides.
            raise DatabaseUnavailable(f"a statement of transactional step {ctx.step!r} was "
                                      f"cancelled from outside: {exc}") from exc
        return _failed(call, exc, time.monotonic() - started)


def _failed(call: StepCall, exc: BaseException, elapsed: float) -> AttemptOutcome:
    """The step's own exception as the failure to record; marked never to be retried when
    its policy (or the exception itself) says so."""
    error = serde.encode_error(exc, attempts=call.ctx.attempt)
    if isinstance(exc, RetryAfter):  # not a failure: a request to run again later
        error["retry_after"] = exc.delay
        error.pop("traceback", None)
    elif not call.retry.retries_error(exc):
        error["retryable"] = False
    return AttemptOutcome(False, error=error, elapsed=elapsed)


def _encoded(value: Any, ctx: ExecutionContext, elapsed: float) -> AttemptOutcome:
    """A value's stored form, or the never-retried failure naming why it cannot be stored."""
    try:
        return AttemptOutcome(True, serde.dumps(value, what=f"the result of step {ctx.step!r}"),
                              elapsed=elapsed)
    except SerializationError as exc:
        error = serde.encode_error(exc, attempts=ctx.attempt)
        error["retryable"] = False
        error.pop("traceback", None)  # the message says it all; the trace is zart's own
        return AttemptOutcome(False, error=error, elapsed=elapsed)


class _Unstorable(Exception):
    """A transactional attempt's value cannot be stored: roll its writes back, record why."""

    def __init__(self, outcome: AttemptOutcome) -> None:
        super().__init__()
        self.outcome = outcome


class _Guard:
    """Orders a timed attempt's end (or late commit) against the waiter giving up on it."""

    __slots__ = ("abandoned", "committing", "deadline", "done", "finished", "late", "lock",
                 "outcome", "raised")

    def __init__(self, deadline: float) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.deadline = deadline
        """The attempt's deadline by this process's monotonic clock."""
        self.abandoned = False
        self.committing = False
        self.finished = False
        self.late = False
        self.outcome: AttemptOutcome | None = None
        self.raised: BaseException | None = None

    def returned(self) -> None:
        """The step's function has just returned: was that after the deadline?"""
        self.late = time.monotonic() > self.deadline
