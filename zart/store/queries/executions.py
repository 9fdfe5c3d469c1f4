"""The hot path: a worker's fenced transitions on an execution it holds.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

from .common import ACTIVE_RULE, FENCE

LOAD_HISTORY = """
SELECT seq, kind, name, status, ok, value::text, error::text, attempt, wake_at, deadline,
       backoffs
FROM {s}.steps WHERE execution_id = %(id)s ORDER BY seq"""

# Any outcome, at any position (a retry or a timed attempt may have left a row there). A step's
# failure is also kept in step_attempts. %(elapsed)s: seconds the command took, so its start
# is on the database's clock too. %(guard)s: a timed attempt's success is accepted only before
# its deadline, by the database's clock. Returns 1 when written; 0 when refused only because
# the deadline passed (the claim still holds the execution); nothing when fenced out.
CHECKPOINT = "WITH" + FENCE + """,
    saved AS (
        INSERT INTO {s}.steps AS t (execution_id, seq, kind, name, status, ok, value, error,
                                    attempt, started_at, finished_at, created_at)
        SELECT id, %(seq)s, %(kind)s, %(name)s, 'done', %(ok)s, %(value)s::json,
               %(error)s::json, %(attempt)s,
               {now} - make_interval(secs => %(elapsed)s), {now}, {now}
        FROM fence
        ON CONFLICT (execution_id, seq) DO UPDATE
        SET status = 'done', ok = EXCLUDED.ok, value = EXCLUDED.value, error = EXCLUDED.error,
            attempt = EXCLUDED.attempt, started_at = EXCLUDED.started_at,
            finished_at = EXCLUDED.finished_at
        WHERE t.status <> 'done' AND t.kind = EXCLUDED.kind
          AND t.name = EXCLUDED.name
          AND (NOT %(guard)s OR NOT EXCLUDED.ok OR t.deadline IS NULL
               OR t.deadline > {now})
        RETURNING started_at
    ),
    failed AS (
        INSERT INTO {s}.step_attempts (execution_id, run, seq, name, attempt, started_at,
                                       error)
        SELECT fence.id, fence.run, %(seq)s, %(name)s, %(attempt)s, saved.started_at,
               %(error)s::json
        FROM fence, saved WHERE NOT %(ok)s AND %(kind)s = 'step'
    )
SELECT 1 FROM saved
UNION ALL
SELECT 0 FROM fence, {s}.steps t
WHERE NOT EXISTS (SELECT 1 FROM saved) AND %(guard)s AND t.execution_id = fence.id
  AND t.seq = %(seq)s AND t.status <> 'done' AND t.deadline <= {now}"""

# The hot path: a first success at a position nothing was recorded at yet (no retry or timed
# attempt left a row there), so a plain insert does, without ON CONFLICT's extra work. Run as
# a raw prepared statement (zart.store.prepared): libpq placeholders, text parameters (id,
# owner, seq, kind, name, value, attempt, elapsed seconds), each cast where the server could not
# infer its type; no ok/error to send. Every time column is given (created_at too): a column
# default would call the clock_now() function, the cost {now} avoids.
CHECKPOINT_NEW_OK = "WITH" + FENCE.replace("%(id)s", "$1").replace("%(owner)s", "$2::uuid") + """
INSERT INTO {s}.steps (execution_id, seq, kind, name, status, ok, value, attempt, started_at,
                       finished_at, created_at)
SELECT id, $3::int, $4::text, $5::text, 'done', true, $6::json, $7::int,
       clock.now - make_interval(secs => $8::float8), clock.now, clock.now
FROM fence, (SELECT {now} AS now) AS clock
RETURNING 1"""

# A global deadline spans the attempts that ran and failed (the row is 'pending' between them);
# an attempt a fault interrupted (the row still 'running') runs again with a fresh one. A done
# row is never touched: nothing is returned, as for a fenced-out claim.
BEGIN_ATTEMPT = "WITH" + FENCE + """
INSERT INTO {s}.steps AS t (execution_id, seq, kind, name, status, attempt, deadline,
                            started_at)
SELECT id, %(seq)s, 'step', %(name)s, 'running', %(attempt)s,
       {now} + make_interval(secs => %(timeout)s), {now}
FROM fence
ON CONFLICT (execution_id, seq) DO UPDATE
SET status = 'running', attempt = EXCLUDED.attempt, started_at = EXCLUDED.started_at,
    deadline = CASE WHEN %(scope)s = 'global' AND t.status = 'pending'
                    THEN COALESCE(t.deadline, EXCLUDED.deadline)
                    ELSE EXCLUDED.deadline END
