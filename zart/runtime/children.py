"""Runs one attempt of a parallel child in the calling worker thread and records its outcome.

A child is an ordinary step that any worker may run (ARCHITECTURE invariant 9): its function is
found by its registered step name, its arguments come from the database, and its outcome is
recorded together with those of siblings finishing at the same moment on this worker
(:mod:`.completions`), the parent's barrier decided in the same statement.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Callable
from typing import Any

from .. import serde
from ..commands import MAX_NAME_LENGTH, ChildWorkflow
from ..context import ExecutionContext
from ..errors import SerializationError
from ..retry import RetryPolicy
from ..store import ChildClaim, ChildOutcome, Claim, Connection
from ..workflow import StepFunction, get_step, get_workflow, registered_steps, step_key
from . import observing
from .attempts import LeaseExpired, StepCall, run_attempt
from .completions import ChildCompletions
from .hooks import Hooks, backoff_delay, failure, log_failed_attempt, retry_delay
from .lanes import Lane

__all__ = ["ChildRunner", "child_start", "derived_child_id", "function_ref", "known_refs",
           "resolve_function"]

log = logging.getLogger(__name__)


def function_ref(fn: Callable[..., Any]) -> str:
    """The name a parallel child's function is stored under: its registered step name."""
    key = step_key(fn)
    if key is None:
        raise SerializationError(
            f"parallel child {getattr(fn, '__qualname__', fn)!r} must be a module-level "
            f"@zart.step function, so that any worker can find it by its registered name "
            f"(not a lambda, closure, nested or undecorated function)")
    return key


def resolve_function(ref: str) -> Callable[..., Any]:
    """The function of a stored child: a registered step name, or (children stored by zart's
    first schema version) the ``module:qualname`` it was imported by."""
    definition = get_step(ref)
    if definition is not None:
        return definition.fn
    module_name, colon, qualname = ref.partition(":")
    if not colon:
        raise LookupError(f"no step is registered as {ref!r} in this worker")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if isinstance(target, StepFunction):
        target = target.fn
    if not callable(target):
        raise TypeError(f"{ref} is not callable")
    return target  # type: ignore[no-any-return]


def child_start(parent: Claim, command: ChildWorkflow) -> dict[str, Any]:
    """What starting the child workflow of ``command`` takes: its id (by default derived from
    the parent's id, run and the command's name, so a replay never starts a second child),
    its input and its workflow's settings (the workflow must be registered here)."""
    workflow = get_workflow(command.workflow)
    child_id = command.id or derived_child_id(parent.execution_id, command.name, parent.run)
    return {"name": command.name, "child": child_id, "workflow": workflow.name,
            "input": serde.dumps(command.data, what=f"the input of child workflow "
                                                    f"{command.name!r}"),
            "max_attempts": workflow.retry.max_attempts,
            "retry": serde.dumps(workflow.retry.to_json()), "timeout": workflow.timeout}


def derived_child_id(parent_id: str, name: str, run: int) -> str:
    """``<parent>/<name>`` (``@run<n>`` after a restart or a rerun); hashed when too long."""
    full = f"{parent_id}/{name}" + (f"@run{run}" if run > 1 else "")
    if len(full) <= MAX_NAME_LENGTH:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:32]
    return f"{name[:MAX_NAME_LENGTH - 34]}/{digest}"


def known_refs() -> list[str]:
    """Every stored name of a child this process can run: the registered step names, and the
    ``module:qualname`` form children stored by the first schema version carry."""
    refs = []
    for name, definition in registered_steps().items():
        refs.append(name)
        refs.append(f"{definition.fn.__module__}:{definition.fn.__qualname__}")
    return refs


