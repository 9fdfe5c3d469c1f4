"""Every SQL statement zart runs, named, in one place.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter. Statements that change an execution on behalf of a worker start
with the *fence*: they lock the execution row and act only while this claim's token still owns
it, its lease has not expired and it is still running, all in the same statement.
"""

from __future__ import annotations

TERMINAL = "('completed', 'failed', 'cancelled')"

FENCE = """
    fence AS (
        SELECT id FROM {s}.executions
        WHERE id = %(id)s AND owner = %(owner)s AND status = 'running'
          AND lease_until > {s}.clock_now()
        FOR NO KEY UPDATE
    )"""

SCHEMA_EXISTS = "SELECT to_regclass(%(table)s) IS NOT NULL"
# Channels are "<schema>_work" / "<schema>_done", built from the validated schema name.
LISTEN = 'LISTEN "{channel}"'
UNLISTEN = "UNLISTEN *"
SCHEMA_VERSION = "SELECT max(version) FROM {s}.schema_version"
RECORD_VERSION = """
INSERT INTO {s}.schema_version (version) VALUES (%(version)s) ON CONFLICT DO NOTHING"""
ADVISORY_LOCK = "SELECT pg_advisory_lock(hashtext(%(key)s))"
ADVISORY_UNLOCK = "SELECT pg_advisory_unlock(hashtext(%(key)s))"

INSERT_EXECUTION = """
INSERT INTO {s}.executions (id, workflow, input, max_attempts, retry, deadline, wake_at)
VALUES (%(id)s, %(workflow)s, %(input)s::json, %(max_attempts)s, %(retry)s::json,
        {s}.clock_now() + make_interval(secs => %(timeout)s), {s}.clock_now())
ON CONFLICT (id) DO NOTHING
RETURNING id"""

GET_EXECUTION = """
SELECT id, workflow, status, input::text, result::text, error::text, attempt, max_attempts,
       created_at, updated_at, finished_at
FROM {s}.executions WHERE id = %(id)s"""

CLAIM_EXECUTIONS = """
WITH due AS (
    SELECT id FROM {s}.executions
    WHERE workflow = ANY(%(workflows)s)
      AND ((status IN ('pending', 'waiting') AND wake_at <= {s}.clock_now())
           OR (status = 'running' AND lease_until < {s}.clock_now()))
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE {s}.executions e
SET status = 'running', owner = gen_random_uuid(),
    lease_until = {s}.clock_now() + make_interval(secs => %(lease)s),
    lost_leases = e.lost_leases + CASE WHEN e.status = 'running' THEN 1 ELSE 0 END,
    lost_owner = CASE WHEN e.status = 'running' THEN e.owner ELSE e.lost_owner END,
    claims = e.claims + 1,
    wake_at = NULL, waiting_for = NULL, updated_at = {s}.clock_now()
FROM due WHERE e.id = due.id
RETURNING e.id, e.workflow, e.input::text, e.owner, e.attempt, e.max_attempts, e.retry::text,
          e.lost_leases, e.deadline IS NOT NULL AND e.deadline <= {s}.clock_now(),
          EXTRACT(EPOCH FROM e.deadline - {s}.clock_now())::float8,
          -- From the row this statement locked and updated, not from its snapshot: a previous
          -- owner's checkpoint may have committed after the snapshot, before the lock.
          e.claims > 1"""

# What claiming a child sets, and what a claim returns: shared by the dispatcher's claim and
# the claim of a parent's next children that rides on a completion (COMPLETE_CHILDREN).
_CHILD_CLAIM_SET = """
SET status = 'running', owner = gen_random_uuid(),
    lease_until = {s}.clock_now() + make_interval(secs => %(lease)s),
    attempt = s.attempt + CASE WHEN s.status = 'pending' THEN 1 ELSE 0 END,
    lost_leases = s.lost_leases + CASE WHEN s.status = 'running' THEN 1 ELSE 0 END,
    lost_owner = CASE WHEN s.status = 'running' THEN s.owner ELSE s.lost_owner END,
    -- A global deadline spans the attempts that ran and failed; an attempt interrupted by a
    -- fault (taken over, or handed back with its deadline cleared) runs again with a fresh one.
    deadline = CASE
        WHEN s.options->>'timeout' IS NULL THEN NULL
        WHEN s.options->>'timeout_scope' = 'global' AND s.deadline IS NOT NULL
             AND s.status = 'pending' THEN s.deadline
        ELSE {s}.clock_now() + make_interval(secs => (s.options->>'timeout')::float8) END"""
