-- SLA monitor at a million open items: the first run over a backlog writes one row per warning
-- or breach (sla_breach) and nothing else; later runs look only at what changed.
--
-- Until now each recorded warning or breach also updated its deadline (warned_at, breached_at) so a
-- partial index could list the deadlines still to flag. Over a backlog that is an update of every
-- crossed deadline, each new row version written into every index of the table (40 s of a 70 s
-- first run at a million items). The record in sla_breach (unique per deadline, kind and cycle)
-- already says what was flagged, so the markers go, and a run finds its candidates from:
--   * the deadlines whose warning instant or due time fell between the last run and this one
--     (range scans of the indexes on warn_at and due_at, from sla_monitor_state.detected_upto);
--   * the deadlines written or moved by a transaction the last run could not see (triage's new
--     items, a recompute, a reclassification, a resume): touched_xid, set on insert and by the
--     trigger below, at or after the snapshot horizon the last run stored (recheck_from_xid);
--   * the deadlines of the items whose events this run applied, and holds released since.
-- Forward-only: never edit this file once applied; add 022_*.sql instead.

ALTER TABLE sla_monitor_state ADD COLUMN detected_upto timestamptz;   -- crossings up to here are recorded
ALTER TABLE sla_monitor_state ADD COLUMN recheck_from_xid xid8;       -- snapshot xmin of the last detection
ALTER TABLE sla_monitor_state ADD COLUMN detected_wall timestamptz;   -- wall clock of the last detection

-- Existing rows keep NULL (no table rewrite): the first run after this migration has no
-- detected_upto and checks every open deadline once, against the breaches already recorded.
ALTER TABLE feedback_deadline ADD COLUMN touched_xid xid8;
ALTER TABLE feedback_deadline ALTER COLUMN touched_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX feedback_deadline_touched_idx ON feedback_deadline (touched_xid);

CREATE FUNCTION feedback_deadline_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.touched_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
-- Only changes that can make a deadline due again or earlier: a moved instant, a resumed clock.
CREATE TRIGGER feedback_deadline_touch BEFORE UPDATE OF due_at, warn_at, paused_at, met_at, handling_cycle
    ON feedback_deadline FOR EACH ROW
    WHEN (OLD.due_at IS DISTINCT FROM NEW.due_at OR OLD.warn_at IS DISTINCT FROM NEW.warn_at
          OR (OLD.paused_at IS NOT NULL AND NEW.paused_at IS NULL)
          OR (OLD.met_at IS NOT NULL AND NEW.met_at IS NULL)
          OR OLD.handling_cycle IS DISTINCT FROM NEW.handling_cycle)
    EXECUTE FUNCTION feedback_deadline_touch();

-- The markers and the partial indexes built on them.
DROP INDEX feedback_deadline_breach_due_idx;
DROP INDEX feedback_deadline_warn_due_idx;
ALTER TABLE feedback_deadline DROP COLUMN warned_at;
ALTER TABLE feedback_deadline DROP COLUMN breached_at;
-- Warning instants of running deadlines, for the window scan (due_at has feedback_deadline_due_idx).
CREATE INDEX feedback_deadline_warn_idx ON feedback_deadline (warn_at) WHERE met_at IS NULL AND paused_at IS NULL;

-- The item of a breach is checked once per statement instead of once per row. The row-by-row
-- foreign key locked every referenced item (FOR KEY SHARE), a write to each item's row: 16 s of
-- a first run recording 900,000 breaches. Same guarantees: an inserted breach names an existing
-- item, a breach never moves to another item, an item with breaches is not deleted.
ALTER TABLE sla_breach DROP CONSTRAINT sla_breach_feedback_id_fkey;

CREATE FUNCTION sla_breach_item_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT n.feedback_id INTO missing FROM sla_breach_new n
    WHERE NOT EXISTS (SELECT 1 FROM feedback.feedback f WHERE f.id = n.feedback_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'sla_breach: no item % in feedback.feedback', missing USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER sla_breach_item_exists AFTER INSERT ON sla_breach REFERENCING NEW TABLE AS sla_breach_new
    FOR EACH STATEMENT EXECUTE FUNCTION sla_breach_item_exists();

CREATE FUNCTION sla_breach_item_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sla_breach: the item of a breach does not change' USING ERRCODE = 'foreign_key_violation';
END
$$;
CREATE TRIGGER sla_breach_item_fixed BEFORE UPDATE OF feedback_id ON sla_breach FOR EACH ROW
    WHEN (OLD.feedback_id IS DISTINCT FROM NEW.feedback_id) EXECUTE FUNCTION sla_breach_item_fixed();

CREATE FUNCTION feedback_keeps_breaches() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM feedback_gone g JOIN feedback.sla_breach b ON b.feedback_id = g.id) THEN
        RAISE EXCEPTION 'feedback: an item with SLA breaches is not deleted' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER feedback_keeps_breaches AFTER DELETE ON feedback REFERENCING OLD TABLE AS feedback_gone
    FOR EACH STATEMENT EXECUTE FUNCTION feedback_keeps_breaches();
