"""The zart error tree. Every error zart raises on purpose is a :class:`ZartError`::

    ZartError
    ├── ConfigurationError        bad settings: schema name, DSN, worker options
    ├── WorkflowNotFound          no workflow registered under that name
    ├── ExecutionNotFound         no execution with that id
    ├── ExecutionFinished         an event or action aimed at a finished execution
    ├── ExecutionConflict         an id already used by a different workflow or input
    ├── ActionRefused             an operator action from a state where it makes no sense
    ├── PauseRuleNotFound         no pause rule with that id
    ├── ScheduleNotFound          no schedule with that name
    ├── ResultTimeout             Handle.result(timeout=...) gave up waiting
    ├── WorkflowFailed            the execution failed (or was cancelled); .cause says why
    ├── DatabaseUnavailable       PostgreSQL could not be reached (infrastructure, retried)
    ├── SerializationError        a value zart must store is not JSON-serializable
    ├── WorkflowDefinitionError   a workflow or step that cannot work as written
    │   ├── DuplicateStepName     two commands with the same kind and name in one execution
    │   ├── NonDeterminismError   the replay yielded something else than the history recorded
    │   └── InvalidCommand        a workflow yielded something that is not a zart command
    └── StepFailed                (raised *into* a workflow at its ``yield``)
        ├── StepTimeout           a step attempt ran past its timeout
        ├── EventTimeout          a wait_for_event reached its timeout first
        └── ChildFailed           a child workflow failed or was cancelled

    NonRetryableError             (raised by *your* step: fail at once, never retried)
    RetryAfter                    (raised by *your* step: run it again after a delay)

``StepFailed`` and ``EventTimeout`` arrive inside the workflow body at the ``yield`` and can be
handled with ``try/except``; the handled path replays identically because outcomes are
recorded. ``WorkflowDefinitionError`` subclasses end the execution: they are bugs to fix.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ActionRefused",
    "ChildFailed",
    "ConfigurationError",
    "DatabaseUnavailable",
    "DuplicateStepName",
    "EventTimeout",
    "ExecutionConflict",
    "ExecutionFinished",
    "ExecutionNotFound",
    "InvalidCommand",
    "NonDeterminismError",
    "NonRetryableError",
    "PauseRuleNotFound",
    "ResultTimeout",
    "RetryAfter",
    "ScheduleNotFound",
    "SerializationError",
    "StepFailed",
    "StepTimeout",
    "WorkflowDefinitionError",
    "WorkflowFailed",
    "WorkflowNotFound",
    "ZartError",
]


class ZartError(Exception):
    """Base of every error zart raises on purpose."""


class ConfigurationError(ZartError):
    """A setting is invalid (schema name, DSN, worker options)."""


class WorkflowNotFound(ZartError):
    """No workflow is registered under the given name."""


class ExecutionNotFound(ZartError):
    """No execution exists with the given id."""


class ExecutionFinished(ZartError):
    """The execution has already completed, failed or been cancelled."""


class ExecutionConflict(ZartError):
    """An execution id is already taken by a different workflow or with a different input."""


class ActionRefused(ZartError):
    """An operator action (retry, restart, rerun, resume, unpause, purge) that makes no sense
    from the current state; the message says why and what would."""

    def __init__(self, message: str, *, execution_id: str | None = None, action: str = "",
                 status: str | None = None) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.action = action
        self.status = status


class PauseRuleNotFound(ZartError):
    """No pause rule with the given id."""


class ScheduleNotFound(ZartError):
    """No schedule with the given name."""


class ResultTimeout(ZartError):
    """Waiting for a result took longer than the caller's timeout."""


class DatabaseUnavailable(ZartError):
    """PostgreSQL could not be reached or dropped the connection. Workers retry these."""


class SerializationError(ZartError):
    """A value zart must store cannot be stored as JSON; the message says which and why."""


class WorkflowDefinitionError(ZartError):
    """A workflow or step cannot work as written; the execution fails with this cause."""


class DuplicateStepName(WorkflowDefinitionError):
    """Two commands of the same kind and name were yielded in one execution."""


class NonDeterminismError(WorkflowDefinitionError):
    """On replay the workflow yielded a different command than the history recorded."""


class InvalidCommand(WorkflowDefinitionError):
    """The workflow yielded a value that is not a zart command."""