_CHILD_CLAIM_RETURNING = """
RETURNING s.execution_id, s.seq, s.name, s.fn, s.args::text, s.options::text, s.attempt,
          s.owner, s.lost_leases, e.workflow, e.input::text,
          EXTRACT(EPOCH FROM s.deadline - {s}.clock_now())::float8"""
_CHILD_DUE = """((s.status = 'pending' AND s.wake_at <= {s}.clock_now())
           OR (s.status = 'running' AND s.lease_until < {s}.clock_now()))"""

CLAIM_CHILDREN = """
WITH due AS (
    SELECT s.execution_id, s.seq FROM {s}.steps s
    JOIN {s}.executions e ON e.id = s.execution_id
    WHERE s.child AND e.workflow = ANY(%(workflows)s) AND e.status NOT IN """ + TERMINAL + """
      AND """ + _CHILD_DUE + """
    LIMIT %(limit)s
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE {s}.steps s""" + _CHILD_CLAIM_SET + """
FROM due, {s}.executions e
WHERE s.execution_id = due.execution_id AND s.seq = due.seq AND e.id = s.execution_id""" + \
    _CHILD_CLAIM_RETURNING

LOAD_HISTORY = """
SELECT seq, kind, name, status, ok, value::text, error::text, attempt, wake_at, deadline
FROM {s}.steps WHERE execution_id = %(id)s ORDER BY seq"""

CHECKPOINT = "WITH" + FENCE + """
INSERT INTO {s}.steps AS t (execution_id, seq, kind, name, status, ok, value, error,
                            attempt, finished_at)
SELECT id, %(seq)s, %(kind)s, %(name)s, 'done', %(ok)s, %(value)s::json, %(error)s::json,
       %(attempt)s, {s}.clock_now()
FROM fence
ON CONFLICT (execution_id, seq) DO UPDATE
SET status = 'done', ok = EXCLUDED.ok, value = EXCLUDED.value, error = EXCLUDED.error,
    attempt = EXCLUDED.attempt, finished_at = EXCLUDED.finished_at
WHERE t.status <> 'done' AND t.kind = EXCLUDED.kind
  AND t.name = EXCLUDED.name
RETURNING 1"""

# The hot path: a first success at a position nothing was recorded at yet (no retry or timed
# attempt left a row there), so a plain insert does, without ON CONFLICT's extra work. Run as
# a raw prepared statement (zart.prepared): libpq placeholders, text parameters (id, owner,
# seq, kind, name, value, attempt), each cast where the server could not infer its type; no
# ok/error to send.
CHECKPOINT_NEW_OK = "WITH" + FENCE.replace("%(id)s", "$1").replace("%(owner)s", "$2::uuid") + """
INSERT INTO {s}.steps (execution_id, seq, kind, name, status, ok, value, attempt, finished_at)
SELECT id, $3::int, $4::text, $5::text, 'done', true, $6::json, $7::int, {s}.clock_now()
FROM fence
RETURNING 1"""

# A global deadline spans the attempts that ran and failed (the row is 'pending' between them);
# an attempt a fault interrupted (the row still 'running') runs again with a fresh one. A done
# row is never touched: nothing is returned, as for a fenced-out claim.
BEGIN_ATTEMPT = "WITH" + FENCE + """
INSERT INTO {s}.steps AS t (execution_id, seq, kind, name, status, attempt, deadline)
SELECT id, %(seq)s, 'step', %(name)s, 'running', %(attempt)s,
       {s}.clock_now() + make_interval(secs => %(timeout)s)
FROM fence
ON CONFLICT (execution_id, seq) DO UPDATE
SET status = 'running', attempt = EXCLUDED.attempt,
    deadline = CASE WHEN %(scope)s = 'global' AND t.status = 'pending'
                    THEN COALESCE(t.deadline, EXCLUDED.deadline)
                    ELSE EXCLUDED.deadline END
WHERE t.status <> 'done'
RETURNING EXTRACT(EPOCH FROM deadline - {s}.clock_now())::float8"""

