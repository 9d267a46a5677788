-- Triage: per-stage deadlines, contact references, customer tiers, reveal audit,
-- masked views and the reporting role.

-- Who handles an item, and every vault reference of its contacts ({"phone": 12, "email": 13, "name": 14}).
ALTER TABLE feedback ADD COLUMN handler_group text;
ALTER TABLE feedback ADD COLUMN contact_refs jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE feedback ADD COLUMN priority_reasons text[] NOT NULL DEFAULT '{}';
ALTER TABLE feedback ADD COLUMN taxonomy_preset text;
ALTER TABLE feedback ADD COLUMN sla_preset text;

-- One deadline per SLA stage and handling cycle; the earliest open one is mirrored in
-- feedback.next_deadline_at for the monitor's index.
CREATE TABLE feedback_deadline (
    id              bigserial PRIMARY KEY,
    feedback_id     bigint      NOT NULL REFERENCES feedback (id),
    stage           text        NOT NULL,
    handling_cycle  integer     NOT NULL DEFAULT 1,
    starts_at       timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    allowance       interval,                       -- business time allowed, for the warning share
    calendar        text        NOT NULL,
    rule            text        NOT NULL,           -- which policy row set it, e.g. A/urgent/first_response
    met_at          timestamptz,                    -- when an event satisfied the stage
    CONSTRAINT feedback_deadline_stage_key UNIQUE (feedback_id, stage, handling_cycle),
    CONSTRAINT feedback_deadline_order_chk CHECK (due_at >= starts_at)
);
CREATE INDEX feedback_deadline_open_idx ON feedback_deadline (due_at) WHERE met_at IS NULL;

-- Customer tiers keyed by the contact's keyed hash (the CRM's VIP list, loaded without raw contacts).
CREATE TABLE customer_tier (
    identity_hash   text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('phone', 'email')),
    tier            text        NOT NULL CHECK (tier IN ('vip', 'normal')),
    source          text        NOT NULL DEFAULT 'manual',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, identity_hash)
);

-- Every decryption of a vault entry: who, why, when.
CREATE TABLE contact_reveal (
    id              bigserial PRIMARY KEY,
    vault_id        bigint      NOT NULL REFERENCES contact_vault (id),
    actor           text        NOT NULL,
    purpose         text        NOT NULL,
    revealed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_reveal_vault_idx ON contact_reveal (vault_id, revealed_at);

-- Masked views: what reporting and dashboards may read. No vault references, no intake payloads.
CREATE VIEW v_feedback AS
SELECT id, feedback_no, channel, source, received_at, registered_at, customer_name, contact_masked,
       customer_tier, emotion, language, subject, description, demand, expected_by, product, order_ref,
       category, department, handler_group, priority, priority_reasons, confidence, rule_ids, needs_review,
       status, handler, handling_cycle, next_deadline_at, next_deadline_stage, resolved_at, closed_at,
       taxonomy_preset, sla_preset, updated_at
FROM feedback;

CREATE VIEW v_feedback_event AS
SELECT id, feedback_id, event_type, occurred_at, actor, from_status, to_status, details, recorded_at
FROM feedback_event;

CREATE VIEW v_feedback_deadline AS
SELECT feedback_id, stage, handling_cycle, starts_at, due_at, allowance, calendar, rule, met_at
FROM feedback_deadline;

CREATE VIEW v_sla_breach AS
SELECT id, feedback_id, stage, kind, handling_cycle, deadline_at, detected_at, used_share, escalation_level, reason
FROM sla_breach;

CREATE VIEW v_callback_task AS
SELECT id, feedback_id, handling_cycle, due_at, assigned_to, status, attempts, outcome, rating, score, comment,
       completed_at, created_at
FROM callback_task;

CREATE VIEW v_report_archive AS
SELECT report_kind, period_start, period_end, version, file_name, location, sha256, size_bytes, created_at
FROM report_archive;

CREATE VIEW v_intake_summary AS
SELECT id, channel, source, received_at, status, status_reason, ingested_at, triaged_at
FROM intake;

-- The reporting role reads the masked views only. Roles are cluster-wide: create it once, and
-- skip (with a notice) where the migrating user may not create roles (managed databases).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'feedback_reporting') THEN
        BEGIN
            CREATE ROLE feedback_reporting NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'cannot create role feedback_reporting here; create it and re-grant from 002_triage.sql';
            RETURN;
        END;
    END IF;
    EXECUTE 'GRANT USAGE ON SCHEMA feedback TO feedback_reporting';
    EXECUTE 'GRANT SELECT ON v_feedback, v_feedback_event, v_feedback_deadline, v_sla_breach, '
            'v_callback_task, v_report_archive, v_intake_summary TO feedback_reporting';
END
$$;
REVOKE ALL ON ALL TABLES IN SCHEMA feedback FROM PUBLIC;
