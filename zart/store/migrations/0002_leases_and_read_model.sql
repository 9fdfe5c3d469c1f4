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
    CHECK (wait_kind IN ('sleep', 'retry', 'event', 'children'));
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

-- When each command started (its outcome's time is finished_at).
ALTER TABLE steps ADD COLUMN started_at timestamptz;

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
