"""A divergence as people read it: where, why, and a diff of what the history recorded
against what the code now yields there (``-`` recorded, ``+`` the code, context around)."""

from __future__ import annotations

from .check import Divergence, describe

__all__ = ["render"]

CONTEXT = 3
"""Recorded commands shown before and after the position where the two part."""


def render(divergence: Divergence, *, context: int = CONTEXT) -> list[str]:
    """The lines that explain ``divergence`` (no trailing newlines)."""
    d = divergence
    lines = [f"execution {d.execution_id} (workflow {d.workflow}, {d.status}): {d.error} at "
             f"position {d.position}",
             f"  {d.reason}",
             "  --- history (recorded)",
             "  +++ code (now)"]
    before = [r for r in d.recorded if d.position - context <= r[0] < d.position]
    if before and before[0][0] > 0:
        lines.append(f"     ... {before[0][0]} earlier command(s), the same in both")
    lines.extend(f"     {seq:>5}  {describe(kind, name)}" for seq, kind, name in before)
    after = [r for r in d.recorded if r[0] >= d.position]
    shown = after[:context + 1]
    if shown and shown[0][0] == d.position:
        seq, kind, name = shown[0]
        lines.append(f"  -  {seq:>5}  {describe(kind, name)}")
        shown = shown[1:]
    lines.append(f"  +  {d.position:>5}  {d.code}")
    lines.extend(f"  -  {seq:>5}  {describe(kind, name)}" for seq, kind, name in shown)
    hidden = len(after) - len(shown) - (1 if after and after[0][0] == d.position else 0)
    if hidden > 0:
        lines.append(f"  -  ...    {hidden} more recorded command(s)")
    return lines
