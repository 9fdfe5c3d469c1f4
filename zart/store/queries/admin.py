"""Operator transitions: retry, restart, rerun, resume, cancel, pause rules, purge. Each runs in
one transaction that first locks the execution's row (so it is ordered against the worker's
fenced writes) and records what was done in the audit trail.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

from .common import TERMINAL

LOCK_EXECUTION = """
SELECT status, run, COALESCE(run_started_at, created_at), result::text, error::text
FROM {s}.executions WHERE id = %(id)s FOR UPDATE"""

RECORD_ACTION = """
INSERT INTO {s}.execution_actions (execution_id, action, by, details)
VALUES (%(id)s, %(action)s, %(by)s, %(details)s::json)"""

# A new deadline from the workflow's timeout, for an execution a repair sets going again.
_FRESH_DEADLINE = """CASE WHEN timeout_seconds IS NULL THEN NULL
                 ELSE {now} + make_interval(secs => timeout_seconds) END"""

# What failed last: the last command of the history (a parallel's children: the trailing run
# of child rows). Its failed step and event outcomes are forgotten, so a retried execution
# runs them again; every other outcome replays.
FORGET_LAST_FAILURES = """
DELETE FROM {s}.steps s
WHERE s.execution_id = %(id)s AND s.status = 'done' AND NOT s.ok
  AND s.kind IN ('step', 'event')
  AND s.seq >= (
      SELECT CASE WHEN l.child
                  THEN COALESCE((SELECT max(n.seq) + 1 FROM {s}.steps n
                                 WHERE n.execution_id = %(id)s AND NOT n.child), 0)
                  ELSE l.seq END
      FROM {s}.steps l WHERE l.execution_id = %(id)s ORDER BY l.seq DESC LIMIT 1)
RETURNING s.seq, s.name"""

# Back to pending, due now, with fresh attempts, a fresh deadline and no lost leases.
SET_GOING = """
UPDATE {s}.executions
SET status = 'pending', wake_at = {now}, error = NULL, result = NULL,
    finished_at = NULL, attempt = 1, lost_leases = 0, lost_owner = NULL, owner = NULL,
    lease_until = NULL, wait_kind = NULL, waiting_for = NULL,
    deadline = """ + _FRESH_DEADLINE + """, updated_at = {now}
WHERE id = %(id)s"""

# A restart or a rerun ends the current run: described in execution_runs, its history kept
# in archived_steps as it was.
END_RUN = """
WITH ended AS (
    INSERT INTO {s}.execution_runs (execution_id, run, started_at, status, result, error,
                                    next_reason, next_from)
    SELECT id, run, COALESCE(run_started_at, created_at), status, result, error, %(reason)s,
           %(from_step)s
    FROM {s}.executions WHERE id = %(id)s
    RETURNING run
)
INSERT INTO {s}.archived_steps (execution_id, run, seq, kind, name, status, ok, value, error,
                                attempt, child, created_at, started_at, finished_at)
SELECT s.execution_id, ended.run, s.seq, s.kind, s.name, s.status, s.ok, s.value, s.error,
       s.attempt, s.child, s.created_at, s.started_at, s.finished_at
FROM {s}.steps s, ended WHERE s.execution_id = %(id)s"""

# The position a rerun starts from: the first command of that name.
FIND_COMMAND = """
SELECT min(seq) FROM {s}.steps WHERE execution_id = %(id)s AND name = %(name)s"""

COMMAND_NAMES = """
SELECT name FROM {s}.steps WHERE execution_id = %(id)s ORDER BY seq LIMIT 50"""

# Forget the history from a position on (all of it from 0), and the events its waits
# consumed: the waits will wait again.
FORGET_HISTORY_FROM = """
WITH gone AS (
    DELETE FROM {s}.steps WHERE execution_id = %(id)s AND seq >= %(from_seq)s
    RETURNING kind, name, status, ok
)
DELETE FROM {s}.events
WHERE execution_id = %(id)s
  AND name IN (SELECT name FROM gone WHERE kind = 'event' AND status = 'done' AND ok)"""

NEW_RUN = """
UPDATE {s}.executions
SET run = run + 1, run_started_at = {now}, open_children = 0,
    input = CASE WHEN %(replace)s THEN %(input)s::json ELSE input END
