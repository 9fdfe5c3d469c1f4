"""Step doubles and crash injection, through the runtime's one fault hook (:mod:`zart.faults`).

``replace_step(app, charge, fake)`` runs ``fake`` wherever the workflow runs the step
``charge``, without touching the workflow. ``crash_at(app, "charge", when="after")`` makes the
next attempt of that step die as a worker process would: ``"before"`` its function runs, or
``"after"`` it ran (its side effect happened) and before its outcome is checkpointed. The
execution is left as a dead worker leaves it: ``running``, under a lease nobody renews; once
the lease runs out (``advance(app, "30s")``) another run takes it over and replays it.

A step is named by its ``@zart.step`` function (any name its template gives), by its name in
the history (``"fetch-page-3"``) or by its registered template (``"fetch-page-{page}"``).
Both apply to the executions of ``app`` only (its schema), on any thread, until
:func:`reset_doubles` (called after every test by the pytest plugin).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import faults
from ..client import Zart
from ..commands import validate_name
from ..context import ExecutionContext
from ..faults import SimulatedCrash
from ..workflow import StepFunction, step_key

__all__ = ["CrashPoint", "StepRef", "crash_at", "replace_step", "reset_doubles"]

StepRef = str | StepFunction[..., Any]
"""A step: its ``@zart.step`` function, or its name (in the history, or its template)."""

When = Literal["before", "after"]


@dataclass(frozen=True, slots=True)
class _Target:
    """Which steps of which schema a double or a crash applies to."""

    schema: str
    name: str | None
    fn: Callable[..., Any] | None

    def matches(self, schema: str, ctx: ExecutionContext, fn: Callable[..., Any]) -> bool:
        if schema != self.schema:
            return False
        if self.fn is not None:
            return fn is self.fn
        return ctx.step == self.name or step_key(fn) == self.name


@dataclass(slots=True)
class CrashPoint:
    """A crash armed by :func:`crash_at`: it fires at the next ``times`` attempts of the step.

    ``crashed`` lists the executions it hit, in order; ``happened`` says whether it fired.
    """

    step: str
    when: When
    times: int
    crashed: list[str] = field(default_factory=list)

    @property
    def happened(self) -> bool:
        """Whether the crash fired at least once."""
        return bool(self.crashed)

    @property
    def armed(self) -> bool:
        """Whether it will fire again."""
        return len(self.crashed) < self.times


_lock = threading.Lock()
_doubles: list[tuple[_Target, Callable[..., Any]]] = []
_crashes: list[tuple[_Target, CrashPoint]] = []


def replace_step(app: Zart, step: StepRef, fn: Callable[..., Any]) -> None:
    """Run ``fn`` instead of ``step``'s function in ``app``'s executions (same arguments; it
    may call ``zart.context()``); the last replacement of a step wins."""
    target = _target(app, step, "replace_step()")
    if not callable(fn):
        raise TypeError(f"replace_step(): the replacement for step {_shown(step)} must be "
                        f"callable, got {fn!r}")
    with _lock:
        _doubles.insert(0, (target, fn))
    faults.install(_hook)


def crash_at(app: Zart, step: StepRef, when: When = "after", times: int = 1) -> CrashPoint:
    """Make the next ``times`` attempts of ``step`` in ``app`` die ``when`` (``"before"`` its
    function runs, or ``"after"``: between its side effect and its checkpoint)."""
    target = _target(app, step, "crash_at()")
    if when not in ("before", "after"):
        raise ValueError(f"crash_at(): when must be 'before' or 'after', got {when!r}")
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise ValueError(f"crash_at(): times must be an int >= 1, got {times!r}")
    point = CrashPoint(_shown(step), when, times)
    with _lock:
        _crashes.append((target, point))
    faults.install(_hook)
    return point


def reset_doubles() -> None:
    """Forget every replacement and crash; steps run as written again."""
    with _lock:
        _doubles.clear()
        _crashes.clear()
    faults.install(None)


def _target(app: Zart, step: StepRef, what: str) -> _Target:
    if not isinstance(app, Zart):
        raise TypeError(f"{what} takes the zart.Zart app whose executions it applies to, got "
                        f"{type(app).__name__} {app!r}")
    if isinstance(step, StepFunction):
        return _Target(app.schema, None, step.fn)
    if isinstance(step, str):
        return _Target(app.schema, validate_name(step, f"{what}: step name"), None)
    raise TypeError(f"{what} takes a @zart.step function or a step's name, got "
                    f"{type(step).__name__} {step!r}")


def _shown(step: StepRef) -> str:
    return step.name if isinstance(step, StepFunction) else str(step)


def _hook(schema: str, ctx: ExecutionContext, fn: Callable[..., Any]) -> Callable[..., Any]:
    """The fault hook: the double of this step if any, wrapped in a crash if one is armed."""
    with _lock:
        double = next((d for target, d in _doubles if target.matches(schema, ctx, fn)), None)
        point = next((p for target, p in _crashes
                      if p.armed and target.matches(schema, ctx, fn)), None)
        if point is not None:
            point.crashed.append(ctx.execution_id)  # taken now: a second thread finds it spent
    run = double if double is not None else fn
    if point is None:
        return run
    crash = SimulatedCrash(f"simulated crash {point.when} step {ctx.step!r} of execution "
                           f"{ctx.execution_id!r} (zart.testing.crash_at)")
    if point.when == "before":
        def before(*args: Any, **kwargs: Any) -> Any:
            raise crash
        return before

    def after(*args: Any, **kwargs: Any) -> Any:
        try:
            run(*args, **kwargs)  # the side effect happens; its outcome is never recorded
        except BaseException as exc:
            raise crash from exc
        raise crash
    return after
