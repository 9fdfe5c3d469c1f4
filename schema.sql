-- zart schema, version 2: the whole current schema, for a fresh install.
--
-- zart applies this file itself (zart.store.Store.migrate) inside one transaction, under an
-- advisory lock, with `SET LOCAL search_path` pointing at the configured schema (default
-- "zart"), so every object below lives in that schema. Functions pin the search_path they
-- were created with, so they work from any session.
--
-- A database created by an earlier version is upgraded by the numbered migrations in
-- zart/migrations/ instead; every change here comes with one there, and
-- tests/integration/test_migrations.py keeps the two giving the same catalog.

CREATE TABLE schema_version (
    version     integer PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- The database's clock decides when things are due. Tests move time by raising the offset,
-- never by sleeping; in production it stays 0.
CREATE TABLE clock (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    offset_seconds  double precision NOT NULL DEFAULT 0
);
INSERT INTO clock DEFAULT VALUES;

-- A SQL-standard body: its table is resolved once, here, so the function works from any
-- search_path. It reads a table, so it is never inlined: zart's own statements read the
-- clock table as a subquery instead (zart/store/queries/common.py, NOW), and call this only
-- where the planner must know the time to pick an index.
CREATE FUNCTION clock_now() RETURNS timestamptz
    LANGUAGE sql STABLE
    BEGIN ATOMIC
        SELECT now() + make_interval(secs => offset_seconds) FROM clock;
    END;

-- One row per execution of a workflow.
--   pending    claimable once wake_at has passed
--   running    held by a worker: owner is the claim's token, lease_until its expiry
--   waiting    suspended on what wait_kind says (a sleep, a retry delay, an event named by
--              waiting_for, parallel children); no thread is held
--   completed / failed / cancelled: final
CREATE TABLE executions (
    id            text PRIMARY KEY,
    workflow      text NOT NULL,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'waiting',
                                    'completed', 'failed', 'cancelled')),
    input         json,
    result        json,
    error         json,
    attempt       integer NOT NULL DEFAULT 1,     -- attempt of the workflow body
    max_attempts  integer NOT NULL DEFAULT 1,
    retry         json,                           -- the workflow's retry policy
    deadline      timestamptz,                    -- the workflow's timeout
    wake_at       timestamptz,
    waiting_for   text,
    open_children integer NOT NULL DEFAULT 0,     -- parallel children not done yet: the
                                                  -- barrier opens when it reaches 0
    owner         uuid,
    lease_until   timestamptz,
    lost_leases   integer NOT NULL DEFAULT 0,     -- claims taken over from an expired lease
    created_at    timestamptz NOT NULL DEFAULT clock_now(),
    updated_at    timestamptz NOT NULL DEFAULT clock_now(),
    finished_at   timestamptz,
    claims        integer NOT NULL DEFAULT 0,     -- times claimed: > 1 means it may have a
                                                  -- history, whatever a claim's snapshot saw
    lost_owner    uuid,                           -- the owner the last takeover found: given
                                                  -- back if that worker proves alive
    wait_kind     text CHECK (wait_kind IN ('sleep', 'retry', 'backoff', 'event',
                                                'children', 'child', 'paused')),
    worker_id     uuid,                           -- the worker that claimed it last
    claimed_at    timestamptz,
    run           integer NOT NULL DEFAULT 1,     -- restarts and reruns begin a new run
    timeout_seconds double precision,             -- the workflow's timeout: a repair sets a
                                                  -- fresh deadline from it
    run_started_at timestamptz,                   -- when the current run began (NULL: at
                                                  -- created_at)
    paused_by     bigint,                         -- wait_kind 'paused': the pause rule
    parent_id     text,                           -- a child workflow's parent execution
    parent_seq    integer,                        -- and the position of its command there
    queue         text,                           -- its queue (zart.queues), if any
    queue_key     text,                           -- its key in that queue (per_key limits)
    priority      integer NOT NULL DEFAULT 0,     -- higher first, within its queue
    trace_context json                            -- what observers stored at start (the
                                                  -- caller's trace context), given to runs
);
CREATE INDEX executions_due ON executions (wake_at) WHERE status IN ('pending', 'waiting');
-- Every execution's row is updated several times in its life (claimed, suspended, woken,
-- finished): vacuum and analyze it far more eagerly than the defaults (20% / 10% of the
-- table), or claims wade through dead index entries and plan with stale statistics.
ALTER TABLE executions SET (autovacuum_vacuum_scale_factor = 0.01,
                            autovacuum_analyze_scale_factor = 0.01, fillfactor = 90);
