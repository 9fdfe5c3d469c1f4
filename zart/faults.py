"""The runtime's one fault hook, for :mod:`zart.testing`: swap a step's function for a test
double, or make the worker die around it (a simulated crash).

In production :data:`step_hook` stays None: the runtime reads it once per step attempt and
does nothing else, so the hook costs nothing when unused. :class:`SimulatedCrash` is what a
simulated crash raises; zart never records it as a step's failure or catches it as the body's
error (:func:`zart.interpreter.is_user_interrupt`), so it unwinds the worker's thread as a
dying process would stop it: nothing after the crash point is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .context import ExecutionContext

__all__ = ["SimulatedCrash", "StepHook", "install", "step_hook"]

StepHook = Callable[[str, ExecutionContext, Callable[..., Any]], Callable[..., Any]]
"""Given the zart schema a step attempt runs in, its context and its function: the function to
call instead (or the same one)."""

step_hook: StepHook | None = None
"""The installed hook; None (the default, and always in production): steps run as written."""


class SimulatedCrash(BaseException):
    """A worker crash that zart.testing simulates at a step (before its function runs, or
    between its side effect and its checkpoint). A BaseException, so that no ``except
    Exception`` in user code swallows it."""


def install(hook: StepHook | None) -> None:
    """Install ``hook`` for every step attempt in this process (None removes it)."""
    global step_hook
    step_hook = hook
