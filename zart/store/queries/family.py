"""Child workflows: a parent starts a child execution as one of its commands.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

# The parent's command row first (the child's finishing trigger records into it), then the
# child execution itself: both once, whatever the replays.
RECORD_CHILD_COMMAND = """
INSERT INTO {s}.steps (execution_id, seq, kind, name, status, child, fn, started_at)
VALUES (%(parent)s, %(seq)s, 'child', %(name)s, 'pending', %(in_parallel)s, %(child)s,
        {now})
ON CONFLICT (execution_id, seq) DO NOTHING"""

START_CHILD = """
INSERT INTO {s}.executions (id, workflow, input, max_attempts, retry, deadline, wake_at,
                           timeout_seconds, parent_id, parent_seq)
VALUES (%(child)s, %(workflow)s, %(input)s::json, %(max_attempts)s, %(retry)s::json,
        {now} + make_interval(secs => %(timeout)s), {now}, %(timeout)s,
        %(parent)s, %(seq)s)
ON CONFLICT (id) DO NOTHING"""

CHILD_STATE = """
SELECT e.parent_id, e.parent_seq, e.status, e.result::text, e.error::text, e.attempt,
       s.status, s.ok, s.value::text, s.error::text
FROM {s}.executions e, {s}.steps s
WHERE e.id = %(child)s AND s.execution_id = %(parent)s AND s.seq = %(seq)s"""

# A child that finished while its parent could not take the outcome (the parent was
# cancelled then resumed): recorded now, as the child's finishing trigger would have.
RECORD_CHILD_OUTCOME = """
UPDATE {s}.steps SET status = 'done', ok = %(ok)s, value = %(value)s::json,
                     error = %(error)s::json, finished_at = {now}
WHERE execution_id = %(parent)s AND seq = %(seq)s AND status <> 'done'"""

SUSPEND_ON_CHILD = """
UPDATE {s}.executions
SET status = 'waiting', owner = NULL, lease_until = NULL, wait_kind = 'child',
    waiting_for = %(child)s, wake_at = deadline, updated_at = {now}
WHERE id = %(parent)s AND owner = %(owner)s AND status = 'running'
RETURNING 1"""

CHILDREN_OF = """
SELECT id, workflow, status, created_at, updated_at, finished_at, attempt, run, wait_kind,
       waiting_for, wake_at
FROM {s}.executions WHERE parent_id = %(id)s ORDER BY parent_seq, created_at"""

# A cancel reaches every open descendant (children, their children...).
CANCEL_DESCENDANTS = """
WITH RECURSIVE tree AS (
    SELECT id FROM {s}.executions WHERE parent_id = %(id)s
    UNION
    SELECT e.id FROM {s}.executions e JOIN tree ON e.parent_id = tree.id
), cancelled AS (
    UPDATE {s}.executions
    SET status = 'cancelled', owner = NULL, lease_until = NULL, wake_at = NULL,
        error = %(error)s::json, finished_at = {now}, updated_at = {now}
    WHERE id IN (SELECT id FROM tree) AND status NOT IN ('completed', 'failed', 'cancelled')
    RETURNING id
), steps_cancelled AS (
    UPDATE {s}.steps SET status = 'cancelled', owner = NULL
    WHERE execution_id IN (SELECT id FROM cancelled) AND child AND status <> 'done'
)
SELECT count(*) FROM cancelled"""
