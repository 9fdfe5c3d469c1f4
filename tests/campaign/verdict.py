"""What the checks produce: how many facts each one checked, and every violation with its
evidence."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CHECKS = {
    "1-final-result": "every execution is final with the model's result (cancelled excepted)",
    "2-outcome-once": "a step outcome becomes done once and is never overwritten or deleted",
    "3-run-after-checkpoint": "no step function started after its checkpoint committed",
    "4-tx-exactly-once": "one business row per transactional outcome, in its transaction",
    "5-write-after-cancel": "nothing written for an execution after its cancel committed",
    "6-infra-failure": "no execution or step outcome failed for an infrastructure reason",
    "7-events": "events sent in time win, late ones do not, the first delivery stands",
    "8-racing-starts": "a start raced by several processes created one execution",
}


@dataclass
class Violation:
    check: str
    eid: str
    what: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        text = json.dumps(self.evidence, default=str, sort_keys=True)
        if len(text) > 1500:
            text = text[:1500] + "...(cut)"
        return f"[{self.check}] {self.eid}: {self.what}\n      evidence: {text}"


@dataclass
class Verdict:
    checked: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)   # facts worth knowing, not failures

    def check(self, name: str, n: int = 1) -> None:
        assert name in CHECKS, name
        self.checked[name] += n

    def fail(self, check: str, eid: str, what: str, **evidence: Any) -> None:
        assert check in CHECKS, check
        self.violations.append(Violation(check, eid, what, evidence))

    def note(self, what: str, n: int = 1) -> None:
        self.notes[what] += n

    def by_check(self) -> Counter[str]:
        return Counter(v.check for v in self.violations)

    def kinds(self) -> Counter[tuple[str, str]]:
        """Violations by check and by their description (without ids and numbers)."""
        return Counter((v.check, v.what.split(":")[0]) for v in self.violations)
