-- Poison isolation (design.md "Poison isolation"): a row a stage cannot process is held with
-- its reason, the rest of the batch commits, and the operator lists and releases held rows
-- with `feedback quarantine list|release`.
--
-- * Intake rows that triage cannot register get status 'held' (status_reason says why:
--   the table, column and kind for a leak-gate hit, never the value). Releasing one sets it
--   back to 'new', so the next triage run takes it again.
-- * Rows of the recurring stages (SLA monitor, callbacks, outbox sender, reports, retention)
--   are recorded in held_row, keyed by stage, table and the row's id; each stage skips the
--   rows it holds until they are released.
ALTER TABLE intake DROP CONSTRAINT IF EXISTS intake_status_check;
ALTER TABLE intake ADD CONSTRAINT intake_status_check
    CHECK (status IN ('new', 'triaged', 'skipped', 'quarantined', 'held'));
CREATE INDEX intake_held_idx ON intake (received_at) WHERE status = 'held';

CREATE TABLE held_row (
    id              bigserial PRIMARY KEY,
    stage           text        NOT NULL,       -- triage, sla_monitor, callbacks, outbox, reports, retention
    table_name      text        NOT NULL,       -- feedback.outbox, feedback.feedback, ...
    row_ref         text        NOT NULL,       -- the row's id (or natural key) in that table
    reason          text        NOT NULL,       -- machine-readable code, e.g. value_out_of_range
    detail          text        NOT NULL,       -- one line for the operator, never personal data
    held_at         timestamptz NOT NULL,
    hold_count      integer     NOT NULL DEFAULT 1,
    released_at     timestamptz,
    released_by     text
);
CREATE UNIQUE INDEX held_row_open_key ON held_row (stage, table_name, row_ref) WHERE released_at IS NULL;

-- A share of the allowance used can be any size: an item first seen months late is 1000x over.
-- The masked view reads the column, so it is dropped and recreated around the change (grants again).
DROP VIEW v_sla_breach;
ALTER TABLE sla_breach ALTER COLUMN used_share TYPE numeric;
CREATE VIEW v_sla_breach AS
SELECT id, feedback_id, stage, kind, handling_cycle, deadline_at, detected_at, used_share, escalation_level, reason
FROM sla_breach;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'feedback_reporting') THEN
        EXECUTE 'GRANT SELECT ON v_sla_breach TO feedback_reporting';
    END IF;
END
$$;