WHERE t.status <> 'done'
RETURNING EXTRACT(EPOCH FROM deadline - {now})::float8"""

# A failed attempt with a retry left (or a step that asked to be run again later: %(backoff)s,
# which spends no attempt and is counted in backoffs): kept in step_attempts, the row waits
# for the retry, and the execution suspends until it is due.
RETRY_STEP_LATER = "WITH" + FENCE + """,
    saved AS (
        INSERT INTO {s}.steps AS t (execution_id, seq, kind, name, status, attempt, error,
                                    wake_at, started_at, backoffs)
        SELECT id, %(seq)s, 'step', %(name)s, 'pending', %(attempt)s, %(error)s::json,
               {now} + make_interval(secs => %(delay)s),
               {now} - make_interval(secs => %(elapsed)s),
               CASE WHEN %(backoff)s THEN 1 ELSE 0 END
        FROM fence
        ON CONFLICT (execution_id, seq) DO UPDATE
        SET status = 'pending', attempt = EXCLUDED.attempt, error = EXCLUDED.error,
            wake_at = EXCLUDED.wake_at, started_at = EXCLUDED.started_at,
            backoffs = CASE WHEN %(backoff)s THEN t.backoffs + 1 ELSE 0 END
        WHERE t.status <> 'done'
        RETURNING wake_at, started_at
    ),
    failed AS (
        INSERT INTO {s}.step_attempts (execution_id, run, seq, name, attempt, started_at,
                                       error)
        SELECT fence.id, fence.run, %(seq)s, %(name)s, %(attempt)s, saved.started_at,
               %(error)s::json
        FROM fence, saved
    )
UPDATE {s}.executions e
SET status = 'waiting', owner = NULL, lease_until = NULL,
    wait_kind = CASE WHEN %(backoff)s THEN 'backoff' ELSE 'retry' END,
    waiting_for = %(name)s, wake_at = LEAST(saved.wake_at, e.deadline),
    updated_at = {now}
FROM saved WHERE e.id = %(id)s
RETURNING 1"""

SCHEDULE_SLEEP = "WITH" + FENCE + """
INSERT INTO {s}.steps AS t (execution_id, seq, kind, name, status, wake_at)
SELECT id, %(seq)s, 'sleep', %(name)s, 'pending',
       COALESCE(%(until)s::timestamptz, {now} + make_interval(secs => %(seconds)s))
FROM fence
ON CONFLICT (execution_id, seq) DO UPDATE SET wake_at = t.wake_at WHERE t.status <> 'done'
RETURNING wake_at, wake_at <= {now}"""

SCHEDULE_WAIT = "WITH" + FENCE + """
INSERT INTO {s}.steps AS t (execution_id, seq, kind, name, status, wake_at)
SELECT id, %(seq)s, 'event', %(name)s, 'pending',
       {now} + make_interval(secs => %(timeout)s)
FROM fence
ON CONFLICT (execution_id, seq) DO UPDATE SET wake_at = t.wake_at WHERE t.status <> 'done'
RETURNING wake_at"""

# Resuming a sleep whose row exists (the execution suspended on it and was claimed again):
# when it is due, this one fenced statement records it done. Nothing returned: not due (or
# fenced out), and the worker takes the general path (SCHEDULE_SLEEP, then a checkpoint).
RESUME_DUE_SLEEP = "WITH" + FENCE + """
UPDATE {s}.steps t
SET status = 'done', ok = true, value = 'null', error = NULL, finished_at = {now}
FROM fence
WHERE t.execution_id = fence.id AND t.seq = %(seq)s AND t.kind = 'sleep'
  AND t.name = %(name)s AND t.status <> 'done' AND t.wake_at <= {now}
RETURNING 1"""

# The same for an event wait whose event has arrived: one fenced statement takes the payload.
# An event whose delivery committed after this statement's snapshot is missed here (nothing
# returned) and found by the general path (SCHEDULE_WAIT, then FIND_EVENT under the lock).
# The database decides: only an event received by the wait's deadline (the row's wake_at)
# counts, however late a worker comes to look.
RESUME_ARRIVED_EVENT = "WITH" + FENCE + """,
    arrived AS (
        SELECT payload, received_at FROM {s}.events
        WHERE execution_id = %(id)s AND name = %(name)s
    )
UPDATE {s}.steps t
SET status = 'done', ok = true, value = arrived.payload, error = NULL,
    finished_at = {now}
FROM fence, arrived
WHERE t.execution_id = fence.id AND t.seq = %(seq)s AND t.kind = 'event'
  AND t.name = %(name)s AND t.status <> 'done'
  AND (t.wake_at IS NULL OR arrived.received_at <= t.wake_at)
