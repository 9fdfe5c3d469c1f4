"""Observing zart from inside: hooks for metrics, traces and anything else that wants to know.

An :class:`Observer` is told when an execution is started by a client, when a worker begins a
run of it and when that run ends (finished, suspended, handed back), when each step attempt
starts and ends (in the thread that runs the step, so a span opened there is current for the
step's code), what came of each step, and when a lease is lost. ``zart.contrib.prometheus``
and ``zart.contrib.opentelemetry`` are observers.

Nothing here costs a statement, and with no observer registered each hook is one check of an
empty list. An observer's exception is logged and never reaches zart's own work.

``context_for_start()`` lets an observer store something with an execution when a client
starts it (a trace context, say); workers hand it back in :class:`RunEvent` ``.context``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from . import serde

__all__ = ["Observer", "RunEvent", "StepEvent", "add_observer", "observers",
           "remove_observer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunEvent:
    """A run of an execution on a worker (from its claim to its suspension or end)."""

    execution_id: str
    workflow: str
    attempt: int
    context: dict[str, Any] | None = None
    """What an observer stored when the execution was started (context_for_start)."""
    data: dict[str, Any] = field(default_factory=dict)
    """Scratch space an observer may use between run_started and run_ended."""


@dataclass(frozen=True, slots=True)
class StepEvent:
    """A step attempt (or a parallel child's)."""

    execution_id: str
    workflow: str
    step: str
    attempt: int
    context: dict[str, Any] | None = None
    """What an observer stored when the execution was started (context_for_start)."""
    data: dict[str, Any] = field(default_factory=dict)
    """Scratch space an observer may use between attempt_started and attempt_finished."""


class Observer:
    """Override what you need; every method is a no-op by default."""

    def context_for_start(self) -> dict[str, Any] | None:
        """Something to store with an execution a client starts now (e.g. a trace context)."""
        return None

    def execution_started(self, execution_id: str, workflow: str, created: bool) -> None:
        """A client started an execution (``created``: False if the id already existed)."""

    def run_started(self, run: RunEvent) -> None:
        """A worker begins running the execution."""

    def run_ended(self, run: RunEvent, status: str, seconds: float) -> None:
        """The run ended: ``completed``, ``failed`` (the execution finished), ``suspended``,
        ``released`` (handed back), ``cancelled`` or ``lost``; ``seconds`` since
        run_started."""

    def execution_finished(self, execution_id: str, workflow: str, status: str,
                           seconds: float | None) -> None:
        """A worker finished the execution (``completed`` or ``failed``); ``seconds`` since
        it was created, if known."""

    def attempt_started(self, step: StepEvent) -> None:
        """A step attempt starts, in the thread that runs it."""

    def attempt_finished(self, step: StepEvent, ok: bool, seconds: float,
                         error: dict[str, Any] | None) -> None:
        """That attempt returned (``ok``) or raised, in the same thread."""

    def step_outcome(self, step: StepEvent, outcome: str) -> None:
        """What came of an attempt: ``ok``, ``retry``, ``backoff``, ``timeout`` or
        ``failed`` (for good)."""

    def lease_lost(self, execution_id: str) -> None:
        """A worker found a lease it held taken over."""

    def worker_threads(self, worker: str, busy: int, total: int) -> None:
        """A worker's threads: how many are busy (after each claim round)."""


_OBSERVERS: list[Observer] = []
_LOCK = threading.Lock()


def add_observer(observer: Observer) -> None:
    """Tell ``observer`` from now on."""
    if not isinstance(observer, Observer):
        raise TypeError(f"add_observer takes a zart.observe.Observer, got {observer!r}")
    with _LOCK:
        if observer not in _OBSERVERS:
            _OBSERVERS.append(observer)


def remove_observer(observer: Observer) -> None:
    """Stop telling ``observer``."""
    with _LOCK:
        if observer in _OBSERVERS:
            _OBSERVERS.remove(observer)


def observers() -> list[Observer]:
    """The registered observers (the list itself: empty means nothing to do)."""
    return _OBSERVERS


def _interrupt(exc: BaseException) -> bool:
    """Ctrl-C in the main thread goes through an observer; nothing else does (not even a
    BaseException such as asyncio.CancelledError: a step's successful attempt would be taken
    for a failed one, and run again)."""
    return isinstance(exc, KeyboardInterrupt) and (
        threading.current_thread() is threading.main_thread())


def notify(method: str, *args: Any) -> None:
    """Call ``method`` on every observer; an observer's error is logged, never raised."""
    for observer in list(_OBSERVERS):
        try:
            getattr(observer, method)(*args)
        except BaseException as exc:
            if _interrupt(exc):
                raise
            log.exception("observer %r failed in %s", observer, method)


def start_context() -> dict[str, Any] | None:
    """What the observers want stored with an execution being started."""
    merged: dict[str, Any] = {}
    for observer in list(_OBSERVERS):
        try:
            found = observer.context_for_start()
            if found and not isinstance(found, dict):
                raise TypeError(f"context_for_start must return a dict or None, got {found!r}")
            if found:
                serde.dumps(found, what="the context it returned")  # stored with the execution
        except BaseException as exc:
            if _interrupt(exc):
                raise
            log.exception("observer %r failed in context_for_start", observer)
            continue
        if found:
            merged.update(found)
    return merged or None