WHERE id = %(id)s"""

RESUME_CHILDREN = """
UPDATE {s}.steps SET status = 'pending', wake_at = {now}, owner = NULL,
                     lease_until = NULL
WHERE execution_id = %(id)s AND child AND status = 'cancelled'"""

CANCEL_CHILDREN = """
UPDATE {s}.steps SET status = 'cancelled', owner = NULL
WHERE execution_id = %(id)s AND child AND status <> 'done'"""

SET_CANCELLED = """
UPDATE {s}.executions
SET status = 'cancelled', owner = NULL, lease_until = NULL, wake_at = NULL,
    error = %(error)s::json, finished_at = {now}, updated_at = {now}
WHERE id = %(id)s"""

_RULE = """id, workflow, execution_id, step_pattern, reason, created_by, created_at, until,
           lifted_at, lifted_by,
           lifted_at IS NULL AND (until IS NULL OR until > {now})"""

INSERT_PAUSE_RULE = """
INSERT INTO {s}.pause_rules (workflow, execution_id, step_pattern, step_like, reason,
                             created_by, until)
VALUES (%(workflow)s, %(execution)s, %(pattern)s, %(like)s, %(reason)s, %(by)s,
        CASE WHEN %(seconds)s::float8 IS NULL THEN %(until)s::timestamptz
             ELSE {now} + make_interval(secs => %(seconds)s::float8) END)
RETURNING """ + _RULE

LIFT_PAUSE_RULE = """
UPDATE {s}.pause_rules SET lifted_at = {now}, lifted_by = %(by)s
WHERE id = %(id)s AND lifted_at IS NULL AND (until IS NULL OR until > {now})
RETURNING """ + _RULE

# What a lifted rule held wakes at once: the executions suspended in front of a step (the
# status change notifies the workers), and, through the work channel, the children and the
# executions the claims left alone while it was active.
WAKE_PAUSED = """
WITH woken AS (
    UPDATE {s}.executions
    SET status = 'pending', wake_at = {now}, wait_kind = NULL, waiting_for = NULL,
        paused_by = NULL, updated_at = {now}
    WHERE status = 'waiting' AND wait_kind = 'paused' AND paused_by = %(rule)s
    RETURNING id
)
SELECT count(*), pg_notify(%(channel)s, '') FROM woken"""

# One batch of a purge: the oldest finished executions matching, with everything they own.
# SKIP LOCKED: a batch never waits for (or blocks) anything else for long.
PURGE_BATCH = """
WITH doomed AS (
    SELECT id, status FROM {s}.executions
    WHERE status = ANY(%(statuses)s) AND status IN """ + TERMINAL + """
      AND finished_at < {s}.clock_now() - make_interval(secs => %(older)s)
      AND (%(workflow)s::text IS NULL OR workflow = %(workflow)s::text)
    ORDER BY finished_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
), steps_gone AS (
    DELETE FROM {s}.steps WHERE execution_id IN (SELECT id FROM doomed)
), attempts_gone AS (
    DELETE FROM {s}.step_attempts WHERE execution_id IN (SELECT id FROM doomed)
), archive_gone AS (
    DELETE FROM {s}.archived_steps WHERE execution_id IN (SELECT id FROM doomed)
), runs_gone AS (
    DELETE FROM {s}.execution_runs WHERE execution_id IN (SELECT id FROM doomed)
), actions_gone AS (
    DELETE FROM {s}.execution_actions WHERE execution_id IN (SELECT id FROM doomed)
), gone AS (
    DELETE FROM {s}.executions e USING doomed WHERE e.id = doomed.id RETURNING doomed.status
)
SELECT status, count(*) FROM gone GROUP BY status"""

PURGE_LOCK = "SELECT pg_try_advisory_lock(hashtext(%(key)s))"
PURGE_UNLOCK = "SELECT pg_advisory_unlock(hashtext(%(key)s))"
