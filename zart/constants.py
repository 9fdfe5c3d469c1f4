"""Every status, command kind and wait kind zart stores, named once.

They are ``StrEnum`` members, so each one *is* its stored string (``ExecutionStatus.PENDING ==
"pending"``). The schema's CHECK constraints list the same values;
tests/unit/test_constants.py keeps the two equal.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FINAL_STATUSES", "PATCH_MARKER", "CommandKind", "ExecutionStatus", "StepStatus",
           "WaitKind"]


class ExecutionStatus(StrEnum):
    """Where an execution is in its life."""

    PENDING = "pending"
    """Claimable once its wake-up time has passed."""
    RUNNING = "running"
    """Held by a worker under a lease."""
    WAITING = "waiting"
    """Suspended: on a sleep, a retry delay, an event or parallel children; holds no thread."""
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED,
                            ExecutionStatus.CANCELLED})
"""The statuses an execution never leaves by itself."""


class StepStatus(StrEnum):
    """Where a command of the history is: in progress, or its outcome recorded (``done``)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class CommandKind(StrEnum):
    """What a history row records; with its name, the key of a command in its execution."""

    STEP = "step"
    SLEEP = "sleep"
    EVENT = "event"
    CAPTURE = "capture"
    CHILD = "child"
    """A child workflow: the row's ``fn`` holds the child's execution id."""


PATCH_MARKER = "zart.patch:"
"""How a patch (``zart.patched``) is recorded: a ``capture`` row named ``zart.patch:<id>``.

An existing kind rather than a new one: the schema stays as it is, every tool that reads the
history shows the marker as it shows any capture, and a user capture can never take the name
(capture names may not start with it).
"""


class WaitKind(StrEnum):
    """What a waiting (or not yet due) execution waits on; ``waiting_for`` names it."""

    SLEEP = "sleep"
    """A durable sleep, until ``wake_at``."""
    RETRY = "retry"
    """A retry delay: of the step ``waiting_for``, or of the workflow's body (no name)."""
    EVENT = "event"
    """The event ``waiting_for`` (with a deadline at ``wake_at``, if any)."""
    CHILDREN = "children"
    """Parallel children still open (``open_children`` of them)."""
    CHILD = "child"
    """The child workflow whose execution id is ``waiting_for``."""
    BACKOFF = "backoff"
    """The step ``waiting_for`` asked to be run again later (:class:`zart.RetryAfter`)."""
    PAUSED = "paused"
    """A pause rule holds it in front of the step named in ``waiting_for`` (the rule's id is
    in ``executions.paused_by``)."""
