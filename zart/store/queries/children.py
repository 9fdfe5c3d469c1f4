"""Recording parallel children's outcomes, retries and hand-backs.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

from .claims import _CHILD_CLAIM_RETURNING, _CHILD_CLAIM_SET, _CHILD_DUE
from .common import TERMINAL

# The children's outcomes of one parent, one or several (group commit, see zart.completions),
# in one statement. The barrier is decided inside it: the parent row is locked first by every
# completion (and by the spawn that set its count of open children), so the count is
# decremented in order and exactly one completion takes it to zero and wakes the parent. O(1)
# per child: nothing rescans the siblings. An UPDATE works on the newest version of the parent
# row even when it waited for the lock, so no decrement is lost. It also claims up to
# %(claim)s more of the parent's due children for the threads that just finished (one commit
# instead of a dispatcher's claim round each). Rows: the positions accepted (NULL: none), with
# one claimed child per row (or NULLs when none was claimed).
COMPLETE_CHILDREN = ("""
WITH parent AS (SELECT id FROM {s}.executions WHERE id = %(id)s FOR NO KEY UPDATE),
done AS (
    UPDATE {s}.steps s
    SET status = 'done', ok = c.ok, value = c.value, error = c.error,
        finished_at = {now}, owner = NULL, lease_until = NULL
    FROM parent, unnest(%(seqs)s::int[], %(owners)s::uuid[], %(oks)s::bool[],
                        %(values)s::json[], %(errors)s::json[]) AS c(seq, owner, ok, value, error)
    WHERE s.execution_id = parent.id AND s.seq = c.seq AND s.owner = c.owner
      AND s.status = 'running' AND s.lease_until > {now}
    RETURNING s.seq, s.name, s.attempt, s.started_at, s.ok, s.error
),
failed AS (
    INSERT INTO {s}.step_attempts (execution_id, run, seq, name, attempt, started_at, error)
    SELECT %(id)s, e.run, done.seq, done.name, done.attempt, done.started_at, done.error
    FROM done, {s}.executions e WHERE e.id = %(id)s AND NOT done.ok
),
counted AS (SELECT count(*)::int AS n, array_agg(seq) AS seqs FROM done),
barrier AS (
    UPDATE {s}.executions e
    SET open_children = GREATEST(e.open_children - counted.n, 0),
        status = CASE WHEN OPENS THEN 'pending' ELSE e.status END,
        wake_at = CASE WHEN OPENS THEN {now} ELSE e.wake_at END,
        wait_kind = CASE WHEN OPENS THEN NULL ELSE e.wait_kind END,
        updated_at = {now}
    FROM counted WHERE e.id = %(id)s AND counted.n > 0
),
next AS (
    SELECT s.execution_id, s.seq FROM {s}.steps s
    JOIN {s}.executions e ON e.id = s.execution_id
    WHERE s.execution_id = %(id)s AND s.child AND e.status NOT IN """ + TERMINAL + """
      AND """ + _CHILD_DUE + """
    LIMIT %(claim)s
    FOR UPDATE OF s SKIP LOCKED
),
claimed AS (
    UPDATE {s}.steps s""" + _CHILD_CLAIM_SET + """
    FROM next, {s}.executions e
    WHERE s.execution_id = next.execution_id AND s.seq = next.seq AND e.id = s.execution_id
    """ + _CHILD_CLAIM_RETURNING.strip() + """
)
SELECT counted.seqs, claimed.* FROM counted LEFT JOIN claimed ON true""").replace(
    "OPENS", "(e.open_children <= counted.n AND e.status = 'waiting' "
             "AND e.wait_kind = 'children')")

# A child's failed attempt with a retry left: kept in step_attempts, claimable again later. A
# child that asked to run again later (%(backoff)s) spends no attempt (its claim counts it
# again) and is counted in backoffs.
RETRY_CHILD_LATER = """
WITH saved AS (
    UPDATE {s}.steps
    SET status = 'pending', error = %(error)s::json, owner = NULL, lease_until = NULL,
        wake_at = {now} + make_interval(secs => %(delay)s),
        attempt = CASE WHEN %(backoff)s THEN attempt - 1 ELSE attempt END,
        backoffs = CASE WHEN %(backoff)s THEN backoffs + 1 ELSE 0 END
    WHERE execution_id = %(id)s AND seq = %(seq)s AND owner = %(owner)s AND status = 'running'
    RETURNING execution_id, seq, name, attempt, started_at
), failed AS (
    INSERT INTO {s}.step_attempts (execution_id, run, seq, name, attempt, started_at, error)
    SELECT saved.execution_id, e.run, saved.seq, saved.name, saved.attempt, saved.started_at,
           %(error)s::json
    FROM saved, {s}.executions e WHERE e.id = saved.execution_id
)
SELECT 1 FROM saved"""

# Handed back unrun or interrupted: the same attempt runs again, with a fresh deadline.
RELEASE_CHILD = """
UPDATE {s}.steps SET status = 'pending', owner = NULL, lease_until = NULL, deadline = NULL,
                     wake_at = {now}, attempt = GREATEST(attempt - 1, 0)
WHERE execution_id = %(id)s AND seq = %(seq)s AND owner = %(owner)s AND status = 'running'"""