RETRY_STEP_LATER = "WITH" + FENCE + """,
    saved AS (
        INSERT INTO {s}.steps AS t (execution_id, seq, kind, name, status, attempt, error,
                                    wake_at)
        SELECT id, %(seq)s, 'step', %(name)s, 'pending', %(attempt)s, %(error)s::json,
               {s}.clock_now() + make_interval(secs => %(delay)s)
        FROM fence
        ON CONFLICT (execution_id, seq) DO UPDATE
        SET status = 'pending', attempt = EXCLUDED.attempt, error = EXCLUDED.error,
            wake_at = EXCLUDED.wake_at
        WHERE t.status <> 'done'
        RETURNING wake_at
    )
UPDATE {s}.executions e
SET status = 'waiting', owner = NULL, lease_until = NULL, waiting_for = NULL,
    wake_at = LEAST(saved.wake_at, e.deadline), updated_at = {s}.clock_now()
FROM saved WHERE e.id = %(id)s
RETURNING 1"""

SCHEDULE_SLEEP = "WITH" + FENCE + """
INSERT INTO {s}.steps AS t (execution_id, seq, kind, name, status, wake_at)
SELECT id, %(seq)s, 'sleep', %(name)s, 'pending',
       COALESCE(%(until)s::timestamptz, {s}.clock_now() + make_interval(secs => %(seconds)s))
FROM fence
ON CONFLICT (execution_id, seq) DO UPDATE SET wake_at = t.wake_at WHERE t.status <> 'done'
RETURNING wake_at, wake_at <= {s}.clock_now()"""

SCHEDULE_WAIT = "WITH" + FENCE + """
INSERT INTO {s}.steps AS t (execution_id, seq, kind, name, status, wake_at)
SELECT id, %(seq)s, 'event', %(name)s, 'pending',
       {s}.clock_now() + make_interval(secs => %(timeout)s)
FROM fence
ON CONFLICT (execution_id, seq) DO UPDATE SET wake_at = t.wake_at WHERE t.status <> 'done'
RETURNING wake_at"""

# Resuming a sleep whose row exists (the execution suspended on it and was claimed again):
# when it is due, this one fenced statement records it done. Nothing returned: not due (or
# fenced out), and the worker takes the general path (SCHEDULE_SLEEP, then a checkpoint).
RESUME_DUE_SLEEP = "WITH" + FENCE + """
UPDATE {s}.steps t
SET status = 'done', ok = true, value = 'null', error = NULL, finished_at = {s}.clock_now()
FROM fence
WHERE t.execution_id = fence.id AND t.seq = %(seq)s AND t.kind = 'sleep'
  AND t.name = %(name)s AND t.status <> 'done' AND t.wake_at <= {s}.clock_now()
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
    finished_at = {s}.clock_now()
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
       %(wake_at)s::timestamptz <= {s}.clock_now()"""

SUSPEND = """
UPDATE {s}.executions
SET status = 'waiting', owner = NULL, lease_until = NULL, waiting_for = %(waiting_for)s,
    wake_at = LEAST(%(wake_at)s::timestamptz, deadline), updated_at = {s}.clock_now()
WHERE id = %(id)s AND owner = %(owner)s AND status = 'running'
RETURNING 1"""

LOCK_FENCE = "WITH" + FENCE + " SELECT 1 FROM fence"

# Suspends on a parallel's children, with the count of those still open (counted under the
# parent's lock, which every child completion takes first).
SUSPEND_ON_CHILDREN = """
UPDATE {s}.executions
SET status = 'waiting', owner = NULL, lease_until = NULL, waiting_for = '#parallel',
    open_children = %(open)s, wake_at = deadline, updated_at = {s}.clock_now()
WHERE id = %(id)s AND owner = %(owner)s AND status = 'running'
RETURNING 1"""

