-- Reports at a million items a month: the repeat-complaint rate (sql/reports/repeat_complaints.sql)
-- needs each complaint's customer. v_feedback_identity (007) pairs items with customers through an
-- inner join of feedback and the vault, so joining it to the month's complaints read feedback a
-- second time: a scan of every item and a hash join of a million rows, for a few hundred thousand
-- complaints. This view is each item's own row (receipt time and categories) with its customer's
-- keyed identity hash beside it, NULL for an item without a contact: the complaints and their
-- customers come from one scan of the month. It reveals nothing v_feedback and v_feedback_identity
-- do not already show the reporting role (no vault reference, no contact).
-- Forward-only: never edit this file once applied; add 023_*.sql instead.

CREATE VIEW v_feedback_customer AS
SELECT f.id AS feedback_id, f.received_at, f.category, v.identity_hash
FROM feedback f LEFT JOIN contact_vault v ON v.id = f.contact_vault_id;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'feedback_reporting') THEN
        EXECUTE 'GRANT SELECT ON v_feedback_customer TO feedback_reporting';
    ELSE
        RAISE NOTICE 'role feedback_reporting does not exist; grant SELECT on v_feedback_customer once created';
    END IF;
END
$$;
