"""Claiming due work, finding when the next work falls due, and keeping leases alive.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

from .common import TERMINAL, paused_child, paused_execution

CLAIM_EXECUTIONS = """
WITH due AS (
    SELECT id FROM {s}.executions x
    WHERE workflow = ANY(%(workflows)s)
      AND ((status IN ('pending', 'waiting') AND wake_at <= {s}.clock_now()
            AND queue IS NULL)  -- queued ones: CLAIM_QUEUED, which keeps their limits
           OR (status = 'running' AND lease_until < {s}.clock_now()))
      AND NOT """ + paused_execution("x") + """
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE {s}.executions e
SET status = 'running', owner = gen_random_uuid(),
    lease_until = {now} + make_interval(secs => %(lease)s),
    lost_leases = e.lost_leases + CASE WHEN e.status = 'running' THEN 1 ELSE 0 END,
    lost_owner = CASE WHEN e.status = 'running' THEN e.owner ELSE e.lost_owner END,
    claims = e.claims + 1, worker_id = %(worker)s, claimed_at = {now},
    wake_at = NULL, wait_kind = NULL, waiting_for = NULL, paused_by = NULL,
    updated_at = {now}
FROM due WHERE e.id = due.id
RETURNING e.id, e.workflow, e.input::text, e.owner, e.attempt, e.max_attempts, e.retry::text,
          e.lost_leases, e.deadline IS NOT NULL AND e.deadline <= {now},
          EXTRACT(EPOCH FROM e.deadline - {now})::float8,
          -- From the row this statement locked and updated, not from its snapshot: a previous
          -- owner's checkpoint may have committed after the snapshot, before the lock.
          e.claims > 1, e.run, e.trace_context::text,
          EXTRACT(EPOCH FROM {now} - e.created_at)::float8"""

# What claiming a child sets, and what a claim returns: shared by the dispatcher's claim and
# the claim of a parent's next children that rides on a completion (COMPLETE_CHILDREN).
_CHILD_CLAIM_SET = """
SET status = 'running', owner = gen_random_uuid(),
    lease_until = {now} + make_interval(secs => %(lease)s),
    attempt = s.attempt + CASE WHEN s.status = 'pending' THEN 1 ELSE 0 END,
    lost_leases = s.lost_leases + CASE WHEN s.status = 'running' THEN 1 ELSE 0 END,
    lost_owner = CASE WHEN s.status = 'running' THEN s.owner ELSE s.lost_owner END,
    worker_id = %(worker)s, started_at = {now},
    -- A global deadline spans the attempts that ran and failed; an attempt interrupted by a
    -- fault (taken over, or handed back with its deadline cleared) runs again with a fresh one.
    deadline = CASE
        WHEN s.options->>'timeout' IS NULL THEN NULL
        WHEN s.options->>'timeout_scope' = 'global' AND s.deadline IS NOT NULL
             AND s.status = 'pending' THEN s.deadline
        ELSE {now} + make_interval(secs => (s.options->>'timeout')::float8) END"""
_CHILD_CLAIM_RETURNING = """
RETURNING s.execution_id, s.seq, s.name, s.fn, s.args::text, s.options::text, s.attempt,
          s.owner, s.lost_leases, e.workflow, e.input::text,
          EXTRACT(EPOCH FROM s.deadline - {now})::float8, s.backoffs,
          e.trace_context::text"""

# A child is due when its (retry) time has come, or its worker's lease ran out; only for a
# worker that knows its step (%(steps)s: the registered names it can run), and not while a
# pause rule holds it. Its parent is "e".
_CHILD_DUE = """s.kind = 'step' AND s.fn = ANY(%(steps)s)
      AND ((s.status = 'pending' AND s.wake_at <= {s}.clock_now())
           OR (s.status = 'running' AND s.lease_until < {s}.clock_now()))
      AND NOT """ + paused_child("s", "e")

CLAIM_CHILDREN = """
WITH due AS (
    SELECT s.execution_id, s.seq FROM {s}.steps s
    JOIN {s}.executions e ON e.id = s.execution_id
    WHERE s.child AND e.status NOT IN """ + TERMINAL + """
      AND """ + _CHILD_DUE + """
    LIMIT %(limit)s
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE {s}.steps s""" + _CHILD_CLAIM_SET + """
FROM due, {s}.executions e
WHERE s.execution_id = due.execution_id AND s.seq = due.seq AND e.id = s.execution_id""" + \
    _CHILD_CLAIM_RETURNING

# Paused work is not due (the dispatcher would otherwise look again every tenth of a second):
# lifting a rule announces what it held. Each earliest time is ORDER BY ... LIMIT 1, not
# min(): with the pause rules' anti-join the planner cannot turn min() into a walk of the
# time's index, and would aggregate every sleeping execution at every idle round (11 ms with
# 10,000 of them); the walk stops at the first row that qualifies.
NEXT_DUE = """
SELECT (EXTRACT(EPOCH FROM LEAST(
    (SELECT wake_at FROM {s}.executions x
     WHERE status IN ('pending', 'waiting') AND workflow = ANY(%(workflows)s)
       AND queue IS NULL AND NOT """ + paused_execution("x") + """
     ORDER BY wake_at LIMIT 1),
    (SELECT lease_until FROM {s}.executions x
     WHERE status = 'running' AND workflow = ANY(%(workflows)s)
       AND NOT """ + paused_execution("x") + """
     ORDER BY lease_until LIMIT 1),
    (SELECT s.wake_at FROM {s}.steps s JOIN {s}.executions e ON e.id = s.execution_id
     WHERE s.child AND s.status = 'pending' AND s.fn = ANY(%(steps)s)
       AND NOT """ + paused_child("s", "e") + """
     ORDER BY s.wake_at LIMIT 1),
    (SELECT s.lease_until FROM {s}.steps s JOIN {s}.executions e ON e.id = s.execution_id
     WHERE s.child AND s.status = 'running' AND s.fn = ANY(%(steps)s)
       AND NOT """ + paused_child("s", "e") + """
     ORDER BY s.lease_until LIMIT 1),
    (SELECT min(next_tick) FROM {s}.schedules
     WHERE NOT paused AND workflow = ANY(%(workflows)s))
)) - EXTRACT(EPOCH FROM {now}))::float8"""

# The same when no pause rule is active (the worker's cache says so), as most of the time: no
# anti-join, a cheaper plan to make at every idle round, and one that walks each time's index
# in order even with the statistics of before a burst of suspensions (until autovacuum's
# ANALYZE, the planner believes the table small: the anti-join's plan then sorted every
# sleeping execution, 7-11 ms with 10,000 of them, and min() aggregated them all, 4 ms).
NEXT_DUE_UNPAUSED = """
SELECT (EXTRACT(EPOCH FROM LEAST(
    (SELECT wake_at FROM {s}.executions
     WHERE status IN ('pending', 'waiting') AND workflow = ANY(%(workflows)s)
       AND queue IS NULL
     ORDER BY wake_at LIMIT 1),
    (SELECT lease_until FROM {s}.executions
     WHERE status = 'running' AND workflow = ANY(%(workflows)s)
     ORDER BY lease_until LIMIT 1),
    (SELECT wake_at FROM {s}.steps
     WHERE child AND status = 'pending' AND fn = ANY(%(steps)s)
     ORDER BY wake_at LIMIT 1),
    (SELECT lease_until FROM {s}.steps
     WHERE child AND status = 'running' AND fn = ANY(%(steps)s)
     ORDER BY lease_until LIMIT 1),
    (SELECT min(next_tick) FROM {s}.schedules
     WHERE NOT paused AND workflow = ANY(%(workflows)s))
)) - EXTRACT(EPOCH FROM {now}))::float8"""

# Is any execution of these (rate-limited) queues due and still unclaimed? While one is, a
# worker looks again as the rate's tokens refill; while none is, it need not.
QUEUED_DUE = """
SELECT EXISTS (SELECT 1 FROM {s}.executions
               WHERE queue = ANY(%(queues)s) AND status IN ('pending', 'waiting')
                 AND wake_at <= {s}.clock_now() AND workflow = ANY(%(workflows)s))"""

# Queued executions: their queue's limits decide how many may be claimed, under the queue's
# row lock (SKIP LOCKED: a queue another worker is claiming from is left for this round), so
# every worker process counts the same running executions. Per queue: room under its
# concurrency; its candidates, highest priority then oldest due first, not over their key's
# per_key with the ones of that key already running; starts (first claims) within the rate's
# tokens. Queues take turns (each one's first candidate before any one's second). The tokens
# spent are written back; the running counts are kept by the executions_queue_running trigger.
CLAIM_QUEUED = """
WITH q AS (
    SELECT name, concurrency, per_key, running, rate_limit, rate_period, tokens, refilled_at
    FROM {s}.queues
    WHERE %(queues)s::text[] IS NULL OR name = ANY(%(queues)s::text[])
    FOR UPDATE SKIP LOCKED
), budget AS (
    SELECT name, per_key,
           CASE WHEN concurrency IS NULL THEN %(limit)s
                ELSE LEAST(%(limit)s, concurrency - running) END AS room,
           CASE WHEN rate_limit IS NULL THEN NULL
                ELSE LEAST(rate_limit::float8, tokens + rate_limit *
                           EXTRACT(EPOCH FROM {now} - refilled_at)::float8
                           / rate_period) END AS tokens_now
    FROM q
), cand AS (
    SELECT b.name, b.per_key, b.room, b.tokens_now, c.*
    FROM budget b CROSS JOIN LATERAL (
        SELECT x.id, x.queue_key, x.claims = 0 AS is_start, x.priority, x.wake_at
        FROM {s}.executions x
        WHERE x.queue = b.name AND x.workflow = ANY(%(workflows)s)
          AND x.status IN ('pending', 'waiting') AND x.wake_at <= {s}.clock_now()
          AND NOT """ + paused_execution("x") + """
        ORDER BY x.priority DESC, x.wake_at
        LIMIT GREATEST(b.room, 0) * 4 + 4
    ) c
    WHERE b.room > 0
), keyed AS (
    SELECT cand.*, COALESCE(k.running, 0) + row_number() OVER (
               PARTITION BY cand.name, cand.queue_key
               ORDER BY cand.priority DESC, cand.wake_at) AS key_load
    FROM cand LEFT JOIN {s}.queue_keys k ON k.queue = cand.name AND k.key = cand.queue_key
), allowed AS (
    SELECT keyed.*,
           row_number() OVER (PARTITION BY name ORDER BY priority DESC, wake_at) AS q_rank,
           sum(is_start::int) OVER (PARTITION BY name ORDER BY priority DESC, wake_at
                                    ROWS UNBOUNDED PRECEDING) AS start_rank
    FROM keyed
    WHERE per_key IS NULL OR queue_key IS NULL OR key_load <= per_key
), chosen AS (
    SELECT id FROM allowed
    WHERE q_rank <= room
      AND (tokens_now IS NULL OR NOT is_start OR start_rank <= floor(tokens_now))
    ORDER BY q_rank, name
    LIMIT %(limit)s
), locked AS (
    SELECT x.id FROM {s}.executions x
    WHERE x.id IN (SELECT id FROM chosen) AND x.status IN ('pending', 'waiting')
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE {s}.executions e
    SET status = 'running', owner = gen_random_uuid(),
        lease_until = {now} + make_interval(secs => %(lease)s),
        claims = e.claims + 1, worker_id = %(worker)s, claimed_at = {now},
        wake_at = NULL, wait_kind = NULL, waiting_for = NULL, paused_by = NULL,
        updated_at = {now}
    FROM locked WHERE e.id = locked.id
    RETURNING e.id, e.workflow, e.input::text, e.owner, e.attempt, e.max_attempts,
              e.retry::text, e.lost_leases,
              e.deadline IS NOT NULL AND e.deadline <= {now},
              EXTRACT(EPOCH FROM e.deadline - {now})::float8, e.claims > 1, e.run,
              e.queue, e.claims = 1 AS started, e.trace_context::text,
              EXTRACT(EPOCH FROM {now} - e.created_at)::float8 AS age
), spent AS (
    UPDATE {s}.queues u
    SET tokens = b.tokens_now - (SELECT count(*) FROM claimed
                                 WHERE claimed.queue = u.name AND claimed.started),
        refilled_at = {now}
    FROM budget b WHERE u.name = b.name AND b.tokens_now IS NOT NULL
)
SELECT * FROM claimed"""

# A worker stores the limits its code declares (the code is their source); the running count
# and the tokens are the database's. A queue without a rate limit so far (a row a start
# created before any worker stored the limits, say) gets a full bucket; one with a rate
# limit keeps the tokens it has, up to the new limit.
REGISTER_QUEUE = """
INSERT INTO {s}.queues AS q (name, concurrency, per_key, rate_limit, rate_period, tokens)
VALUES (%(name)s, %(concurrency)s, %(per_key)s, %(rate_limit)s, %(rate_period)s,
        COALESCE(%(rate_limit)s, 0))
ON CONFLICT (name) DO UPDATE
SET concurrency = EXCLUDED.concurrency, per_key = EXCLUDED.per_key,
    rate_limit = EXCLUDED.rate_limit, rate_period = EXCLUDED.rate_period,
    tokens = CASE WHEN q.rate_limit IS NULL THEN COALESCE(EXCLUDED.rate_limit, 0)
                  ELSE LEAST(q.tokens, COALESCE(EXCLUDED.rate_limit, 0)) END,
    refilled_at = CASE WHEN q.rate_limit IS NULL THEN {now} ELSE q.refilled_at END"""

# A worker's heartbeat, one statement whatever it holds: its row in the workers table (inserted
# the first time, so a worker started during an outage registers once the database answers),
# and the leases of the executions it holds.
HEARTBEAT_EXECUTIONS = """
WITH worker AS (
    INSERT INTO {s}.workers AS w (id, name, host, pid, version, threads, lease, workflows)
    VALUES (%(worker)s, %(name)s, %(host)s, %(pid)s, %(version)s, %(threads)s, %(lease)s,
            %(workflows)s)
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = {now}, stopped_at = NULL
)
UPDATE {s}.executions e
SET lease_until = {now} + make_interval(secs => %(lease)s)
FROM unnest(%(ids)s::text[], %(owners)s::uuid[]) AS h(id, owner)
WHERE e.id = h.id AND e.owner = h.owner AND e.status = 'running'
RETURNING e.owner"""

WORKER_STOPPED = """
UPDATE {s}.workers SET stopped_at = {now}, heartbeat_at = {now}
WHERE id = %(worker)s"""

HEARTBEAT_CHILDREN = """
UPDATE {s}.steps s
SET lease_until = {now} + make_interval(secs => %(lease)s)
FROM unnest(%(ids)s::text[], %(seqs)s::int[], %(owners)s::uuid[]) AS h(id, seq, owner)
WHERE s.execution_id = h.id AND s.seq = h.seq AND s.owner = h.owner AND s.status = 'running'
RETURNING s.owner"""

# A worker that turns out to be alive after a takeover of its work (a database outage, a clock
# jump, a pause) gives the lost lease it was counted back: only workers that never come back
# (a crash, a poison execution that kills its worker) count towards max_lease_losses. Work
# that has finished meanwhile is left alone: its count no longer matters, and nothing writes
# to a finished execution or a done step.
REFUND_EXECUTIONS = """
UPDATE {s}.executions e SET lost_leases = GREATEST(e.lost_leases - 1, 0), lost_owner = NULL
FROM unnest(%(ids)s::text[], %(owners)s::uuid[]) AS r(id, owner)
WHERE e.id = r.id AND e.lost_owner = r.owner AND e.status NOT IN """ + TERMINAL + """
"""

REFUND_CHILDREN = """
UPDATE {s}.steps s SET lost_leases = GREATEST(s.lost_leases - 1, 0), lost_owner = NULL
FROM unnest(%(ids)s::text[], %(seqs)s::int[], %(owners)s::uuid[]) AS r(id, seq, owner)
WHERE s.execution_id = r.id AND s.seq = r.seq AND s.lost_owner = r.owner
  AND s.status NOT IN ('done', 'cancelled')"""