CREATE INDEX executions_leased ON executions (lease_until) WHERE status = 'running';
-- Listing executions (zart.store.reads): newest first, a page at a time (keyset), filtered by
-- status, workflow, time and id prefix: one index each.
CREATE INDEX executions_created ON executions (created_at DESC, id DESC);
CREATE INDEX executions_status_created ON executions (status, created_at DESC, id DESC);
CREATE INDEX executions_workflow_created ON executions (workflow, created_at DESC, id DESC);
CREATE INDEX executions_id_prefix ON executions (id text_pattern_ops);
-- Retention (zart.store.admin: purge) deletes the oldest finished first.
CREATE INDEX executions_finished ON executions (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX executions_parent ON executions (parent_id) WHERE parent_id IS NOT NULL;
-- The claim of queued executions: per queue, the highest priority first, then the oldest due.
CREATE INDEX executions_queued ON executions (queue, priority DESC, wake_at)
    WHERE status IN ('pending', 'waiting') AND queue IS NOT NULL;

-- The history: one row per command key (kind, name) at its position (seq). A row is the
-- checkpoint once status = 'done' (ok + value, or not ok + error); before that it carries
-- the state of a command in progress: attempts made, when it is due, its deadline.
-- Parallel children (child = true) are claimable work of their own, with a lease.
CREATE TABLE steps (
    -- No foreign key: every insert is fenced by a lock on its execution's row, which proves
    -- the execution exists; the key's check would cost each checkpoint another lookup.
    execution_id   text NOT NULL,
    seq            integer NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('step', 'sleep', 'event', 'capture',
                                                 'child')),
    name           text NOT NULL,
    status         text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'cancelled')),
    ok             boolean,
    value          json,
    error          json,
    attempt        integer NOT NULL DEFAULT 0,    -- attempts made so far
    wake_at        timestamptz,                   -- sleep due, retry due, event deadline
    deadline       timestamptz,                   -- step timeout
    child          boolean NOT NULL DEFAULT false,
    fn             text,                          -- children: "module:qualname"
    args           json,                          -- children: {"args": [...], "kwargs": {...}}
    options        json,                          -- children: retry, timeout, transactional
    owner          uuid,
    lease_until    timestamptz,
    lost_leases    integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT clock_now(),
    finished_at    timestamptz,
    lost_owner     uuid,                          -- children: as executions.lost_owner
    worker_id      uuid,                          -- children: the worker that claimed it last
    started_at     timestamptz,                   -- when its last attempt started
    backoffs       integer NOT NULL DEFAULT 0,    -- RetryAfter requests in a row
    PRIMARY KEY (execution_id, seq),
    UNIQUE (execution_id, kind, name)
);
CREATE INDEX steps_children_due ON steps (wake_at) WHERE child AND status = 'pending';
ALTER TABLE steps SET (autovacuum_vacuum_scale_factor = 0.02,
                       autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX steps_children_leased ON steps (lease_until) WHERE child AND status = 'running';

-- Every failed attempt of a step, kept: the history row holds only the last outcome.
CREATE TABLE step_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id  text NOT NULL,
    run           integer NOT NULL,
    seq           integer NOT NULL,
    name          text NOT NULL,
    attempt       integer NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz NOT NULL DEFAULT clock_now(),
    error         json NOT NULL
);
CREATE INDEX step_attempts_execution ON step_attempts (execution_id, run, seq);

-- Earlier runs of an execution (a restart or a rerun begins a new one): never destroyed.
-- execution_runs describes each ended run, archived_steps keeps its history as it was.
CREATE TABLE execution_runs (
    execution_id  text NOT NULL,
    run           integer NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz NOT NULL DEFAULT clock_now(),
    status        text NOT NULL,
    result        json,
    error         json,
    next_reason   text NOT NULL,                  -- what began the next run: restart, rerun
    next_from     text,                           -- rerun: the step it ran again from
    PRIMARY KEY (execution_id, run)
);

CREATE TABLE archived_steps (
    execution_id   text NOT NULL,
    run            integer NOT NULL,
    seq            integer NOT NULL,
    kind           text NOT NULL,
    name           text NOT NULL,
    status         text NOT NULL,
    ok             boolean,
    value          json,
    error          json,
    attempt        integer NOT NULL,
    child          boolean NOT NULL,
    created_at     timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    PRIMARY KEY (execution_id, run, seq)
);

-- The audit trail of what operators did to an execution: what, when, by whom (free text).
CREATE TABLE execution_actions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id  text NOT NULL,
    action        text NOT NULL,
    by            text,
    at            timestamptz NOT NULL DEFAULT clock_now(),
    details       json
);
CREATE INDEX execution_actions_execution ON execution_actions (execution_id, id);

