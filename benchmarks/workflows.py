"""The workflows the benchmarks run, registered on import (also by the worker subprocesses).

Steps that mark time record ``time.perf_counter()`` and ``time.time()`` when they start
running, per execution, in :data:`MARKS`; the benchmark in the same process waits on them.
They do nothing else, so what is measured is zart's cost, not the step's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import zart

from .common import PAYLOAD


@dataclass(slots=True)
class Mark:
    """When a marked step started: ``perf`` (perf_counter) and ``wall`` (time.time)."""

    perf: float
    wall: float


class Marks:
    """Timestamps recorded by steps, keyed by (execution id, label); waitable."""

    def __init__(self) -> None:
        self._marks: dict[tuple[str, str], Mark] = {}
        self._cond = threading.Condition()

    def record(self, label: str) -> None:
        """Record now for the current execution (call from inside a step)."""
        mark = Mark(time.perf_counter(), time.time())
        key = (zart.context().execution_id, label)
        with self._cond:
            self._marks.setdefault(key, mark)
            self._cond.notify_all()

    def wait(self, execution_id: str, label: str, timeout: float = 60.0) -> Mark:
        """The mark, once recorded; TimeoutError after ``timeout`` seconds."""
        key = (execution_id, label)
        with self._cond:
            if not self._cond.wait_for(lambda: key in self._marks, timeout):
                raise TimeoutError(f"no mark {label!r} for execution {execution_id} after "
                                   f"{timeout}s")
            return self._marks[key]

    def get(self, execution_id: str, label: str) -> Mark | None:
        """The mark if recorded."""
        with self._cond:
            return self._marks.get((execution_id, label))

    def clear(self) -> None:
        """Forget every mark."""
        with self._cond:
            self._marks.clear()


MARKS = Marks()


# -- steps -------------------------------------------------------------------------------------


@zart.step("bench-noop-{i}")
def noop(i: int, n: int) -> dict[str, Any]:
    """A no-op step returning the benchmark payload; marks the first and the last step."""
    if i == 0:
        MARKS.record("first")
    elif i == n - 1:
        MARKS.record("last")
    return PAYLOAD


@zart.step("bench-mark-{label}")
def mark(label: str) -> str:
    """Record that the workflow reached this point; returns "ok"."""
    MARKS.record(label)
    return "ok"


@zart.step("bench-child-{i}")
def child(i: int) -> int:
    """A parallel child: any worker may run it (a module-level step)."""
    return i


# -- workflows ---------------------------------------------------------------------------------


@zart.workflow("bench-steps")
def steps(data: dict[str, Any]) -> Generator[Any, Any, int]:
    """``data["n"]`` no-op steps in a row."""
    n = int(data["n"])
    for i in range(n):
        yield noop(i, n)
    return n


@zart.workflow("bench-one-step")
def one_step(data: Any) -> Generator[Any, Any, Any]:
    """One marked step."""
    return (yield mark("first"))


@zart.workflow("bench-event")
def event(data: Any) -> Generator[Any, Any, Any]:
    """Wait for the event "go", then run a marked step."""
    yield zart.wait_for_event("go")
    return (yield mark("resumed"))


@zart.workflow("bench-sleep")
def nap(data: dict[str, Any]) -> Generator[Any, Any, Any]:
    """A durable sleep of ``data["seconds"]``, then a marked step."""
    yield zart.sleep("nap", float(data["seconds"]))
    return (yield mark("resumed"))


@zart.workflow("bench-park")
def park(data: dict[str, Any]) -> Generator[Any, Any, Any]:
    """Suspend for good: a one-hour sleep, or a wait for an event nobody sends."""
    if data.get("sleep"):
        yield zart.sleep("park", "1h")
    else:
        yield zart.wait_for_event("never")
    return "woken"


@zart.workflow("bench-fanout")
def fanout(data: dict[str, Any]) -> Generator[Any, Any, Any]:
    """A parallel of ``data["n"]`` children, then a marked step after the barrier."""
    results = yield zart.parallel(*[child(i) for i in range(int(data["n"]))])
    yield mark("barrier")
    return len(results)