class ChildRunner:
    """Runs parallel children for a worker's (or a test's) executor.

    ``claim_siblings``: a worker's runner claims, with each child's outcome, a sibling for the
    same thread; one driven by hand claims nothing it would strand.
    """

    def __init__(self, hooks: Hooks, completions: ChildCompletions,
                 claim_siblings: bool) -> None:
        self.hooks = hooks
        self.completions = completions
        self.claim_siblings = claim_siblings

    def run_child(self, child: ChildClaim, conn: Connection | Lane) -> ChildClaim | None:
        """Run one attempt of a parallel child and record its outcome (or its retry).

        Returns a sibling claimed in the same commit as the outcome, for this thread to run
        next (None: none was due, or the worker is stopping).
        """
        lane = conn if isinstance(conn, Lane) else Lane(self.hooks.store, given=conn)
        store = self.hooks.store
        if (self.hooks.holding(child.workflow, child.execution_id, child.name) is not None
                and self.hooks.holding(child.workflow, child.execution_id, child.name,
                                       fresh=True) is not None):
            # Paused since it was claimed: back, unrun; claims leave it alone while the rule
            # holds it, and lifting the rule announces it.
            store.release_child(child, lane.conn)
            return None
        options = child.options
        retry = RetryPolicy.from_json(options.get("retry"))
        if child.lost_leases > self.hooks.max_lease_losses:
            return self._complete_child(child, False, None, failure(
                child.name, "LeaseLost", f"the step lost its worker {child.lost_leases} times",
                child.attempt), lane)
        try:
            fn = resolve_function(child.fn)
        except Exception as exc:
            return self._complete_child(child, False, None, serde.encode_error(exc), lane)
        args = serde.loads(child.args_text)
        ctx = ExecutionContext(child.execution_id, child.workflow,
                               serde.loads(child.input_text), child.attempt,
                               retry.max_attempts, child.name)

        def commit(tx_conn: Connection, value_text: str, elapsed: float) -> bool:
            return store.complete_child(child, True, value_text, None, tx_conn)

        call = StepCall(fn, args["args"], args["kwargs"], ctx,
                        bool(options.get("transactional")),
                        options.get("timeout"), child.remaining, child.lease_expiry, retry,
                        child.trace_text)
        try:
            result = run_attempt(call, lane, commit)
        except LeaseExpired:
            log.info("parallel child %s of execution %s: this worker's lease ran out by its "
                     "own clock (a pause?); handing it back", child.name, child.execution_id)
            self.hooks.let_go(child, lane)
            return None
        if result.fenced:
            observing.lease_lost(child.execution_id)
            self.hooks.on_lost(child)
            return None
        if result.committed:
            return None
        if result.ok:
            observing.step_outcome(ctx, True, None, None, None)
            return self._complete_child(child, True, result.value_text, None, lane)
        error = result.error or {}
        backoff = backoff_delay(error, child.backoffs)
        if backoff is not None:  # asked to run again later: spend no attempt
            observing.step_outcome(ctx, False, error, backoff, None)
            if not store.retry_child_later(child, error, backoff, lane.conn, backoff=True):
                self.hooks.on_lost(child)
            self.hooks.on_suspend()
            return None
        delay = retry_delay(retry, child.attempt, error,
                             str(options.get("timeout_scope", "global")))
        observing.step_outcome(ctx, False, error, None, delay)
        log_failed_attempt(child.execution_id, child.workflow, child.name, child.attempt,
                           retry.max_attempts, error, delay)
        if delay is not None:
            if not store.retry_child_later(child, error, delay, lane.conn):
                self.hooks.on_lost(child)
            self.hooks.on_suspend()
            return None
        error["attempts"] = child.attempt
        return self._complete_child(child, False, None, error, lane)

    def _complete_child(self, child: ChildClaim, ok: bool, value_text: str | None,
                        error: dict[str, Any] | None, lane: Lane) -> ChildClaim | None:
        """Record a child's outcome outside a transaction of its own (batched with its
        siblings finishing at the same moment on this worker's other threads); a sibling
        claimed to run next, if any."""
        claim_next = self.claim_siblings and not self.hooks.should_stop()
        accepted, following = self.completions.complete(
            ChildOutcome(child, ok, value_text, error), lane.conn, claim_next=claim_next)
        if not accepted:
            log.info("parallel child %s of execution %s: no longer held by this worker "
                     "(its lease passed to another); its outcome is dropped", child.name,
                     child.execution_id)
            self.hooks.on_lost(child)
        return following
