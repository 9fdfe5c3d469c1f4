"""The nemesis: faults at seeded random times, each logged with its wall-clock window.

Kinds: SIGKILL of a worker (a replacement starts in its slot), SIGSTOP/SIGCONT shorter and
longer than the lease, ``pg_terminate_backend`` of zart's backends inside a transaction
('idle in transaction', 'active') and outside ('idle'), ``pg_cancel_backend``, a short
``statement_timeout`` for a while (``ALTER SYSTEM`` + reload: it reaches zart's open sessions,
while the campaign's own connections set theirs to 0), fast and immediate restarts, outages
longer than the lease, and clock jumps (forward past the lease; now and then a small step
back). The schedule is drawn up front from the seed; which worker or backend a fault hits is
drawn from a second stream as it happens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import LEASE, ZART_SCHEMA, Config, Focus, sub_rng
from .procs import WorkerPool
from .server import Server

WEIGHTS: dict[Focus, dict[str, float]] = {
    # Long pauses weigh much: a worker resumed after its lease passed on is the fault that
    # makes zombies (steps started after another worker completed them, lost leases).
    "all": {"kill": 2, "pause-short": 1.5, "pause-long": 3, "terminate": 2.5, "cancel": 1.5,
            "stmt-timeout": 1, "restart-fast": 0.8, "restart-immediate": 0.8, "outage": 0.7,
            "clock": 1.5},
    "transactional": {"kill": 1, "pause-short": 0.5, "pause-long": 1, "terminate": 4,
                      "cancel": 3, "stmt-timeout": 2, "restart-fast": 0.5,
                      "restart-immediate": 1, "outage": 0.5, "clock": 0.8},
    "timed": {"kill": 1.5, "pause-short": 1.5, "pause-long": 3.5, "terminate": 1.5,
              "cancel": 1, "stmt-timeout": 1, "restart-fast": 0.5,
              "restart-immediate": 0.5, "outage": 1, "clock": 3},
}
STATES = ["idle in transaction", "active", "idle"]
# zart's backends are every client backend that is not the campaign's own (those all name
# themselves "campaign-..."): no reliance on how zart names its connections.
ZART_BACKENDS = """
SELECT pid, application_name, state, left(query, 80), xact_start IS NOT NULL
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND application_name NOT LIKE 'campaign%%'
  AND state = ANY(%s) AND pid <> pg_backend_pid()"""


@dataclass
class Fault:
    """One planned fault and, once injected, what it hit and when."""

    at: float                               # seconds into the chaos phase
    kind: str
    params: dict[str, Any]
    start: float = 0.0                      # wall-clock window of its effect
    end: float = 0.0
    hit: list[Any] = field(default_factory=list)
    note: str = ""

    def label(self) -> str:
        return self.kind if self.kind != "clock" else (
            "clock-forward" if self.params["seconds"] > 0 else "clock-back")


def schedule(config: Config) -> list[Fault]:
    """The faults of ``config``'s chaos phase, from its seed."""
    rng = sub_rng(config.seed, "nemesis")
    faults: list[Fault] = []
    t = rng.uniform(0.5, 2.0)
    weights = WEIGHTS[config.focus]
    while t < config.duration:
        kind = rng.choices(list(weights), [weights[k] for k in weights])[0]
        params: dict[str, Any] = {}
        if kind == "kill":
            params = {"replace_after": rng.uniform(0.0, 1.0)}
        elif kind == "pause-short":
            params = {"seconds": rng.uniform(0.3, LEASE * 0.6)}
        elif kind == "pause-long":
            params = {"seconds": rng.uniform(LEASE + 0.5, LEASE * 3)}
        elif kind == "terminate":
            params = {"state": rng.choice(STATES), "count": rng.randint(1, 3)}
        elif kind == "cancel":
            params = {"count": rng.randint(1, 2)}
        elif kind == "stmt-timeout":
            params = {"ms": rng.randint(5, 40), "seconds": rng.uniform(0.5, 2.0)}
        elif kind == "outage":
            params = {"mode": rng.choice(["fast", "immediate"]),
                      "seconds": rng.uniform(LEASE + 0.5, LEASE * 2.5)}
        elif kind == "clock":
            back = rng.random() < 0.12
            params = {"seconds": -rng.uniform(0.1, 0.4) if back
                      else rng.uniform(LEASE * 1.2, LEASE * 3)}
        faults.append(Fault(t, kind, params))
        t += rng.uniform(*config.fault_gap)
    return faults


