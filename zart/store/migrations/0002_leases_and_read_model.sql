-- Version 2: what exactly once under faults needs, and what inspection reads.
--
-- Applied by zart.store.Store.migrate in one transaction, with the search_path set to the
-- configured schema; schema.sql carries the same change for fresh installs.

-- How often the execution was claimed: a claim loads the history whenever the row it locked
-- had been claimed before, whatever its snapshot showed (a previous owner's checkpoint may
-- commit between the claim's snapshot and its row lock). Rows written by version 1 may have a
-- history: they count as claimed once.
ALTER TABLE executions ADD COLUMN claims integer NOT NULL DEFAULT 1;
ALTER TABLE executions ALTER COLUMN claims SET DEFAULT 0;

-- The owner a takeover found holding the lease: if that worker turns out to be alive (a
-- database outage, a clock jump, a pause), it gives the counted lost lease back. Only
-- workers that never come back count towards max_lease_losses.
ALTER TABLE executions ADD COLUMN lost_owner uuid;
ALTER TABLE steps ADD COLUMN lost_owner uuid;

-- What a waiting execution waits on, typed (version 1 marked parallel children with the
-- event name '#parallel').
ALTER TABLE executions ADD COLUMN wait_kind text
    CHECK (wait_kind IN ('sleep', 'retry', 'backoff', 'event', 'children', 'child',
                         'paused'));
UPDATE executions SET wait_kind = 'children', waiting_for = NULL
WHERE waiting_for = '#parallel';
UPDATE executions SET wait_kind = 'event' WHERE waiting_for IS NOT NULL AND wait_kind IS NULL;
UPDATE executions e SET wait_kind = CASE WHEN s.kind = 'step' THEN 'retry' ELSE 'sleep' END,
                        waiting_for = CASE WHEN s.kind = 'step' THEN s.name END
FROM steps s
WHERE e.status = 'waiting' AND e.wait_kind IS NULL AND s.execution_id = e.id
  AND s.status = 'pending' AND NOT s.child
  AND s.seq = (SELECT max(seq) FROM steps m WHERE m.execution_id = e.id);

-- Who holds it (the workers table), since when, and which run of the execution this is.
ALTER TABLE executions ADD COLUMN worker_id uuid;
ALTER TABLE executions ADD COLUMN claimed_at timestamptz;
ALTER TABLE executions ADD COLUMN run integer NOT NULL DEFAULT 1;
ALTER TABLE steps ADD COLUMN worker_id uuid;

-- The workflow's timeout, kept so that a repair can set a fresh deadline.
ALTER TABLE executions ADD COLUMN timeout_seconds double precision;
UPDATE executions SET timeout_seconds = EXTRACT(EPOCH FROM deadline - created_at)
WHERE deadline IS NOT NULL;
ALTER TABLE executions ADD COLUMN run_started_at timestamptz;
ALTER TABLE executions ADD COLUMN paused_by bigint;

-- Child workflows: the parent's execution and the position of the command that started it.
ALTER TABLE executions ADD COLUMN parent_id text;
ALTER TABLE executions ADD COLUMN parent_seq integer;
ALTER TABLE steps DROP CONSTRAINT steps_kind_check;
ALTER TABLE steps ADD CONSTRAINT steps_kind_check
    CHECK (kind IN ('step', 'sleep', 'event', 'capture', 'child'));

-- Listing executions: newest first, a page at a time, filtered by status, workflow, time
-- and id prefix.
CREATE INDEX executions_created ON executions (created_at DESC, id DESC);
CREATE INDEX executions_status_created ON executions (status, created_at DESC, id DESC);
CREATE INDEX executions_workflow_created ON executions (workflow, created_at DESC, id DESC);
CREATE INDEX executions_id_prefix ON executions (id text_pattern_ops);
CREATE INDEX executions_finished ON executions (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX executions_parent ON executions (parent_id) WHERE parent_id IS NOT NULL;

-- Queues: an execution's queue, key and priority.
ALTER TABLE executions ADD COLUMN queue text;
ALTER TABLE executions ADD COLUMN queue_key text;
ALTER TABLE executions ADD COLUMN priority integer NOT NULL DEFAULT 0;

-- What observers (zart.observe) stored when the execution was started, e.g. the caller's
-- trace context, handed to every run so its spans join the caller's trace.
ALTER TABLE executions ADD COLUMN trace_context json;
CREATE INDEX executions_queued ON executions (queue, priority DESC, wake_at)
    WHERE status IN ('pending', 'waiting') AND queue IS NOT NULL;

-- When each command started (its outcome's time is finished_at), and how often in a row it
-- asked to be run again later (zart.RetryAfter: bounded).
ALTER TABLE steps ADD COLUMN started_at timestamptz;
ALTER TABLE steps ADD COLUMN backoffs integer NOT NULL DEFAULT 0;

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

-- Earlier runs (restart, rerun) and their histories, never destroyed.
CREATE TABLE execution_runs (
    execution_id  text NOT NULL,
    run           integer NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz NOT NULL DEFAULT clock_now(),
    status        text NOT NULL,
    result        json,
    error         json,
    next_reason   text NOT NULL,
    next_from     text,
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

-- What operators did to an execution.
CREATE TABLE execution_actions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id  text NOT NULL,
    action        text NOT NULL,
    by            text,
    at            timestamptz NOT NULL DEFAULT clock_now(),
    details       json
);
CREATE INDEX execution_actions_execution ON execution_actions (execution_id, id);

-- Pause rules, enforced by the claims and by workers before each step.
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

CREATE FUNCTION notify_pause() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$ BEGIN PERFORM pg_notify(TG_TABLE_SCHEMA || '_pause', ''); RETURN NULL; END $$;

CREATE TRIGGER pause_rules_changed AFTER INSERT OR UPDATE ON pause_rules
    FOR EACH STATEMENT EXECUTE FUNCTION notify_pause();

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
