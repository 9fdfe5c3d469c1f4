"""The application's statements: start, read, signal and cancel executions; LISTEN.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

from .common import TERMINAL

# Channels are "<schema>_work" / "<schema>_done", built from the validated schema name.
LISTEN = 'LISTEN "{channel}"'

UNLISTEN = "UNLISTEN *"

# A queued execution's queue gets its row (without limits) if no worker has declared it yet:
# the claim of queued executions starts from the queues' rows.
INSERT_EXECUTION = """
WITH queue AS (
    INSERT INTO {s}.queues (name) SELECT %(queue)s::text WHERE %(queue)s::text IS NOT NULL
    ON CONFLICT DO NOTHING
)
INSERT INTO {s}.executions (id, workflow, input, max_attempts, retry, deadline, wake_at,
                           timeout_seconds, queue, queue_key, priority, trace_context,
                           created_at, updated_at)
SELECT %(id)s, %(workflow)s, %(input)s::json, %(max_attempts)s, %(retry)s::json,
       clock.now + make_interval(secs => %(timeout)s), clock.now, %(timeout)s,
       %(queue)s, %(key)s, %(priority)s, %(trace)s::json, clock.now, clock.now
FROM (SELECT {now} AS now) AS clock
ON CONFLICT (id) DO NOTHING
RETURNING id"""

GET_EXECUTION = """
SELECT id, workflow, status, input::text, result::text, error::text, attempt, max_attempts,
       created_at, updated_at, finished_at
FROM {s}.executions WHERE id = %(id)s"""

# An event is delivered to an execution that is not finished and whose wait of that name is
# still to come or still open: not once the wait is done (consumed, or timed out) or its
# deadline has passed, because such an event could never be read. The execution's row lock
# orders this against the worker, which writes the wait's row under the same lock; FOR SHARE
# reads that row as last committed (the statement's snapshot may predate the lock).
SEND_EVENT = """
WITH target AS (
    SELECT id, status, wait_kind, waiting_for FROM {s}.executions WHERE id = %(id)s
    FOR NO KEY UPDATE
), wait AS (
    SELECT status = 'done' OR wake_at <= {now} AS closed FROM {s}.steps
    WHERE execution_id = %(id)s AND kind = 'event' AND name = %(name)s
    FOR SHARE
), delivered AS (
    INSERT INTO {s}.events (execution_id, name, payload)
    SELECT id, %(name)s, %(payload)s::json FROM target
    WHERE status NOT IN """ + TERMINAL + """
      AND NOT EXISTS (SELECT 1 FROM wait WHERE closed)
    ON CONFLICT DO NOTHING
    RETURNING 1
), woken AS (
    UPDATE {s}.executions e
    SET status = 'pending', wake_at = {now}, wait_kind = NULL, waiting_for = NULL,
        updated_at = {now}
    FROM target t
    WHERE e.id = t.id AND t.status = 'waiting' AND t.wait_kind = 'event'
      AND t.waiting_for = %(name)s
      AND EXISTS (SELECT 1 FROM delivered)
    RETURNING 1
)
SELECT t.status, EXISTS (SELECT 1 FROM delivered) FROM target t"""

SHIFT_CLOCK = "UPDATE {s}.clock SET offset_seconds = offset_seconds + %(seconds)s"

# Tests only (zart.testing.advance): what the database's clock says, and a wake-up for the
# workers' dispatchers, whose next due time was computed before the clock moved.
CLOCK_NOW = "SELECT {now}"
WAKE_WORKERS = "SELECT pg_notify(%(channel)s, '')"
