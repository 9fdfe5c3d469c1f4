"""The read model: lists, descriptions, counts. Reads for people (the CLI, the HTTP API, the
dashboard) go through these statements, never through the hot path's, and add none to it.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

_SUMMARY = """id, workflow, status, created_at, updated_at, finished_at, attempt, run, wait_kind,
       waiting_for, wake_at"""

# Keyset pagination, newest first: after (created_at, id) of the last row seen. Each filter is
# optional (NULL: any); each has its index (executions_created, _status_created,
# _workflow_created, _id_prefix), so a page costs the same however many rows the table holds.
LIST_EXECUTIONS = """
SELECT """ + _SUMMARY + """
FROM {s}.executions
WHERE (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(workflow)s::text IS NULL OR workflow = %(workflow)s::text)
  AND (%(after)s::timestamptz IS NULL OR created_at >= %(after)s::timestamptz)
  AND (%(before)s::timestamptz IS NULL OR created_at < %(before)s::timestamptz)
  AND (%(prefix)s::text IS NULL OR id LIKE %(prefix)s::text)
  AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s::timestamptz, %(id)s::text))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s"""

EXECUTION = """
SELECT """ + _SUMMARY + """, input::text, result::text, error::text, max_attempts,
       lost_leases, deadline, owner, lease_until, worker_id, claimed_at, open_children,
       COALESCE(run_started_at, created_at), {now}, paused_by, parent_id, queue,
       queue_key
FROM {s}.executions WHERE id = %(id)s"""

# A queue's limits and how much of them is in use (why a queued execution is not claimed),
# and whether the execution would be a start (the rate limit counts starts only).
QUEUE_STATE = """
SELECT q.concurrency, q.per_key, q.rate_limit, q.rate_period, q.running,
       (SELECT k.running FROM {s}.queue_keys k WHERE k.queue = q.name AND k.key = %(key)s),
       LEAST(q.rate_limit, q.tokens + EXTRACT(EPOCH FROM {now} - q.refilled_at)
             * q.rate_limit / NULLIF(q.rate_period, 0))::float8,
       (SELECT x.claims = 0 FROM {s}.executions x WHERE x.id = %(id)s)
FROM {s}.queues q WHERE q.name = %(queue)s"""

# A child workflow's row keeps the child's execution id in fn (what the dashboard links to);
# archived runs keep no fn, so their child commands link to nothing.
HISTORY = """
SELECT seq, kind, name, status, ok, child, created_at, started_at, finished_at, wake_at,
       attempt, left(value::text, %(preview)s), error::text,
       CASE WHEN kind = 'child' THEN fn END
FROM {s}.steps WHERE execution_id = %(id)s ORDER BY seq"""

ARCHIVED_HISTORY = """
SELECT run, seq, kind, name, status, ok, child, created_at, started_at, finished_at,
       NULL::timestamptz, attempt, left(value::text, %(preview)s), error::text, NULL::text
FROM {s}.archived_steps WHERE execution_id = %(id)s ORDER BY run, seq"""

ATTEMPTS = """
SELECT run, seq, attempt, started_at, finished_at, error::text
FROM {s}.step_attempts WHERE execution_id = %(id)s ORDER BY run, seq, id"""

RUNS = """
SELECT run, started_at, ended_at, status, result::text, error::text, next_reason, next_from
FROM {s}.execution_runs WHERE execution_id = %(id)s ORDER BY run"""

ACTIONS = """
SELECT action, by, at, details::text
FROM {s}.execution_actions WHERE execution_id = %(id)s ORDER BY id"""

WORKER = """
SELECT host, pid, name FROM {s}.workers WHERE id = %(id)s"""

# Is any live worker able to run this workflow? Live: heartbeat within two leases.
LIVE_WORKERS_FOR = """
SELECT count(*) FROM {s}.workers
WHERE stopped_at IS NULL AND %(workflow)s = ANY(workflows)
  AND heartbeat_at > {now} - make_interval(secs => 2 * lease)"""

WORKERS = """
SELECT id, name, host, pid, version, threads, lease, workflows, started_at, heartbeat_at,
       stopped_at,
       stopped_at IS NULL AND heartbeat_at > {now} - make_interval(secs => 2 * lease)
FROM {s}.workers
WHERE %(all)s OR stopped_at IS NULL
ORDER BY started_at DESC"""

STATS_BY_WORKFLOW = """
SELECT workflow, status, count(*) FROM {s}.executions GROUP BY workflow, status"""

# Executions started and finished per time bucket since a time (the dashboard's activity
# chart): each half reads one index range (executions_created, executions_finished).
# date_bin aligns the buckets on %(origin)s, so consecutive reads agree on their edges.
ACTIVITY = """
SELECT bucket, sum(started)::int, sum(completed)::int, sum(failed)::int, sum(cancelled)::int
FROM (
    SELECT date_bin(make_interval(secs => %(bucket)s), created_at, %(origin)s) AS bucket,
           1 AS started, 0 AS completed, 0 AS failed, 0 AS cancelled
    FROM {s}.executions WHERE created_at >= %(since)s
    UNION ALL
    SELECT date_bin(make_interval(secs => %(bucket)s), finished_at, %(origin)s),
           0, (status = 'completed')::int, (status = 'failed')::int, (status = 'cancelled')::int
    FROM {s}.executions WHERE finished_at >= %(since)s
) AS events
GROUP BY bucket ORDER BY bucket"""

# The due backlog: how many executions are due and not claimed, and the oldest one's age (on
# the partial index of due executions: cheap enough to run at every metrics scrape).
DUE_BACKLOG = """
SELECT count(*), EXTRACT(EPOCH FROM {now} - min(wake_at))::float8
FROM {s}.executions
WHERE status IN ('pending', 'waiting') AND wake_at <= {s}.clock_now()"""

STATS_LIVE_WORKERS = """
SELECT count(*) FROM {s}.workers
WHERE stopped_at IS NULL AND heartbeat_at > {now} - make_interval(secs => 2 * lease)"""

_RULE = """id, workflow, execution_id, step_pattern, reason, created_by, created_at, until,
       lifted_at, lifted_by,
       lifted_at IS NULL AND (until IS NULL OR until > {now})"""

PAUSE_RULES = """
SELECT """ + _RULE + """ FROM {s}.pause_rules
WHERE NOT %(active)s OR (lifted_at IS NULL AND (until IS NULL OR until > {now}))
ORDER BY id"""

PAUSE_RULE = """SELECT """ + _RULE + """ FROM {s}.pause_rules WHERE id = %(id)s"""

# What a worker keeps in memory to check each step against: the active rules, with the
# seconds until each expires (by the database's clock).
ACTIVE_PAUSE_RULES = """
SELECT id, workflow, execution_id, step_pattern,
       EXTRACT(EPOCH FROM until - {now})::float8, until
FROM {s}.pause_rules
WHERE lifted_at IS NULL AND (until IS NULL OR until > {now})"""
