"""Pieces shared by the store's statements: the database's clock, the terminal statuses and
the fence.

``{s}`` stands for the quoted schema name (validated before it is ever substituted), ``{now}``
for the database's clock (:data:`NOW`); every value is a bound parameter.
"""

from __future__ import annotations

# The database's clock: the server's now() plus the offset tests move (schema.sql's
# clock_now()), written into each statement for ``{now}``. Not the function itself: a SQL
# function that reads a table cannot be inlined, so every call site of it plans its body
# again at every execution, 10-20 us each (four of them made a step's checkpoint 60% dearer
# than an INSERT). An uncorrelated scalar subquery is an InitPlan, planned with the statement
# (once, for a prepared one) and run once per execution. LIMIT 1 tells the planner what the
# table's one row means (never analyzed, it is costed as thousands): otherwise a statement
# with several of them looked dearer as a generic plan than as a custom one, and was planned
# again at every execution (the general checkpoint took 650 us instead of 340).
#
# Except where a WHERE clause picks rows by time through an index (the claims' due rows, the
# due backlog, due schedules, purge): those call {s}.clock_now(). The planner evaluates a
# stable function to estimate how many rows are due, but knows nothing of an InitPlan's
# value and would assume a third of the table: with 10,000 sleeping executions, a claim
# scanned them all (4 ms) instead of the due index (0.7 ms).
NOW = ("(SELECT now() + make_interval(secs => zart_clock.offset_seconds)"
       " FROM {s}.clock AS zart_clock LIMIT 1)")

TERMINAL = "('completed', 'failed', 'cancelled')"

FENCE = """
    fence AS (
        SELECT id, run FROM {s}.executions
        WHERE id = %(id)s AND owner = %(owner)s AND status = 'running'
          AND lease_until > {now}
        FOR NO KEY UPDATE
    )"""


# A pause rule is active until it is lifted or its until passes (by the database's clock).
ACTIVE_RULE = "p.lifted_at IS NULL AND (p.until IS NULL OR p.until > {now})"


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