SPAWN_CHILDREN = """
INSERT INTO {s}.steps (execution_id, seq, kind, name, status, child, fn, args, options, wake_at)
SELECT %(id)s, c.seq, 'step', c.name, 'pending', true, c.fn, c.args, c.options,
       {s}.clock_now()
FROM unnest(%(seqs)s::int[], %(names)s::text[], %(fns)s::text[], %(args)s::json[],
            %(options)s::json[]) AS c(seq, name, fn, args, options)
ON CONFLICT DO NOTHING"""

CHILDREN_OPEN = """
SELECT count(*) FROM {s}.steps
WHERE execution_id = %(id)s AND child AND seq = ANY(%(seqs)s) AND status <> 'done'"""

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
        finished_at = {s}.clock_now(), owner = NULL, lease_until = NULL
    FROM parent, unnest(%(seqs)s::int[], %(owners)s::uuid[], %(oks)s::bool[],
                        %(values)s::json[], %(errors)s::json[]) AS c(seq, owner, ok, value, error)
    WHERE s.execution_id = parent.id AND s.seq = c.seq AND s.owner = c.owner
      AND s.status = 'running' AND s.lease_until > {s}.clock_now()
    RETURNING s.seq
),
counted AS (SELECT count(*)::int AS n, array_agg(seq) AS seqs FROM done),
barrier AS (
    UPDATE {s}.executions e
    SET open_children = GREATEST(e.open_children - counted.n, 0),
        status = CASE WHEN OPENS THEN 'pending' ELSE e.status END,
        wake_at = CASE WHEN OPENS THEN {s}.clock_now() ELSE e.wake_at END,
        waiting_for = CASE WHEN OPENS THEN NULL ELSE e.waiting_for END,
        updated_at = {s}.clock_now()
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
             "AND e.waiting_for = '#parallel')")

RETRY_CHILD_LATER = """
UPDATE {s}.steps
SET status = 'pending', error = %(error)s::json, owner = NULL, lease_until = NULL,
    wake_at = {s}.clock_now() + make_interval(secs => %(delay)s)
WHERE execution_id = %(id)s AND seq = %(seq)s AND owner = %(owner)s AND status = 'running'
RETURNING 1"""

# Handed back unrun or interrupted: the same attempt runs again, with a fresh deadline.
RELEASE_CHILD = """
UPDATE {s}.steps SET status = 'pending', owner = NULL, lease_until = NULL, deadline = NULL,
                     wake_at = {s}.clock_now(), attempt = GREATEST(attempt - 1, 0)
WHERE execution_id = %(id)s AND seq = %(seq)s AND owner = %(owner)s AND status = 'running'"""

COMPLETE = "WITH" + FENCE + """
UPDATE {s}.executions e
SET status = 'completed', result = %(result)s::json, owner = NULL, lease_until = NULL,
    finished_at = {s}.clock_now(), updated_at = {s}.clock_now()
FROM fence WHERE e.id = fence.id
RETURNING 1"""

FAIL = "WITH" + FENCE + """
UPDATE {s}.executions e
SET status = 'failed', error = %(error)s::json, owner = NULL, lease_until = NULL,
    finished_at = {s}.clock_now(), updated_at = {s}.clock_now()
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
    lease_until = NULL, wake_at = {s}.clock_now() + make_interval(secs => %(delay)s),
    updated_at = {s}.clock_now()
FROM fence WHERE e.id = fence.id
RETURNING 1"""

RELEASE = """
UPDATE {s}.executions
SET status = 'pending', owner = NULL, lease_until = NULL, wake_at = {s}.clock_now(),
    updated_at = {s}.clock_now()
WHERE id = %(id)s AND owner = %(owner)s AND status = 'running'"""

HEARTBEAT_EXECUTIONS = """
UPDATE {s}.executions e
SET lease_until = {s}.clock_now() + make_interval(secs => %(lease)s)
FROM unnest(%(ids)s::text[], %(owners)s::uuid[]) AS h(id, owner)
WHERE e.id = h.id AND e.owner = h.owner AND e.status = 'running'
RETURNING e.owner"""