class Nemesis:
    """Injects the scheduled faults on a thread of its own; :meth:`heal` undoes them."""

    def __init__(self, config: Config, server: Server, workers: WorkerPool) -> None:
        self.faults = schedule(config)
        self.server = server
        self.workers = workers
        self.rng = sub_rng(config.seed, "nemesis-targets")
        self.stopping = threading.Event()
        # Pauses in effect: their timers, and what resumes them (heal() may do it early, and
        # the fault's window must then end when it really did).
        self.pauses: list[tuple[threading.Timer, Callable[[], None]]] = []
        self.pause_lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="nemesis", daemon=True)
        self.injected: list[Fault] = []
        self.clock_offset = 0.0

    def start(self, origin: float) -> None:
        self.origin = origin
        self.thread.start()

    def _run(self) -> None:
        for fault in self.faults:
            if self.stopping.wait(max(0.0, self.origin + fault.at - time.monotonic())):
                return
            fault.start = time.time()
            try:
                self._injector(fault.kind)(fault)
            except Exception as exc:   # a fault that could not be injected is noted, not fatal
                fault.note = f"not injected: {type(exc).__name__}: {exc}"
            fault.end = fault.end or time.time()
            self.injected.append(fault)

    def _injector(self, kind: str) -> Any:
        return {"kill": self._kill, "pause-short": self._pause, "pause-long": self._pause,
                "terminate": self._terminate, "cancel": self._cancel,
                "stmt-timeout": self._timeout, "restart-fast": self._restart,
                "restart-immediate": self._restart, "outage": self._outage,
                "clock": self._clock}[kind]

    # -- processes --------------------------------------------------------------------------

    def _target(self) -> Any:
        live = [p for p in self.workers.current() if not p.paused]
        if not live:
            raise RuntimeError("no running worker")
        return self.rng.choice(live)

    def _kill(self, fault: Fault) -> None:
        proc = self._target()
        self.workers.kill(proc)
        fault.hit.append({"worker": proc.name, "pid": proc.pid})
        self.stopping.wait(fault.params["replace_after"])
        fault.end = time.time()
        fault.note = f"replaced by {self.workers.spawn(proc.slot).name}"

    def _pause(self, fault: Fault) -> None:
        proc = self._target()
        self.workers.pause(proc)
        fault.hit.append({"worker": proc.name, "pid": proc.pid})
        fault.end = fault.start + fault.params["seconds"]

        def resume() -> None:
            with self.pause_lock:
                if proc.paused:   # not resumed by heal() already
                    self.workers.resume(proc)
                    fault.end = time.time()

        timer = threading.Timer(fault.params["seconds"], resume)
        timer.daemon = True
        self.pauses.append((timer, resume))
        timer.start()

    # -- backends -----------------------------------------------------------------------------

    def _backends(self, states: list[str], count: int, signal: str, fault: Fault) -> None:
        """Find zart backends in ``states`` (waiting up to a second for one) and signal them."""
        deadline = time.monotonic() + 1.0
        with self.server.connect("campaign-nemesis") as conn:
            while True:
                rows = conn.execute(ZART_BACKENDS, (states,)).fetchall()
                if rows or time.monotonic() > deadline:
                    break
                self.stopping.wait(0.01)   # polling pg_stat_activity: nothing to wait on
            for pid, name, state, query, in_xact in self.rng.sample(rows, min(count, len(rows))):
                [(done,)] = conn.execute(f"SELECT {signal}(%s)", (pid,)).fetchall()
                fault.hit.append({"pid": pid, "app": name, "state": state, "xact": in_xact,
                                  "query": query, "done": done})
        if not fault.hit:
            fault.note = f"no zart backend was {states}"

    def _terminate(self, fault: Fault) -> None:
        self._backends([fault.params["state"]], fault.params["count"], "pg_terminate_backend",
                       fault)

    def _cancel(self, fault: Fault) -> None:
        self._backends(["active"], fault.params["count"], "pg_cancel_backend", fault)

    def _timeout(self, fault: Fault) -> None:
        ms = fault.params["ms"]
        self._set_statement_timeout(f"{ms}ms")
        try:
            self.stopping.wait(fault.params["seconds"])
        finally:
            self._set_statement_timeout(None)
            fault.end = time.time()

    def _set_statement_timeout(self, value: str | None) -> None:
        with self.server.connect("campaign-nemesis") as conn:
            if value is None:
                conn.execute("ALTER SYSTEM RESET statement_timeout")
            else:
                conn.execute(f"ALTER SYSTEM SET statement_timeout = '{value}'")
            conn.execute("SELECT pg_reload_conf()")

    # -- the server ------------------------------------------------------------------------------

    def _restart(self, fault: Fault) -> None:
        self.server.restart(fault.kind.split("-")[1])
        fault.end = time.time()

    def _outage(self, fault: Fault) -> None:
        self.server.stop(fault.params["mode"])
        try:
            self.stopping.wait(fault.params["seconds"])
        finally:
            self.server.start()
            fault.end = time.time()

    def _clock(self, fault: Fault) -> None:
        seconds = fault.params["seconds"]
        self.server.query(f"UPDATE {ZART_SCHEMA}.clock SET offset_seconds = offset_seconds + %s",
                          seconds, timeout=30)
        self.clock_offset += seconds
        fault.note = f"offset now {self.clock_offset:+.2f}s"

    # -- healing -----------------------------------------------------------------------------------

    def heal(self) -> list[str]:
        """Stop injecting, undo what is still in effect; what was done."""
        self.stopping.set()
        self.thread.join(120)
        done = [f"resumed {p.name}" for p in self.workers.current() if p.paused]
        for timer, resume in self.pauses:
            timer.cancel()
            resume()
        done += self.workers.heal()
        self.server.start()
        self._set_statement_timeout(None)
        return done

    def backward_total(self) -> float:
        """How far the clock was moved back in all (a tolerance for DB-clock comparisons)."""
        return float(sum(-f.params["seconds"] for f in self.injected
                         if f.kind == "clock" and f.params["seconds"] < 0
                         and not f.note.startswith("not injected")))
