"""Replay one recorded history against today's code, without running any step, and say
whether (and where) the two part.

Replay is what a worker does when it resumes an execution: the body runs again from the top and
each recorded outcome is fed back at its ``yield``. Nothing is executed for a command but the
body's own code between ``yield`` s: steps, captures, sleeps and waits all answer from the
history. The check stops where the history stops (the execution's next command) and reports
what the next run of the execution would meet: a divergence (:class:`zart.NonDeterminismError`
and its kin), code that now stops, raises or goes on where the history says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..commands import Key
from ..constants import ExecutionStatus
from ..context import ExecutionContext, bound
from ..interpreter import Broken, Interpreter, Outcome, Pending, Raised, Record, Returned
from ..versioning import is_marker
from ..workflow import Workflow

__all__ = ["Checked", "Divergence", "check_history"]


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where an execution's history and today's code part, and how.

    ``position`` is the first position where they disagree; ``recorded`` the whole history as
    (position, kind, name); ``code`` what the code does at ``position`` (``"step
    'fraud-check'"``, ``"returns"``, ``"raises ValueError: ..."``, ``"stops"``) and
    ``yielded`` the key it yields there, if any.
    """

    execution_id: str
    workflow: str
    status: str
    position: int
    error: str
    """The kind of breakage: the error a worker would meet (NonDeterminismError, ...)."""
    reason: str
    code: str
    yielded: Key | None
    recorded: tuple[tuple[int, str, str], ...]

    @property
    def signature(self) -> tuple[str, int, str, str]:
        """What two executions broken the same way share (to print one diff for both)."""
        at = next((f"{k} {n}" for s, k, n in self.recorded if s == self.position), "")
        return self.workflow, self.position, at, self.code


@dataclass(frozen=True, slots=True)
class Checked:
    """The check of one execution: how many recorded commands it replayed, where the replay
    ended (``outcome``: the code returned, waits on its next command, raised, or broke) and
    its divergence, if any."""

    commands: int
    outcome: Outcome
    divergence: Divergence | None = None


def check_history(workflow: Workflow, execution_id: str, status: str, data: Any,
                  history: Sequence[Record], attempt: int = 1) -> Checked:
    """Replay ``history`` (the execution ``execution_id``, now ``status``, started with
    ``data``, its body at ``attempt``) against ``workflow`` as the code defines it today."""
    ctx = ExecutionContext(execution_id, workflow.name, data, attempt,
                           workflow.retry.max_attempts)
    with bound(ctx):
        interpreter = Interpreter(workflow(data), history)
        try:
            outcome = interpreter.start()
        finally:
            interpreter.close()
    replayed = min(interpreter.position, len(history))

    def diverged(position: int, error: str, reason: str, code: str,
                 yielded: Key | None = None) -> Checked:
        recorded = tuple((r.seq, r.kind, r.name) for r in sorted(history, key=_seq))
        return Checked(min(position, replayed), outcome, Divergence(
            execution_id, workflow.name, status, position, error, reason, code, yielded,
            recorded))

    if isinstance(outcome, Broken):
        code = "returns" if outcome.yielded is None else describe(*outcome.yielded)
        return diverged(outcome.seq, type(outcome.error).__name__, str(outcome.error), code,
                        outcome.yielded)
    if isinstance(outcome, Returned):
        return Checked(replayed, outcome)
    completed = status == ExecutionStatus.COMPLETED
    if isinstance(outcome, Pending):
        end = outcome.seq + len(outcome.command.keys)
        further = _first_after(history, end)
        key = outcome.command.keys[0] if outcome.command.keys else None
        waits = "its next command" if key is None else describe(*key)
        if further is not None:
            return diverged(further.seq, "NonDeterminismError", (
                f"the code now stops at position {outcome.seq} waiting on {waits}, but the "
                f"history recorded {describe(further.kind, further.name)} at position "
                f"{further.seq} after it"), "stops")
        if completed:
            return diverged(outcome.seq, "NonDeterminismError", (
                f"the execution completed after {len(history)} command(s), but the code now "
                f"yields {waits} at position {outcome.seq}"), waits, key)
        return Checked(replayed, outcome)
    assert isinstance(outcome, Raised)
    raised = f"raises {type(outcome.error).__name__}: {outcome.error}"
    further = _first_after(history, interpreter.position)
    if further is not None:
        return diverged(further.seq, "NonDeterminismError", (
            f"the code now {raised} after position {interpreter.position - 1}, but the "
            f"history recorded {describe(further.kind, further.name)} at position "
            f"{further.seq}"), raised)
    if completed:
        return diverged(interpreter.position, "NonDeterminismError", (
            f"the execution completed, but the code now {raised}"), raised)
    return Checked(replayed, outcome)


def describe(kind: str, name: str) -> str:
    """A command for people: ``step 'charge'``, ``patch 'fraud-check'``."""
    if is_marker(kind, name):
        return f"patch {name.partition(':')[2]!r}"
    return f"{kind} {name!r}"


def _seq(record: Record) -> int:
    return record.seq


def _first_after(history: Sequence[Record], position: int) -> Record | None:
    """The first recorded command at ``position`` or later, patch markers aside."""
    later = [r for r in history if r.seq >= position and not is_marker(r.kind, r.name)]
    return min(later, key=_seq) if later else None