HEARTBEAT_CHILDREN = """
UPDATE {s}.steps s
SET lease_until = {s}.clock_now() + make_interval(secs => %(lease)s)
FROM unnest(%(ids)s::text[], %(seqs)s::int[], %(owners)s::uuid[]) AS h(id, seq, owner)
WHERE s.execution_id = h.id AND s.seq = h.seq AND s.owner = h.owner AND s.status = 'running'
RETURNING s.owner"""

# An event is delivered to an execution that is not finished and whose wait of that name is
# still to come or still open: not once the wait is done (consumed, or timed out) or its
# deadline has passed, because such an event could never be read. The execution's row lock
# orders this against the worker, which writes the wait's row under the same lock; FOR SHARE
# reads that row as last committed (the statement's snapshot may predate the lock).
SEND_EVENT = """
WITH target AS (
    SELECT id, status, waiting_for FROM {s}.executions WHERE id = %(id)s FOR NO KEY UPDATE
), wait AS (
    SELECT status = 'done' OR wake_at <= {s}.clock_now() AS closed FROM {s}.steps
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
    SET status = 'pending', wake_at = {s}.clock_now(), waiting_for = NULL,
        updated_at = {s}.clock_now()
    FROM target t
    WHERE e.id = t.id AND t.status = 'waiting' AND t.waiting_for = %(name)s
      AND EXISTS (SELECT 1 FROM delivered)
    RETURNING 1
)
SELECT t.status, EXISTS (SELECT 1 FROM delivered) FROM target t"""

CANCEL = """
WITH target AS (
    UPDATE {s}.executions
    SET status = 'cancelled', owner = NULL, lease_until = NULL, wake_at = NULL,
        error = %(error)s::json, finished_at = {s}.clock_now(), updated_at = {s}.clock_now()
    WHERE id = %(id)s AND status NOT IN """ + TERMINAL + """
    RETURNING id
), children AS (
    UPDATE {s}.steps SET status = 'cancelled', owner = NULL
    WHERE execution_id IN (SELECT id FROM target) AND child AND status <> 'done'
)
SELECT EXISTS (SELECT 1 FROM target),
       EXISTS (SELECT 1 FROM {s}.executions WHERE id = %(id)s)"""

NEXT_DUE = """
SELECT EXTRACT(EPOCH FROM LEAST(
    (SELECT min(wake_at) FROM {s}.executions
     WHERE status IN ('pending', 'waiting') AND workflow = ANY(%(workflows)s)),
    (SELECT min(lease_until) FROM {s}.executions
     WHERE status = 'running' AND workflow = ANY(%(workflows)s)),
    (SELECT min(s.wake_at) FROM {s}.steps s JOIN {s}.executions e ON e.id = s.execution_id
     WHERE s.child AND s.status = 'pending' AND e.workflow = ANY(%(workflows)s)),
    (SELECT min(s.lease_until) FROM {s}.steps s JOIN {s}.executions e ON e.id = s.execution_id
     WHERE s.child AND s.status = 'running' AND e.workflow = ANY(%(workflows)s))
) - {s}.clock_now())::float8"""

# A worker that turns out to be alive after a takeover of its work (a database outage, a clock
# jump, a pause) gives the lost lease it was counted back: only workers that never come back
# (a crash, a poison execution that kills its worker) count towards max_lease_losses.
REFUND_EXECUTIONS = """
UPDATE {s}.executions e SET lost_leases = GREATEST(e.lost_leases - 1, 0), lost_owner = NULL
FROM unnest(%(ids)s::text[], %(owners)s::uuid[]) AS r(id, owner)
WHERE e.id = r.id AND e.lost_owner = r.owner"""

REFUND_CHILDREN = """
UPDATE {s}.steps s SET lost_leases = GREATEST(s.lost_leases - 1, 0), lost_owner = NULL
FROM unnest(%(ids)s::text[], %(seqs)s::int[], %(owners)s::uuid[]) AS r(id, seq, owner)
WHERE s.execution_id = r.id AND s.seq = r.seq AND s.lost_owner = r.owner"""

SHIFT_CLOCK = "UPDATE {s}.clock SET offset_seconds = offset_seconds + %(seconds)s"
