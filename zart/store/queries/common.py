"""Pieces shared by the store's statements: the terminal statuses and the fence.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

TERMINAL = "('completed', 'failed', 'cancelled')"

FENCE = """
    fence AS (
        SELECT id, run FROM {s}.executions
        WHERE id = %(id)s AND owner = %(owner)s AND status = 'running'
          AND lease_until > {s}.clock_now()
        FOR NO KEY UPDATE
    )"""


# A pause rule is active until it is lifted or its until passes (by the database's clock).
ACTIVE_RULE = "p.lifted_at IS NULL AND (p.until IS NULL OR p.until > {s}.clock_now())"


def paused_execution(alias: str) -> str:
    """True while an active pause rule without a step pattern holds the execution ``alias``
    (such an execution is not claimed)."""
    return (f"EXISTS (SELECT 1 FROM {{s}}.pause_rules p WHERE {ACTIVE_RULE} "
            f"AND p.step_pattern IS NULL AND (p.workflow IS NULL OR p.workflow = {alias}.workflow) "
            f"AND (p.execution_id IS NULL OR p.execution_id = {alias}.id))")


def paused_child(child: str, parent: str) -> str:
    """True while an active pause rule holds the parallel child ``child`` of ``parent`` (by
    its step name's pattern, or the whole execution)."""
    return (f"EXISTS (SELECT 1 FROM {{s}}.pause_rules p WHERE {ACTIVE_RULE} "
            f"AND (p.workflow IS NULL OR p.workflow = {parent}.workflow) "
            f"AND (p.execution_id IS NULL OR p.execution_id = {child}.execution_id) "
            f"AND (p.step_like IS NULL OR {child}.name LIKE p.step_like))")

# The database's clock (what decides when anything is due).
CLOCK_NOW = """SELECT {s}.clock_now()"""
