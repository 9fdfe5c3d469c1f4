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
