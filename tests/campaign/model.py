"""The pure model: what an execution must return, computed from its input alone.

The workflow body (``app.run_ops``) and this model interpret the same list of operations; the
body through zart, the model directly. Operations whose outcome depends on timing (a fast step
with a timeout, an event wait) are not guessed: the model lists the outcomes allowed and the
checker decides, from the recorded history and the fault log, whether the one that happened
was justified. Operations that only change the trace (timed steps, events, captures, parallel
fan-outs) never change ``acc``, so an allowed alternative in one place cannot change what
every later operation must return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .plan import RETRYING, WORKFLOW_ATTEMPTS

INJECTED = "InjectedFailure"      # the error type every deliberate step failure raises
RETRY_ATTEMPTS = 4                # r-/rx- steps: fixed(3, ...)
CHILD_ATTEMPTS = 2                # parallel children: fixed(1, ...)
TIMEOUT_MARK = "timeout"
NO_EVENT_MARK = "no-event"


def mix(acc: int, i: int, tag: str) -> int:
    """The value a step returns: deterministic in its inputs, different per operation."""
    return (acc * 1103 + i * 7919 + sum(map(ord, tag)) * 31) % 1_000_003


def start_acc(n: int) -> int:
    """The accumulator an execution starts with."""
    return (n * 7907 + 17) % 1_000_003


@dataclass(frozen=True)
class Outcome:
    """What one operation contributes to the trace.

    ``kind``: ``exact`` (``value``), ``timeout-or`` (``value``, or a StepTimeout the checker
    must find justified), ``timeout`` (only a StepTimeout), ``event`` (a payload that was
    delivered in time, or no event), ``captured`` (whatever the history recorded), ``none``
    (the operation leaves no trace entry: a body failure that is retried).
    """

    op: dict[str, Any]
    kind: str
    value: Any = None


@dataclass(frozen=True)
class StepInfo:
    """A name the execution records in its history, and what its outcome may be."""

    kind: str                      # step | sleep | event | capture
    op: str                        # the operation kind that yields it
    transactional: bool = False
    failure: str | None = None     # the only error type a failed outcome may carry


@dataclass
class Expectation:
    """Everything the model says about one execution."""

    id: str
    workflow: str
    completes: bool                       # else: fails with ``error_type``
    outcomes: list[Outcome] = field(default_factory=list)
    acc: int = 0
    error_type: str | None = None
    attempts: int = 1                     # the body attempt that finishes it
    names: dict[str, StepInfo] = field(default_factory=dict)

    def result_matches(self, result: Any) -> bool:
        """The parts of a completed result the model fixes exactly (``acc``, trace length)."""
        return (isinstance(result, dict) and result.get("acc") == self.acc
                and isinstance(result.get("trace"), list)
                and len(result["trace"]) == sum(1 for o in self.outcomes if o.kind != "none"))


def _timed(op: dict[str, Any], acc: int, names: dict[str, StepInfo]) -> Outcome:
    variant = op["v"]
    name = f"{variant}-{op['i']}"
    names[name] = StepInfo("step", "timed", variant.startswith("tx"), "StepTimeout")
    value = mix(acc, op["i"], variant)
    if variant in ("ts", "txs"):
        return Outcome(op, "timeout")
    return Outcome(op, "timeout-or", value)


def _parallel(op: dict[str, Any], acc: int, names: dict[str, StepInfo]) -> Outcome:
    i = op["i"]
    results: list[Any] = []
    first_failed: str | None = None
    for j, child in enumerate(op["ch"]):
        name = f"{'cx' if child['tx'] else 'c'}-{i}-{j}"
        names[name] = StepInfo("step", "par", child["tx"], INJECTED)
        if child["f"] >= CHILD_ATTEMPTS:
            results.append(f"failed:{INJECTED}")
            first_failed = first_failed or name
        else:
            results.append(mix(acc, i * 10 + j, "c"))
    if first_failed is not None and not op["rex"]:
        return Outcome(op, "exact", f"parfail:{first_failed}")
    return Outcome(op, "exact", results)


def expect(eid: str, workflow: str, data: dict[str, Any]) -> Expectation:
    """The model of ``workflow`` run on ``data``: see the module docstring."""
    ops: list[dict[str, Any]] = data["ops"]
    exp = Expectation(eid, workflow, completes=True)
    names = exp.names
    acc = start_acc(data["n"])
    if workflow == RETRYING:
        gates = [op["u"] for op in ops if op["k"] in ("wfail", "bfail")]
        exp.attempts = min(max(gates, default=1), WORKFLOW_ATTEMPTS)
    for op in ops:
        k, i = op["k"], op["i"]
        if k == "plain":
            names[f"p-{i}"] = StepInfo("step", k)
            acc = mix(acc, i, "p")
            exp.outcomes.append(Outcome(op, "exact", acc))
        elif k == "tx":
            names[f"x-{i}"] = StepInfo("step", k, transactional=True)
            acc = mix(acc, i, "x")
            exp.outcomes.append(Outcome(op, "exact", acc))
        elif k == "timed":
            exp.outcomes.append(_timed(op, acc, names))
        elif k == "retry":
            names[f"{'rx' if op['tx'] else 'r'}-{i}"] = StepInfo("step", k, op["tx"], INJECTED)
            if op["f"] >= RETRY_ATTEMPTS:
                exp.outcomes.append(Outcome(op, "exact", f"failed:{INJECTED}"))
            else:
                acc = mix(acc, i, "r")
                exp.outcomes.append(Outcome(op, "exact", acc))
        elif k == "par":
            exp.outcomes.append(_parallel(op, acc, names))
        elif k == "sleep":
            names[f"s-{i}"] = StepInfo("sleep", k)
            exp.outcomes.append(Outcome(op, "exact", "slept"))
        elif k == "event":
            names[f"e-{i}"] = StepInfo("event", k, failure="EventTimeout")
            exp.outcomes.append(Outcome(op, "event"))
        elif k in ("cap", "now"):
            names[f"{k}-{i}"] = StepInfo("capture", k)
            exp.outcomes.append(Outcome(op, "captured"))
        elif k == "wfail":
            names[f"w-{i}"] = StepInfo("step", k, failure=INJECTED)
            if op["u"] > WORKFLOW_ATTEMPTS:
                return _fails(exp, INJECTED)
            acc = mix(acc, i * 100 + op["u"], "w")
            exp.outcomes.append(Outcome(op, "exact", acc))
        elif k == "bfail":
            if op["u"] > WORKFLOW_ATTEMPTS:
                return _fails(exp, INJECTED)
            exp.outcomes.append(Outcome(op, "exact", "bfail-ok"))
        elif k == "think":
            exp.outcomes.append(Outcome(op, "none"))
        elif k == "doom":
            names[f"d-{i}"] = StepInfo("step", k, failure=INJECTED)
            return _fails(exp, INJECTED)
        else:
            raise ValueError(f"unknown operation {op!r}")
    exp.acc = acc
    return exp


def _fails(exp: Expectation, error_type: str) -> Expectation:
    exp.completes = False
    exp.error_type = error_type
    exp.outcomes = []
    return exp