-- Pause rules: while one is active (not lifted, its until not passed), matching executions
-- are not claimed (no step pattern) or suspend in front of a matching step, and matching
-- parallel children are not claimed. step_like is step_pattern (a glob) as a LIKE pattern.
CREATE TABLE pause_rules (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow      text,
    execution_id  text,
    step_pattern  text,
    step_like     text,
    reason        text,
    created_by    text,
    created_at    timestamptz NOT NULL DEFAULT clock_now(),
    until         timestamptz,
    lifted_at     timestamptz,
    lifted_by     text
);
CREATE INDEX pause_rules_active ON pause_rules (id) WHERE lifted_at IS NULL;

-- Worker processes, kept by their heartbeat: who is alive, what it runs.
CREATE TABLE workers (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    host          text NOT NULL,
    pid           integer NOT NULL,
    version       text NOT NULL,
    threads       integer NOT NULL,
    lease         double precision NOT NULL,
    workflows     text[] NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT clock_now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT clock_now(),
    stopped_at    timestamptz
);
CREATE INDEX workers_heartbeat ON workers (heartbeat_at) WHERE stopped_at IS NULL;

-- The event inbox: an event may arrive before, during or after its wait. One per
-- (execution, name): a second delivery changes nothing.
CREATE TABLE events (
    execution_id  text NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    name          text NOT NULL,
    payload       json,
    received_at   timestamptz NOT NULL DEFAULT clock_now(),
    PRIMARY KEY (execution_id, name)
);

-- Wake-ups are pushed: new claimable work notifies "<schema>_work", a finished execution
-- notifies "<schema>_done" with its id. NOTIFY is sent at commit, so work started inside a
-- caller's transaction is announced only if that transaction commits.
CREATE FUNCTION notify_work() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$ BEGIN PERFORM pg_notify(TG_TABLE_SCHEMA || '_work', ''); RETURN NULL; END $$;

CREATE FUNCTION notify_done() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$ BEGIN PERFORM pg_notify(TG_TABLE_SCHEMA || '_done', NEW.id); RETURN NULL; END $$;

CREATE TRIGGER executions_work AFTER INSERT OR UPDATE OF status ON executions
    FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION notify_work();

