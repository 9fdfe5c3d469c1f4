"""Cron schedules: stored, ticked under each schedule's row lock, managed at run time.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

_SCHEDULE = """name, workflow, expression, tz, data::text, overlap, catchup, catchup_limit,
       source, paused, next_tick, last_tick, last_execution_id, fired, skipped, created_at,
       updated_at"""

# A schedule declared in code: created, or updated when the code changed it (a changed
# expression or time zone starts counting from its next tick after now).
UPSERT_CODE_SCHEDULE = """
INSERT INTO {s}.schedules AS t (name, workflow, expression, tz, data, overlap, catchup,
                                catchup_limit, source, next_tick)
VALUES (%(name)s, %(workflow)s, %(expression)s, %(tz)s, %(data)s::json, %(overlap)s,
        %(catchup)s, %(catchup_limit)s, 'code', %(next_tick)s)
ON CONFLICT (name) DO UPDATE
SET workflow = EXCLUDED.workflow, expression = EXCLUDED.expression, tz = EXCLUDED.tz,
    data = EXCLUDED.data, overlap = EXCLUDED.overlap, catchup = EXCLUDED.catchup,
    catchup_limit = EXCLUDED.catchup_limit, updated_at = {now},
    next_tick = CASE WHEN (t.expression, t.tz) IS DISTINCT FROM
                          (EXCLUDED.expression, EXCLUDED.tz)
                     THEN EXCLUDED.next_tick ELSE t.next_tick END
WHERE t.source = 'code'
  AND (t.workflow, t.expression, t.tz, t.data::text, t.overlap, t.catchup, t.catchup_limit)
      IS DISTINCT FROM (EXCLUDED.workflow, EXCLUDED.expression, EXCLUDED.tz,
                        EXCLUDED.data::text, EXCLUDED.overlap, EXCLUDED.catchup,
                        EXCLUDED.catchup_limit)
RETURNING name"""

SCHEDULE_SOURCE = """SELECT source, workflow FROM {s}.schedules WHERE name = %(name)s"""

# Schedules the code of these workflows no longer declares.
DELETE_STALE_CODE_SCHEDULES = """
DELETE FROM {s}.schedules
WHERE source = 'code' AND workflow = ANY(%(workflows)s) AND NOT name = ANY(%(names)s)
RETURNING name"""

CREATE_SCHEDULE = """
INSERT INTO {s}.schedules (name, workflow, expression, tz, data, overlap, catchup,
                           catchup_limit, source, next_tick)
VALUES (%(name)s, %(workflow)s, %(expression)s, %(tz)s, %(data)s::json, %(overlap)s,
        %(catchup)s, %(catchup_limit)s, 'api', %(next_tick)s)
ON CONFLICT (name) DO NOTHING
RETURNING """ + _SCHEDULE

SCHEDULES = """SELECT """ + _SCHEDULE + """ FROM {s}.schedules ORDER BY name"""

SCHEDULE = """SELECT """ + _SCHEDULE + """ FROM {s}.schedules WHERE name = %(name)s"""

SET_SCHEDULE_PAUSED = """
UPDATE {s}.schedules
SET paused = %(paused)s, updated_at = {now},
    next_tick = COALESCE(%(next_tick)s::timestamptz, next_tick)
WHERE name = %(name)s AND paused <> %(paused)s
RETURNING """ + _SCHEDULE

DELETE_SCHEDULE = """DELETE FROM {s}.schedules WHERE name = %(name)s RETURNING name"""

# The due schedules of these workflows, each under its row lock (SKIP LOCKED: another worker
# is ticking it), with the database's clock and whether each one's last execution is open.
DUE_SCHEDULES = """
SELECT s.name, s.workflow, s.expression, s.tz, s.data::text, s.overlap, s.catchup,
       s.catchup_limit, s.next_tick, s.last_execution_id,
       e.status IS NOT NULL AND e.status NOT IN ('completed', 'failed', 'cancelled'),
       {now}
FROM {s}.schedules s LEFT JOIN {s}.executions e ON e.id = s.last_execution_id
WHERE NOT s.paused AND s.next_tick <= {s}.clock_now() AND s.workflow = ANY(%(workflows)s)
ORDER BY s.next_tick
LIMIT 20
FOR UPDATE OF s SKIP LOCKED"""

ADVANCE_SCHEDULE = """
UPDATE {s}.schedules
SET next_tick = %(next_tick)s, last_tick = COALESCE(%(last_tick)s, last_tick),
    last_execution_id = COALESCE(%(last_execution_id)s, last_execution_id),
    fired = fired + %(fired)s, skipped = skipped + %(skipped)s,
    updated_at = {now}
WHERE name = %(name)s"""

NEXT_TICK_IN = """
SELECT EXTRACT(EPOCH FROM min(next_tick) - {now})::float8
FROM {s}.schedules WHERE NOT paused AND workflow = ANY(%(workflows)s)"""
