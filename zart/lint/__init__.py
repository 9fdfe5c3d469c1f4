"""``zart lint``: flag what makes a workflow body non-deterministic, with the stdlib's ``ast``.

A body re-runs on every replay, so it must compute the same thing each time: no wall clock,
random numbers, environment, network or file I/O, or threads in it (steps may do all of
that). Each finding gives the line, the reason and the zart alternative (``zart.now``,
``zart.capture``, ``zart.sleep``, a step); ``# zart: allow`` silences a line. It reads the
bodies only, not the helpers they call.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .rules import RULES, Rule
from .scanner import Finding, scan_source
from .sources import source_files

__all__ = ["RULES", "Finding", "Rule", "lint_files", "scan_source", "source_files"]


def lint_files(paths: Iterable[Path]) -> list[Finding]:
    """The findings in the workflow bodies of these files; SyntaxError (naming the file and
    line) for one that does not parse, OSError for one that cannot be read."""
    findings: list[Finding] = []
    for path in paths:
        findings.extend(scan_source(path.read_text(encoding="utf-8"), str(path)))
    return findings
