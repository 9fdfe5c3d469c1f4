"""Query plans that must hold as the tables grow: the statements that pick rows by time find
them through an index, whatever else sleeps in the table (read with EXPLAIN after ANALYZE, as
autovacuum leaves a busy table)."""

from __future__ import annotations

from typing import Any

import pytest

import zart


def _plan(app: zart.Zart, statement: bytes, params: dict[str, Any]) -> str:
    with app.store.connection() as conn:
        rows = conn.execute(b"EXPLAIN " + statement, params).fetchall()
    return "\n".join(row[0] for row in rows)


def _sleeping(sql: Any, schema: str, n: int, tag: str) -> None:
    sql(f'INSERT INTO "{schema}".executions (id, workflow, status, wake_at, wait_kind) '
        f"SELECT %s || g, 'plan-wf', 'waiting', now() + interval '1 hour', 'sleep' "
        f"FROM generate_series(1, %s) g", f"asleep-{tag}-", n)
    sql(f'ANALYZE "{schema}".executions')


def test_a_claim_among_ten_thousand_sleeping_executions_reads_the_due_index(
        app: zart.Zart, sql: Any, schema: str) -> None:
    _sleeping(sql, schema, 10_000, "claim")
    plan = _plan(app, app.store.sql.CLAIM_EXECUTIONS,
                 {"workflows": ["plan-wf"], "limit": 1, "lease": 30.0, "worker": None})
    assert "executions_due" in plan, plan
    assert "Seq Scan on executions" not in plan, plan


def test_the_due_backlog_among_ten_thousand_sleeping_executions_reads_the_due_index(
        app: zart.Zart, sql: Any, schema: str) -> None:
    _sleeping(sql, schema, 10_000, "backlog")
    plan = _plan(app, app.store.sql.DUE_BACKLOG, {})
    assert "executions_due" in plan, plan


def test_the_next_due_time_among_ten_thousand_sleeping_executions_walks_the_due_index(
        app: zart.Zart, sql: Any, schema: str) -> None:
    _sleeping(sql, schema, 10_000, "next")
    plan = _plan(app, app.store.sql.NEXT_DUE, {"workflows": ["plan-wf"], "steps": []})
    # Walked in time order, stopping at the first: not min() over every sleeping execution.
    assert "Index Scan using executions_due" in plan, plan
    due = app.store.next_due(["plan-wf"])
    assert due is not None and 3500 < due <= 3600


def test_with_no_pause_rule_active_the_next_due_time_looks_for_none(
        app: zart.Zart, sql: Any, schema: str) -> None:
    _sleeping(sql, schema, 10_000, "unpaused")
    plan = _plan(app, app.store.sql.NEXT_DUE_UNPAUSED, {"workflows": ["plan-wf"], "steps": []})
    assert "pause_rules" not in plan, plan
    assert "Scan using executions_due" in plan, plan
    unpaused = app.store.next_due(["plan-wf"], paused=False)
    assert unpaused is not None and 3500 < unpaused <= 3600
    assert app.store.next_due(["plan-wf"], paused=True) == pytest.approx(unpaused, abs=1)
