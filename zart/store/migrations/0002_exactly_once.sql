-- Version 2: what exactly once under faults needs (issue 7).
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
