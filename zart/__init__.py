"""zart: durable execution for Python on PostgreSQL.

A workflow is a generator function; every ``yield`` hands the engine a command (a step, a
durable sleep, a wait for an event, a parallel fan-out, a captured value). The engine stores
each outcome before the workflow moves on, so a crash or a restart resumes the workflow where
it stopped and a completed step never runs again::

    @zart.step("charge", retry=zart.exponential(3, "2s"))
    def charge(order_id: str, amount: float) -> str: ...

    @zart.workflow("checkout", timeout="30m")
    def checkout(order):
        txn = yield charge(order["id"], order["amount"])
        yield zart.sleep("settle", "60s")
        shipped = yield zart.wait_for_event("shipped", timeout="1d")
        return {"txn": txn, "tracking": shipped["tracking"]}

    app = zart.Zart()                      # ZART_DATABASE_URL, or an embedded PostgreSQL
    with app.worker(threads=8):
        print(app.start(checkout, {"id": "o-1", "amount": 9.5}).result(timeout=60))
"""

from typing import TYPE_CHECKING, Any

from .client import Handle, Zart
from .commands import (
    Capture,
    ChildWorkflow,
    Command,
    Parallel,
    Sleep,
    Step,
    WaitEvent,
    capture,
    child,
    now,
    parallel,
    sleep,
    sleep_until,
    wait_for_event,
)
from .context import ExecutionContext, context
from .errors import (
    ActionRefused,
    ChildFailed,
    ConfigurationError,
    DatabaseUnavailable,
    DuplicateStepName,
    EventTimeout,
    ExecutionConflict,
    ExecutionFinished,
    ExecutionNotFound,
    InvalidCommand,
    NonDeterminismError,
    NonRetryableError,
    PauseRuleNotFound,
    ResultTimeout,
    RetryAfter,
    ScheduleNotFound,
    SerializationError,
    StepFailed,
    StepTimeout,
    WorkflowDefinitionError,
    WorkflowFailed,
    WorkflowNotFound,
    ZartError,
)
from .queues import Queue
from .retry import RetryPolicy, exponential, fixed, linear
from .schedules import Schedule, cron
from .versioning import Patch, deprecate_patch, patched
from .workflow import StepFunction, Workflow, step, workflow

if TYPE_CHECKING:
    from .runtime import Worker

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``zart.Worker``, imported on first use: an application that only starts executions and
    reads results never loads the worker runtime."""
    if name == "Worker":
        from .runtime import Worker

        return Worker
    raise AttributeError(f"module 'zart' has no attribute {name!r}")

__all__ = [
    "ActionRefused",
    "Capture",
    "ChildFailed",
    "ChildWorkflow",
    "Command",
    "ConfigurationError",
    "DatabaseUnavailable",
    "DuplicateStepName",
    "EventTimeout",
    "ExecutionConflict",
    "ExecutionContext",
    "ExecutionFinished",
    "ExecutionNotFound",
    "Handle",
    "InvalidCommand",
    "NonDeterminismError",
    "NonRetryableError",
    "Parallel",
    "Patch",
    "PauseRuleNotFound",
    "Queue",
    "ResultTimeout",
    "RetryAfter",
    "RetryPolicy",
    "Schedule",
    "ScheduleNotFound",
    "SerializationError",
    "Sleep",
    "Step",
    "StepFailed",
    "StepFunction",
    "StepTimeout",
    "WaitEvent",
    "Worker",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowFailed",
    "WorkflowNotFound",
    "Zart",
    "ZartError",
    "__version__",
    "capture",
    "child",
    "context",
    "cron",
    "deprecate_patch",
    "exponential",
    "fixed",
    "linear",
    "now",
    "parallel",
    "patched",
    "sleep",
    "sleep_until",
    "step",
    "wait_for_event",
    "workflow",
]
