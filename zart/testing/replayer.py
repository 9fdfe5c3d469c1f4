"""``replay(workflow, file)``: replay a recorded history (``zart export ID``) against today's
code in a unit test, without a database and without running any step (Temporal's Replayer,
without a server). A history that no longer replays raises the error a worker would meet,
with the diff of what was recorded and what the code yields now."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Any

from .. import errors
from ..interpreter import Pending, Raised, Returned
from ..replay import check_history, describe, read_history, render
from ..workflow import Workflow, get_workflow

__all__ = ["Replayed", "replay"]


@dataclass(frozen=True, slots=True)
class Replayed:
    """Where a replay ended: the code ``returned`` (``value``), ``waits`` on its next command
    (``next``, e.g. ``"event 'shipped'"``), or ``raised`` (``error``)."""

    execution_id: str
    commands: int
    """Recorded commands replayed."""
    ended: str
    value: Any = None
    next: str | None = None
    error: BaseException | None = None


def replay(workflow: Workflow | str, history: str | os.PathLike[str] | IO[Any] | dict[str, Any]
           ) -> Replayed:
    """Replay ``history`` (a file written by ``zart export``, an open file, or its parsed
    document) against ``workflow`` (a ``@zart.workflow``, or its registered name).

    Raises :class:`zart.NonDeterminismError` (or the :class:`zart.WorkflowDefinitionError`
    a worker would meet) when the code no longer replays it, and ValueError when the history
    is not one, or is another workflow's.
    """
    definition = get_workflow(workflow) if isinstance(workflow, str) else workflow
    if not isinstance(definition, Workflow):
        raise TypeError(f"replay() takes a @zart.workflow or its name, got {workflow!r}")
    recorded = read_history(history)
    if recorded.workflow != definition.name:
        raise ValueError(f"the history of execution {recorded.execution_id!r} is of workflow "
                         f"{recorded.workflow!r}, not {definition.name!r}")
    checked = check_history(definition, recorded.execution_id, recorded.status,
                            recorded.input, recorded.history, recorded.attempt)
    if checked.divergence is not None:
        kind = getattr(errors, checked.divergence.error, errors.NonDeterminismError)
        if not (isinstance(kind, type) and issubclass(kind, errors.WorkflowDefinitionError)):
            kind = errors.NonDeterminismError
        raise kind("\n".join(render(checked.divergence)))
    outcome = checked.outcome
    if isinstance(outcome, Returned):
        return Replayed(recorded.execution_id, checked.commands, "returned", outcome.value)
    if isinstance(outcome, Pending):
        keys = outcome.command.keys
        waits = describe(*keys[0]) if keys else None
        return Replayed(recorded.execution_id, checked.commands, "waits", next=waits)
    assert isinstance(outcome, Raised)
    return Replayed(recorded.execution_id, checked.commands, "raised", error=outcome.error)
