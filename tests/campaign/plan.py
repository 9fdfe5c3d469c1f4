"""The workload, generated up front from the seed: which executions start when, with which
operations, which events are sent when (in time, duplicated, late, never), which are cancelled
and which are started by several processes at once.

An execution's input carries its list of operations (``ops``); the workflow body in
``app.py`` interprets them one by one and ``model.py`` computes, from the same input alone,
what the execution must return.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .config import Config, Focus, sub_rng

FLOW = "cmp-flow"        # no workflow retry
RETRYING = "cmp-wretry"  # @zart.workflow(retry=fixed(2, ...)): three attempts of the body
WORKFLOW_ATTEMPTS = 3

# Relative weights of the operation kinds, per focus.
OP_WEIGHTS: dict[Focus, dict[str, float]] = {
    "all": {"plain": 2, "tx": 2, "timed": 2, "retry": 1.5, "par": 1, "sleep": 1,
            "event": 1.5, "cap": 0.7, "now": 0.3, "think": 2},
    "transactional": {"plain": 0.5, "tx": 5, "timed": 1.5, "retry": 2, "par": 1.5,
                      "sleep": 0.3, "event": 0.5, "cap": 0.3, "now": 0.1, "think": 0.5},
    "timed": {"plain": 0.5, "tx": 0.5, "timed": 5, "retry": 0.5, "par": 0.5, "sleep": 1.5,
              "event": 3, "cap": 0.3, "now": 0.1, "think": 2},
}
TIMED_VARIANTS: dict[Focus, dict[str, float]] = {
    # tf/txf: fast, well inside a 3 s timeout; ts/txs: slow, past a 0.3 s timeout;
    # tp: 0.5 s per attempt, the first attempt slow, retried.
    "all": {"tf": 2, "ts": 1, "txf": 2, "txs": 1, "tp": 1},
    "transactional": {"tf": 0.5, "ts": 0.3, "txf": 3, "txs": 2, "tp": 0.5},
    "timed": {"tf": 2, "ts": 1.5, "txf": 1.5, "txs": 1, "tp": 1.5},
}


@dataclass
class Send:
    """One ``send_event`` the driver makes, ``after`` seconds after the start returned."""

    after: float
    name: str
    payload: dict[str, str]
    mode: str            # early | mid | dup | late | edge
    past_deadline: float = 0.0   # edge: seconds after the wait's deadline (zart clock)


@dataclass
class ExecutionPlan:
    """One execution: its id, workflow and input, and what the driver does to it."""

    id: str
    workflow: str
    data: dict[str, Any]
    at: float                       # seconds into the chaos phase when it is started
    racers: int = 1                 # processes starting it at the same moment
    sends: list[Send] = field(default_factory=list)
    cancel_after: float | None = None


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def _op(rng: random.Random, focus: Focus, kind: str, i: int) -> dict[str, Any]:
    tx_bias = 0.8 if focus == "transactional" else 0.4
    if kind == "plain":
        # Half of them nearly instant: a worker then spends a good part of its time between
        # a checkpoint and the next step, where a pause turns it into a zombie about to start
        # a step another worker may complete meanwhile.
        return {"k": "plain", "i": i,
                "ms": rng.randint(0, 5) if rng.random() < 0.5 else rng.randint(5, 200)}
    if kind == "think":
        return {"k": "think", "i": i, "ms": rng.randint(40, 200)}
    if kind == "tx":
        # pg: the step waits inside a statement (the backend is 'active'), else in Python
        # while its transaction is open ('idle in transaction'): both are nemesis targets.
        return {"k": "tx", "i": i, "ms": rng.randint(20, 300), "pg": rng.random() < 0.5}
    if kind == "timed":
        return {"k": "timed", "i": i, "v": _pick(rng, TIMED_VARIANTS[focus]),
                "ms": rng.randint(10, 150)}
    if kind == "retry":
        return {"k": "retry", "i": i, "f": rng.choice([0, 1, 2, 2, 4]),
                "tx": rng.random() < tx_bias}
    if kind == "par":
        children = [{"f": rng.choice([0, 0, 1, 3]), "tx": rng.random() < tx_bias}
                    for _ in range(rng.randint(2, 3))]
        return {"k": "par", "i": i, "rex": rng.random() < 0.5, "ch": children}
    if kind == "sleep":
        return {"k": "sleep", "i": i, "s": round(rng.uniform(0.2, 1.5), 2)}
    if kind == "event":
        return {"k": "event", "i": i, "t": round(rng.uniform(1.5, 4.0), 2)}
    return {"k": kind, "i": i}   # cap, now


def _ops(rng: random.Random, focus: Focus, workflow: str) -> list[dict[str, Any]]:
    count = rng.randint(3, 7)
    ops = [_op(rng, focus, _pick(rng, OP_WEIGHTS[focus]), i) for i in range(count)]
    if workflow == RETRYING:
        # Fails the body until attempt u (4: never succeeds, the execution fails). Placed
        # after at least one operation so that a retry replays something.
        at = rng.randint(1, len(ops))
        kind = rng.choice(["wfail", "wfail", "bfail"])
        ops.insert(at, {"k": kind, "i": count, "u": rng.choice([2, 2, 3, 4])})
    elif rng.random() < 0.06:
        ops.append({"k": "doom", "i": count})   # an unhandled step failure: must fail
    return ops


def _sends(rng: random.Random, eid: str, ops: list[dict[str, Any]]) -> list[Send]:
    sends: list[Send] = []
    for op in ops:
        if op["k"] != "event":
            continue
        name = f"e-{op['i']}"
        mode = rng.choices(["early", "mid", "dup", "late", "edge", "never"],
                           [2, 3, 2, 2, 2, 1])[0]

        def payload(n: int, name: str = name) -> dict[str, str]:
            return {"tag": f"{eid}/{name}/{n}"}

        if mode == "early":
            sends.append(Send(0.0, name, payload(0), mode))
        elif mode == "mid":
            sends.append(Send(rng.uniform(0.3, 4.0), name, payload(0), mode))
        elif mode == "dup":
            first = rng.uniform(0.0, 3.0)
            sends.append(Send(first, name, payload(0), mode))
            sends.append(Send(first + rng.uniform(0.0, 1.5), name, payload(1), mode))
        elif mode == "late":
            sends.append(Send(rng.uniform(6.0, 10.0), name, payload(0), mode))
        elif mode == "edge":
            # Sent just after the wait's deadline passes on the zart clock (the driver
            # watches for it): whether the timeout is recorded first is a race.
            sends.append(Send(0.0, name, payload(0), mode, round(rng.uniform(0.0, 0.3), 3)))
    return sends


def _marathon(rng: random.Random, config: Config) -> list[dict[str, Any]]:
    """Short steps for about 60% of the chaos phase: an execution that is running through
    many faults, each of which may cost it a lease (``max_lease_losses`` is 10)."""
    count = max(10, int(config.duration * 0.6 / 0.3))
    return [{"k": "plain", "i": i, "ms": rng.randint(100, 400)} if rng.random() < 0.7
            else {"k": "tx", "i": i, "ms": rng.randint(50, 300), "pg": rng.random() < 0.5}
            for i in range(count)]


def generate(config: Config) -> list[ExecutionPlan]:
    """The whole workload of ``config``: deterministic in its seed, duration and focus."""
    rng = sub_rng(config.seed, "workload")
    plans: list[ExecutionPlan] = []
    t = 0.0
    n = 0
    marathons = max(1, round(config.duration / 60))
    while True:
        t += rng.expovariate(config.start_rate)
        if t >= config.duration:
            return plans
        eid = f"s{config.seed}-{n}"
        workflow = RETRYING if rng.random() < 0.25 else FLOW
        ops = _ops(rng, config.focus, workflow)
        marathon = n < marathons
        if marathon:
            workflow, ops = FLOW, _marathon(rng, config)
        plan = ExecutionPlan(eid, workflow, {"n": n, "ops": ops}, t)
        if rng.random() < 0.15:
            plan.racers = 3
        plan.sends = _sends(rng, eid, ops)
        if rng.random() < 0.08 and not marathon:   # a marathon is there to live long
            plan.cancel_after = rng.uniform(0.2, 6.0)
        plans.append(plan)
        n += 1