CREATE TRIGGER executions_done AFTER UPDATE OF status ON executions
    FOR EACH ROW WHEN (NEW.status IN ('completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION notify_done();

CREATE TRIGGER steps_work AFTER INSERT OR UPDATE OF status ON steps
    FOR EACH ROW WHEN (NEW.child AND NEW.status = 'pending') EXECUTE FUNCTION notify_work();

-- A child workflow (zart.child) finished: its outcome becomes the parent's command outcome and
-- the parent wakes (or, inside a parallel, counts one child fewer toward its barrier), in the
-- child's finishing transaction. A parent that has finished itself (a cancel) is left alone.
CREATE FUNCTION child_finished() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$
DECLARE
    in_parallel boolean;
BEGIN
    UPDATE steps s
    SET status = 'done', ok = NEW.status = 'completed',
        value = CASE WHEN NEW.status = 'completed' THEN NEW.result END,
        error = CASE WHEN NEW.status = 'completed' THEN NULL ELSE json_build_object(
            'type', COALESCE(NEW.error->>'type', 'Error'),
            'module', NEW.error->>'module', 'message', COALESCE(NEW.error->>'message', ''),
            'traceback', NEW.error->>'traceback', 'attributes', NEW.error->'attributes',
            'attempts', NEW.attempt, 'kind', 'ChildFailed', 'child', NEW.id,
            'status', NEW.status) END,
        finished_at = clock_now()
    FROM executions p
    WHERE s.execution_id = NEW.parent_id AND s.seq = NEW.parent_seq AND s.kind = 'child'
      AND s.status <> 'done' AND p.id = NEW.parent_id
      AND p.status NOT IN ('completed', 'failed', 'cancelled')
    RETURNING s.child INTO in_parallel;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF in_parallel THEN
        UPDATE executions
        SET open_children = GREATEST(open_children - 1, 0),
            status = CASE WHEN open_children <= 1 AND status = 'waiting'
                               AND wait_kind = 'children' THEN 'pending' ELSE status END,
            wake_at = CASE WHEN open_children <= 1 AND status = 'waiting'
                                AND wait_kind = 'children' THEN clock_now() ELSE wake_at END,
            wait_kind = CASE WHEN open_children <= 1 AND status = 'waiting'
                                  AND wait_kind = 'children' THEN NULL ELSE wait_kind END,
            updated_at = clock_now()
        WHERE id = NEW.parent_id;
    ELSE
        UPDATE executions
        SET status = 'pending', wake_at = clock_now(), wait_kind = NULL, waiting_for = NULL,
            updated_at = clock_now()
        WHERE id = NEW.parent_id AND status = 'waiting' AND wait_kind = 'child'
          AND waiting_for = NEW.id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER executions_child_finished AFTER UPDATE OF status ON executions
    FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL
                       AND NEW.status IN ('completed', 'failed', 'cancelled')
                       AND OLD.status NOT IN ('completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION child_finished();

-- Cron schedules (zart.schedules): declared in code (source 'code', kept by workers when they
-- start) or created at run time ('api'). Workers running a schedule's workflow tick it under
-- its row lock; a tick's execution id is '<name>@<tick in UTC>', so a tick runs once.
CREATE TABLE schedules (
    name              text PRIMARY KEY,
    workflow          text NOT NULL,
    expression        text NOT NULL,
    tz                text NOT NULL,
    data              json,
    overlap           text NOT NULL CHECK (overlap IN ('skip', 'allow', 'cancel')),
    catchup           text NOT NULL CHECK (catchup IN ('none', 'latest', 'all')),
    catchup_limit     integer NOT NULL,
    source            text NOT NULL CHECK (source IN ('code', 'api')),
    paused            boolean NOT NULL DEFAULT false,
    next_tick         timestamptz NOT NULL,
    last_tick         timestamptz,
    last_execution_id text,
    fired             integer NOT NULL DEFAULT 0,
    skipped           integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT clock_now(),
    updated_at        timestamptz NOT NULL DEFAULT clock_now()
);
CREATE INDEX schedules_due ON schedules (next_tick) WHERE NOT paused;

-- Queues (zart.queues): limits kept by the claim. running counts the queue's executions
-- that are running (kept by a trigger on every status change); tokens and refilled_at are the
-- rate limit's token bucket. A worker stores the limits declared in its code when it starts.
CREATE TABLE queues (
    name          text PRIMARY KEY,
    concurrency   integer,
    per_key       integer,
    rate_limit    integer,
    rate_period   double precision,
    running       integer NOT NULL DEFAULT 0,
    tokens        double precision NOT NULL DEFAULT 0,
    refilled_at   timestamptz NOT NULL DEFAULT clock_now()
);

-- Running executions per queue key (only keys that have some).
CREATE TABLE queue_keys (
    queue         text NOT NULL,
    key           text NOT NULL,
    running       integer NOT NULL,
    PRIMARY KEY (queue, key)
);

CREATE FUNCTION queue_running() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$
BEGIN
    -- The queue's row first: claims hold it while they count, so this waits for them.
    IF NEW.status = 'running' THEN
        UPDATE queues SET running = running + 1 WHERE name = NEW.queue;
        IF NEW.queue_key IS NOT NULL THEN
            INSERT INTO queue_keys AS k (queue, key, running) VALUES (NEW.queue, NEW.queue_key, 1)
            ON CONFLICT (queue, key) DO UPDATE SET running = k.running + 1;
        END IF;
    ELSE
        UPDATE queues SET running = GREATEST(running - 1, 0) WHERE name = NEW.queue;
        IF NEW.queue_key IS NOT NULL THEN
            UPDATE queue_keys SET running = running - 1
            WHERE queue = NEW.queue AND key = NEW.queue_key;
            DELETE FROM queue_keys
            WHERE queue = NEW.queue AND key = NEW.queue_key AND running <= 0;
        END IF;
        PERFORM pg_notify(TG_TABLE_SCHEMA || '_work', '');  -- room for another
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER executions_queue_running AFTER UPDATE OF status ON executions
    FOR EACH ROW WHEN (NEW.queue IS NOT NULL
                       AND (OLD.status = 'running') <> (NEW.status = 'running'))
    EXECUTE FUNCTION queue_running();

-- Workers keep the active pause rules in memory: any change tells them to read them again.
CREATE FUNCTION notify_pause() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$ BEGIN PERFORM pg_notify(TG_TABLE_SCHEMA || '_pause', ''); RETURN NULL; END $$;

CREATE TRIGGER pause_rules_changed AFTER INSERT OR UPDATE ON pause_rules
    FOR EACH STATEMENT EXECUTE FUNCTION notify_pause();

INSERT INTO schema_version (version) VALUES (2);