class WorkflowFailed(ZartError):
    """The execution ended without a result.

    ``cause`` is the stored error: a dict with at least ``type`` and ``message``, and for an
    exception of the workflow's own code its ``module``, ``traceback`` and ``attributes``
    (the exception's JSON-serializable public attributes, e.g. a ``code``).
    """

    def __init__(self, execution_id: str, cause: dict[str, Any], status: str = "failed"):
        self.execution_id = execution_id
        self.cause = cause
        self.status = status
        super().__init__(f"execution {execution_id!r} {status}: "
                         f"{cause.get('type', 'Error')}: {cause.get('message', '')}")

    @property
    def cause_type(self) -> str:
        """The name of the exception type that ended the execution."""
        return str(self.cause.get("type", ""))

    @property
    def cause_message(self) -> str:
        """The message of the exception that ended the execution."""
        return str(self.cause.get("message", ""))

    @property
    def cause_module(self) -> str:
        """The module of the exception type that ended the execution."""
        return str(self.cause.get("module", ""))

    @property
    def traceback(self) -> str | None:
        """The traceback text of the exception that ended the execution, if recorded."""
        text = self.cause.get("traceback")
        return None if text is None else str(text)

    @property
    def attributes(self) -> dict[str, Any]:
        """The JSON-serializable public attributes of that exception (``{}`` if none)."""
        return dict(self.cause.get("attributes") or {})


class StepFailed(ZartError):
    """A step failed for good (its retries are exhausted, or its error is not retried); raised
    into the workflow.

    ``error_type``, ``error_module`` and ``message`` describe the original exception,
    ``attempts`` counts the attempts made, ``traceback`` is its traceback text and
    ``attributes`` its JSON-serializable public attributes (a custom exception's ``code``).
    """

    def __init__(self, step: str, error_type: str, message: str, attempts: int,
                 error_module: str = "builtins", *, traceback: str | None = None,
                 attributes: dict[str, Any] | None = None):
        self.step = step
        self.error_type = error_type
        self.error_module = error_module
        self.message = message
        self.attempts = attempts
        self.traceback = traceback
        self.attributes = dict(attributes or {})
        super().__init__(self._describe())

    def _describe(self) -> str:
        return (f"step {self.step!r} failed after {self.attempts} attempt(s): "
                f"{self.error_type}: {self.message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_step_failed, (type(self), self.step, self.error_type, self.message,
                                       self.attempts, self.error_module, self.traceback,
                                       self.attributes))


def _rebuild_step_failed(kind: type[StepFailed], step: str, error_type: str, message: str,
                         attempts: int, error_module: str, traceback: str | None,
                         attributes: dict[str, Any]) -> StepFailed:
    return kind(step, error_type, message, attempts, error_module, traceback=traceback,
                attributes=attributes)


class StepTimeout(StepFailed):
    """A step attempt ran past its timeout; its late result is never recorded."""


class ChildFailed(StepFailed):
    """A child workflow (``zart.child``) failed or was cancelled; ``child_id`` is its
    execution id and ``status`` how it ended."""

    def __init__(self, step: str, error_type: str, message: str, attempts: int = 1,
                 error_module: str = "builtins", *, traceback: str | None = None,
                 attributes: dict[str, Any] | None = None, child_id: str = "",
                 status: str = "failed"):
        self.child_id = child_id
        self.status = status
        super().__init__(step, error_type, message, attempts, error_module,
                         traceback=traceback, attributes=attributes)

    def _describe(self) -> str:
        return (f"child workflow {self.step!r} (execution {self.child_id!r}) {self.status}: "
                f"{self.error_type}: {self.message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_child_failed, (self.step, self.error_type, self.message,
                                        self.attempts, self.error_module, self.traceback,
                                        self.attributes, self.child_id, self.status))


def _rebuild_child_failed(step: str, error_type: str, message: str, attempts: int,
                          error_module: str, traceback: str | None,
                          attributes: dict[str, Any], child_id: str,
                          status: str) -> ChildFailed:
    return ChildFailed(step, error_type, message, attempts, error_module, traceback=traceback,
                       attributes=attributes, child_id=child_id, status=status)


class EventTimeout(StepFailed):
    """``wait_for_event`` reached its timeout before the event arrived."""

    def __init__(self, step: str, error_type: str = "EventTimeout", message: str = "",
                 attempts: int = 1, error_module: str = "zart.errors", *,
                 traceback: str | None = None, attributes: dict[str, Any] | None = None):
        super().__init__(step, error_type, message or f"event {step!r} did not arrive in time",
                         attempts, error_module, traceback=traceback, attributes=attributes)

    def _describe(self) -> str:
        return self.message  # a timeout is not a failed attempt


class RetryAfter(Exception):
    """Raise it from a step to run it again after ``delay`` (a rate-limited API answered 429
    with Retry-After): the execution suspends without holding a thread, and the retry does
    not spend one of the step's retry attempts. A step may back off at most
    ``MAX_BACKOFFS`` times in a row (then it fails, so it cannot loop forever), each for at
    most a day."""

    MAX_BACKOFFS = 100
    MAX_DELAY = 86400.0

    def __init__(self, delay: Any, reason: str = "") -> None:
        from .durations import parse_duration

        self.delay = min(parse_duration(delay, what="RetryAfter delay"), self.MAX_DELAY)
        self.reason = reason
        super().__init__(f"retry after {self.delay:g}s" + (f": {reason}" if reason else ""))


class NonRetryableError(Exception):
    """Raise it (or a subclass) from a step whose failure no retry could mend: the step fails
    at once, whatever its retry policy (``retry=...(non_retryable=...)`` names more)."""