RETURNING t.value::text"""

# Runs as its own statement after SCHEDULE_WAIT has locked the execution row, so its
# snapshot includes any event whose delivery committed while we waited for that lock. An
# event counts only if it was received by the deadline (%(wake_at)s; NULL: none).
FIND_EVENT = """
WITH arrived AS (
    SELECT payload FROM {s}.events
    WHERE execution_id = %(id)s AND name = %(name)s
      AND (%(wake_at)s::timestamptz IS NULL OR received_at <= %(wake_at)s::timestamptz)
)
SELECT (SELECT payload::text FROM arrived), EXISTS (SELECT 1 FROM arrived),
       %(wake_at)s::timestamptz <= {now}"""

SUSPEND = """
UPDATE {s}.executions
SET status = 'waiting', owner = NULL, lease_until = NULL, wait_kind = %(wait_kind)s,
    waiting_for = %(waiting_for)s, paused_by = %(paused_by)s,
    wake_at = LEAST(%(wake_at)s::timestamptz, deadline), updated_at = {now}
WHERE id = %(id)s AND owner = %(owner)s AND status = 'running'
RETURNING 1"""

LOCK_FENCE = "WITH" + FENCE + " SELECT 1 FROM fence"

# Suspends in front of a step a pause rule holds, while that rule is still active in the
# database: FOR SHARE orders this against the rule's lifting (whose UPDATE waits for this, or
# this for it, and then sees it lifted), so an execution never suspends on a rule already
# lifted and stays there. Returns (rule active, suspended).
SUSPEND_PAUSED = """
WITH rule AS (
    SELECT p.until FROM {s}.pause_rules p WHERE p.id = %(rule)s AND """ + ACTIVE_RULE + """
    FOR SHARE
), paused AS (
    UPDATE {s}.executions e
    SET status = 'waiting', owner = NULL, lease_until = NULL, wait_kind = 'paused',
        waiting_for = %(step)s, paused_by = %(rule)s, wake_at = LEAST(rule.until, e.deadline),
        updated_at = {now}
    FROM rule WHERE e.id = %(id)s AND e.owner = %(owner)s AND e.status = 'running'
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM rule), EXISTS (SELECT 1 FROM paused)"""

# Suspends on a parallel's children, with the count of those still open (counted under the
# parent's lock, which every child completion takes first).
SUSPEND_ON_CHILDREN = """
UPDATE {s}.executions
SET status = 'waiting', owner = NULL, lease_until = NULL, wait_kind = 'children',
    waiting_for = NULL, open_children = %(open)s, wake_at = deadline,
    updated_at = {now}
WHERE id = %(id)s AND owner = %(owner)s AND status = 'running'
RETURNING 1"""

SPAWN_CHILDREN = """
INSERT INTO {s}.steps (execution_id, seq, kind, name, status, child, fn, args, options, wake_at)
SELECT %(id)s, c.seq, 'step', c.name, 'pending', true, c.fn, c.args, c.options,
       {now}
FROM unnest(%(seqs)s::int[], %(names)s::text[], %(fns)s::text[], %(args)s::json[],
            %(options)s::json[]) AS c(seq, name, fn, args, options)
ON CONFLICT DO NOTHING"""

CHILDREN_OPEN = """
SELECT count(*) FROM {s}.steps
WHERE execution_id = %(id)s AND child AND seq = ANY(%(seqs)s) AND status <> 'done'"""

COMPLETE = "WITH" + FENCE + """
UPDATE {s}.executions e
SET status = 'completed', result = %(result)s::json, owner = NULL, lease_until = NULL,
    finished_at = {now}, updated_at = {now}
FROM fence WHERE e.id = fence.id
RETURNING 1"""

FAIL = "WITH" + FENCE + """
UPDATE {s}.executions e
SET status = 'failed', error = %(error)s::json, owner = NULL, lease_until = NULL,
    finished_at = {now}, updated_at = {now}
FROM fence WHERE e.id = fence.id
RETURNING 1"""

# A workflow retry forgets the failed outcomes of the command that raised (from_seq on), so
# that command runs again; every other outcome replays.
FORGET_FAILURES = """
DELETE FROM {s}.steps
WHERE execution_id = %(id)s AND seq >= %(from_seq)s AND status = 'done' AND NOT ok
  AND kind = 'step'"""

RETRY_WORKFLOW = "WITH" + FENCE + """
UPDATE {s}.executions e
SET status = 'pending', attempt = e.attempt + 1, error = %(error)s::json, owner = NULL,
    lease_until = NULL, wake_at = {now} + make_interval(secs => %(delay)s),
    wait_kind = 'retry', waiting_for = NULL, updated_at = {now}
FROM fence WHERE e.id = fence.id
RETURNING 1"""

RELEASE = """
UPDATE {s}.executions
SET status = 'pending', owner = NULL, lease_until = NULL, wake_at = {now},
    wait_kind = NULL, waiting_for = NULL, updated_at = {now}
WHERE id = %(id)s AND owner = %(owner)s AND status = 'running'"""
