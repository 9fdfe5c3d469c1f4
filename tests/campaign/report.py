"""The campaign's summary: executions by status, faults by kind, checks run, violations by
check and kind (with the evidence of the first few of each), and the replay command."""

from __future__ import annotations

import hashlib
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .config import ROOT, Config
from .evidence import Evidence
from .nemesis import Fault
from .verdict import CHECKS, Verdict, Violation

SHOWN_PER_KIND = 3


def engine_fingerprint(package: Path = ROOT / "zart") -> str:
    """Which zart was tested: a hash of its sources (``package``), the commit of the working
    tree, and whether zart differs from it there (the engine may be edited while campaigns
    run)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".sql") and path.is_file():
            digest.update(path.relative_to(package).as_posix().encode())
            digest.update(path.read_bytes())
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "zart", "schema.sql"],
                               cwd=ROOT, text=True, capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        head, dirty = "?", ""
    changed = len(dirty.splitlines())
    return (f"zart sources {digest.hexdigest()[:10]} (commit {head or '?'}"
            f"{f', {changed} uncommitted changes' if changed else ''})")


@dataclass
class Report:
    config: Config
    verdict: Verdict
    statuses: Counter[str] = field(default_factory=Counter)
    faults: list[Fault] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    runs: int = 0
    distinct_runs: int = 0
    healing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # the run did not test what it meant to
    remarks: list[str] = field(default_factory=list)    # worth knowing, not failures
    logs: str = ""
    engine: str = ""

    @property
    def ok(self) -> bool:
        """No violation, and nothing kept the run from testing what it meant to (a worker
        that could not even start, executions the drain could not finish)."""
        return not self.verdict.violations and not self.problems

    def render(self) -> str:
        v = self.verdict
        out = [f"=== zart fault campaign: seed {self.config.seed}, {self.config.duration:g}s, "
               f"{self.config.workers} workers, focus {self.config.focus} ===",
               f"engine: {self.engine}",
               "timings: " + ", ".join(f"{k} {s:.1f}s" for k, s in self.timings.items()),
               "executions: " + _counts(self.statuses),
               f"step runs (ledger): {self.runs} for {self.distinct_runs} (execution, step) "
               f"pairs"]
        injected = Counter(f.label() for f in self.faults if not f.note.startswith("not "))
        missed = Counter(f.label() for f in self.faults if f.note.startswith("not "))
        out.append("faults injected: " + _counts(injected))
        if missed:
            out.append("faults that found nothing to hit: " + _counts(missed))
        if self.healing:
            out.append("healing: " + "; ".join(self.healing))
        out.append("checks run:")
        for name, text in CHECKS.items():
            out.append(f"  {name:24} {v.checked[name]:6} facts, "
                       f"{v.by_check()[name]:4} violations  ({text})")
        for note, n in sorted(v.notes.items()):
            out.append(f"  note: {note}: {n}")
        for problem in self.problems:
            out.append(f"  harness: {problem}")
        for remark in self.remarks:
            out.append(f"  remark: {remark}")
        if v.violations:
            out.append(f"VIOLATIONS: {len(v.violations)}")
            for (check, kind), n in sorted(v.kinds().items()):
                out.append(f"  {n:4} x [{check}] {kind}")
            grouped: dict[tuple[str, str], list[Violation]] = defaultdict(list)
            for violation in v.violations:
                grouped[(violation.check, violation.what.split(":")[0])].append(violation)
            for items in grouped.values():
                for violation in items[:SHOWN_PER_KIND]:
                    out.append("  " + violation.render())
            if self.logs:
                out.append(f"worker logs kept in {self.logs}")
        else:
            out.append("no violations")
        out.append(f"replay: {self.config.replay_command()}")
        return "\n".join(out)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items())) or "none"


def fill(report: Report, ev: Evidence) -> None:
    """Totals taken from the evidence."""
    report.statuses = Counter(e.status for e in ev.executions.values())
    report.runs = sum(len(r) for r in ev.runs.values())
    report.distinct_runs = len(ev.runs)
