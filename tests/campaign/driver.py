"""The driver: starts the planned executions (some from three processes at the same moment),
sends their events and cancels some, and keeps its own log of every call and its answer.

The log is evidence the engine cannot touch: which ``send_event`` returned True, which cancel
returned True, which racing start returned what. Every call is retried on
``DatabaseUnavailable`` (the nemesis restarts the server under the driver too); a call that
failed and was retried may or may not have taken effect, and the log says so ("error" entries
before the final answer), so the checker never counts on it either way.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import zart

from . import app
from .plan import ExecutionPlan, Send
from .procs import Racers

RETRY_FOR = 120.0   # seconds a call is retried through outages

# (execution, event name) -> seconds until its wait's deadline on the zart clock, "over" once
# the wait has an outcome or the execution is final, None while the body has not reached it.
Probe = Callable[[str, str], "float | str | None"]


@dataclass
class Call:
    """One client call and its outcome: True/False, "finished", "not-found" or an error."""

    kind: str                 # start | send | cancel
    eid: str
    t0: float
    t1: float = 0.0
    result: Any = None
    errors: list[str] = field(default_factory=list)   # failed attempts before the result
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class DriverLog:
    calls: list[Call] = field(default_factory=list)
    race_answers: list[dict[str, Any]] = field(default_factory=list)
    raced: dict[str, int] = field(default_factory=dict)   # eid -> processes asked
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def of(self, kind: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.kind == kind]


class Driver:
    """Runs the plans' actions at their times on a few threads (a blocked call delays none)."""

    def __init__(self, client: zart.Zart, plans: list[ExecutionPlan], racers: Racers | None,
                 log: DriverLog, probe: Probe | None = None) -> None:
        self.client = client
        self.probe = probe
        self.plans = plans
        self.racers = racers
        self.log = log
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="driver")
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.counter = itertools.count()
        self.cond = threading.Condition()
        self.futures: list[Future[None]] = []
        self.thread = threading.Thread(target=self._loop, name="driver", daemon=True)
        self.origin = 0.0
        self.planned_done = threading.Event()

    # -- scheduling ----------------------------------------------------------------------

    def start(self) -> None:
        self.origin = time.monotonic()
        for plan in self.plans:
            self._at(self.origin + plan.at, functools.partial(self._start, plan))
        self.thread.start()

    def _at(self, when: float, action: Callable[[], None]) -> None:
        with self.cond:
            heapq.heappush(self.heap, (when, next(self.counter), action))
            self.cond.notify()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while True:
                    if not self.heap:
                        if self._idle():
                            self.planned_done.set()
                            return
                        self.cond.wait(0.2)   # a running start may still schedule its sends
                        continue
                    when = self.heap[0][0]
                    now = time.monotonic()
                    if when <= now:
                        _, _, action = heapq.heappop(self.heap)
                        break
                    self.cond.wait(when - now)
            self.futures.append(self.pool.submit(action))

    def _idle(self) -> bool:
        return all(f.done() for f in self.futures)

    def wait(self, timeout: float) -> bool:
        """Wait until every planned action ran; False at the deadline."""
        done = self.planned_done.wait(timeout)
        self.pool.shutdown(wait=done, cancel_futures=not done)
        return done

    # -- actions -------------------------------------------------------------------------

    def _retry(self, call: Call, fn: Callable[[], Any]) -> Call:
        deadline = time.monotonic() + RETRY_FOR
        while True:
            try:
                call.result = fn()
                break
            except zart.DatabaseUnavailable as exc:
                call.errors.append(f"DatabaseUnavailable: {str(exc)[:160]}")
                if time.monotonic() > deadline:
                    call.result = "gave-up"
                    break
                threading.Event().wait(0.1)   # the server is restarting: retry shortly
            except zart.ExecutionFinished:
                call.result = "finished"
                break
            except zart.ExecutionNotFound:
                call.result = "not-found"
                break
            except Exception as exc:   # anything else is the engine's to explain: logged
                call.result = f"error:{type(exc).__name__}: {exc}"
                break
        call.t1 = time.time()
        self.log.add(call)
        return call

    def _start(self, plan: ExecutionPlan) -> None:
        workflow = app.WORKFLOWS[plan.workflow]
        if plan.racers > 1 and self.racers is not None:
            at = time.time() + 0.2   # every racer (and this thread) starts at this moment
            with self.log.lock:
                self.log.raced[plan.id] = 1 + self.racers.request(
                    {"id": plan.id, "workflow": plan.workflow, "data": plan.data, "at": at})
            threading.Event().wait(max(0.0, at - time.time()))
        call = self._retry(Call("start", plan.id, time.time()),
                           lambda: self.client.start(workflow, plan.data, id=plan.id).id)
        if call.result != plan.id:
            return   # never started: nothing to send or cancel (reported by the checker)
        base = time.monotonic()
        for send in plan.sends:
            self._at(base + send.after, functools.partial(self._send, plan.id, send))
        if plan.cancel_after is not None:
            self._at(base + plan.cancel_after, lambda: self._cancel(plan.id))

    def _send(self, eid: str, send: Send) -> None:
        if send.mode == "edge" and self.probe is not None:
            self._await_deadline(eid, send)
        call = Call("send", eid, time.time(),
                    detail={"name": send.name, "payload": send.payload, "mode": send.mode})
        self._retry(call, lambda: self.client.send_event(eid, send.name, send.payload))

    def _await_deadline(self, eid: str, send: Send) -> None:
        """Wait until the wait's deadline (zart clock) is ``send.past_deadline`` behind us,
        or the wait is over, or 30 s pass (the execution may never reach it)."""
        assert self.probe is not None
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            state = self.probe(eid, send.name)
            if state == "over":
                return
            if isinstance(state, float):
                left = state + send.past_deadline
                if left <= 0:
                    return
                threading.Event().wait(min(left, 0.05))
            else:
                threading.Event().wait(0.05)   # the body has not reached the wait yet

    def _cancel(self, eid: str) -> None:
        self._retry(Call("cancel", eid, time.time()), lambda: self.client.cancel(eid))
