-- Register schema v1: the tables every part of the pipeline joins on.
-- Forward-only: never edit this file once applied; add 002_*.sql instead.
-- Times are timestamptz in UTC; business time is computed in the calendar's zone.
-- The runner (feedback.db.migrations) creates schema feedback and sets
-- search_path to it for the transaction that applies this file.

-- Raw items exactly as a channel delivered them, one row per (channel, external_id).
-- Holds raw contact data until triage masks it; readable only by the pipeline role.
CREATE TABLE intake (
    id              bigserial PRIMARY KEY,
    channel         text        NOT NULL CHECK (channel IN ('email', 'webform', 'platform')),
    source          text        NOT NULL,           -- mailbox/folder, form name or platform name
    external_id     text        NOT NULL,           -- Message-ID / content hash, submission id, platform id
    received_at     timestamptz NOT NULL,           -- when the customer sent it (from the item)
    payload         jsonb       NOT NULL,           -- normalised item: subject, body, contact, ...
    content_sha256  text        NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    raw_ref         text,                           -- where the raw bytes are kept, if outside the row
    status          text        NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'triaged', 'skipped', 'quarantined')),
    status_reason   text,
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    triaged_at      timestamptz,
    CONSTRAINT intake_channel_external_id_key UNIQUE (channel, external_id)
);
CREATE INDEX intake_new_idx ON intake (received_at) WHERE status = 'new';
CREATE INDEX intake_content_idx ON intake (channel, content_sha256);

-- Raw contacts, encrypted (Fernet); nothing else stores them in clear.
CREATE TABLE contact_vault (
    id              bigserial PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('phone', 'email', 'name', 'address', 'other')),
    ciphertext      bytea,                          -- NULL once purged by retention
    identity_hash   text        NOT NULL,           -- keyed hash of the normalised value
    created_at      timestamptz NOT NULL DEFAULT now(),
    purged_at       timestamptz,
    CONSTRAINT contact_vault_kind_identity_key UNIQUE (kind, identity_hash),
    CONSTRAINT contact_vault_purged_chk CHECK ((ciphertext IS NULL) = (purged_at IS NOT NULL))
);

-- Daily serials behind feedback numbers (20261122-001).
CREATE TABLE feedback_no_counter (
    day             date        PRIMARY KEY,
    last_serial     integer     NOT NULL CHECK (last_serial >= 0)
);

-- The register: one row per feedback item, masked.
CREATE TABLE feedback (
    id                  bigserial PRIMARY KEY,
    feedback_no         text        NOT NULL CHECK (feedback_no ~ '^[0-9]{8}-[0-9]{3,}$'),
    intake_id           bigint      REFERENCES intake (id),
    channel             text        NOT NULL,
    source              text        NOT NULL,
    received_at         timestamptz NOT NULL,
    registered_at       timestamptz NOT NULL,
    customer_name       text,                       -- masked, or NULL for anonymous
    contact_masked      text,                       -- 138****5678 / zhangsan@…
    contact_vault_id    bigint      REFERENCES contact_vault (id),
    customer_tier       text        NOT NULL DEFAULT 'normal' CHECK (customer_tier IN ('vip', 'normal')),
    emotion             text        CHECK (emotion IN ('angry', 'anxious', 'calm')),
    language            text,
    subject             text,
    description         text        NOT NULL,       -- masked free text
    demand              text,
    expected_by         timestamptz,
    product             text,
    order_ref           text,
    category            text[]      NOT NULL DEFAULT '{}',
    department          text,
    priority            text        NOT NULL CHECK (priority IN ('urgent', 'high', 'medium', 'low')),
    confidence          numeric(4, 3) CHECK (confidence BETWEEN 0 AND 1),
    rule_ids            text[]      NOT NULL DEFAULT '{}',
    needs_review        boolean     NOT NULL DEFAULT false,
    status              text        NOT NULL DEFAULT 'new'
                        CHECK (status IN ('new', 'assigned', 'in_progress', 'waiting_customer', 'resolved',
                                          'reopened', 'closed', 'unsolvable')),
    handler             text,
    handling_cycle      integer     NOT NULL DEFAULT 1 CHECK (handling_cycle >= 1),
    next_deadline_at    timestamptz,
    next_deadline_stage text,
    resolved_at         timestamptz,
    closed_at           timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feedback_feedback_no_key UNIQUE (feedback_no),
    CONSTRAINT feedback_intake_id_key UNIQUE (intake_id)
);
-- Open items by next deadline: what the SLA monitor scans every few minutes.
CREATE INDEX feedback_open_deadline_idx ON feedback (next_deadline_at)
    WHERE status NOT IN ('closed', 'unsolvable');
CREATE INDEX feedback_received_idx ON feedback (received_at);
CREATE INDEX feedback_department_status_idx ON feedback (department, status);

-- Everything that happens to an item, append-only.
CREATE TABLE feedback_event (
    id              bigserial PRIMARY KEY,
    feedback_id     bigint      NOT NULL REFERENCES feedback (id),
    event_type      text        NOT NULL CHECK (event_type IN (
                        'created', 'acknowledged', 'assigned', 'responded', 'status_changed',
                        'customer_replied', 'progress', 'escalated', 'resolved', 'callback_scheduled',
                        'callback_outcome', 'reopened', 'closed', 'sla_recomputed', 'note')),
    occurred_at     timestamptz NOT NULL,
    actor           text,                           -- system, an agent id, a department
    from_status     text,
    to_status       text,
    details         jsonb       NOT NULL DEFAULT '{}'::jsonb,   -- masked
    dedup_key       text,                           -- natural key so re-runs insert nothing twice
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feedback_event_dedup_key_key UNIQUE (dedup_key)
);
CREATE INDEX feedback_event_item_idx ON feedback_event (feedback_id, occurred_at);
CREATE INDEX feedback_event_type_idx ON feedback_event (event_type, occurred_at);

CREATE FUNCTION forbid_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'feedback_event is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER feedback_event_append_only
    BEFORE UPDATE OR DELETE ON feedback_event
    FOR EACH ROW EXECUTE FUNCTION forbid_event_change();
CREATE TRIGGER feedback_event_no_truncate
    BEFORE TRUNCATE ON feedback_event
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_event_change();

-- Items that could not be parsed or validated: parked with the reason, never dropped.
CREATE TABLE quarantine (
    id              bigserial PRIMARY KEY,
    channel         text        NOT NULL,
    source          text        NOT NULL,
    external_ref    text,                           -- file name, UID, platform id: how to find it again
    reason          text        NOT NULL,           -- machine-readable code, e.g. invalid_json
    detail          text        NOT NULL,           -- one line for the operator, no personal data
    raw_encrypted   bytea       NOT NULL,           -- the raw bytes, Fernet-encrypted
    raw_sha256      text        NOT NULL CHECK (raw_sha256 ~ '^[0-9a-f]{64}$'),
    status          text        NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'retried', 'resolved')),
    retry_count     integer     NOT NULL DEFAULT 0,
    parked_at       timestamptz NOT NULL,
    retried_at      timestamptz,
    CONSTRAINT quarantine_channel_source_raw_key UNIQUE (channel, source, raw_sha256)
);
CREATE INDEX quarantine_parked_idx ON quarantine (parked_at) WHERE status = 'parked';

-- Source positions, advanced in the transaction that stores the rows they cover.
CREATE TABLE channel_cursor (
    channel         text        NOT NULL,
    source          text        NOT NULL,           -- mailbox/folder, form, platform
    position        jsonb       NOT NULL,           -- {uidvalidity, last_uid} / {cursor} / {since}
    items_total     bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, source)
);

-- SLA warnings and breaches, each recorded once per item, stage and handling cycle.
CREATE TABLE sla_breach (
    id                  bigserial PRIMARY KEY,
    feedback_id         bigint      NOT NULL REFERENCES feedback (id),
    stage               text        NOT NULL,       -- first_response, engaged, solution, closed
    kind                text        NOT NULL CHECK (kind IN ('warning', 'breach')),
    handling_cycle      integer     NOT NULL DEFAULT 1,
    deadline_at         timestamptz NOT NULL,
    detected_at         timestamptz NOT NULL,
    used_share          numeric(6, 3),
    escalation_level    integer     NOT NULL DEFAULT 0,
    reason              text,                       -- overdue reason (备件短缺 ...), filled by handlers
    CONSTRAINT sla_breach_once_key UNIQUE (feedback_id, stage, kind, handling_cycle)
);
CREATE INDEX sla_breach_detected_idx ON sla_breach (detected_at);

-- Side effects to deliver (mail, webhooks), written in the transaction that caused them.
CREATE TABLE outbox (
    id                  bigserial PRIMARY KEY,
    kind                text        NOT NULL,       -- ack, sla_digest, survey, report, webhook ...
    dedup_key           text        NOT NULL,
    recipient           text        NOT NULL,       -- an address/list/URL, or vault:<id> for a customer
    recipient_vault_id  bigint      REFERENCES contact_vault (id),
    subject             text,
    body                text,
    payload             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    attachments         jsonb       NOT NULL DEFAULT '[]'::jsonb,
    message_id          text,                       -- stable Message-ID, set when the row is written
    created_at          timestamptz NOT NULL,
    not_before          timestamptz,
    attempts            integer     NOT NULL DEFAULT 0,
    last_error          text,
    sent_at             timestamptz,
    CONSTRAINT outbox_dedup_key_key UNIQUE (dedup_key),
    CONSTRAINT outbox_customer_by_reference_chk
        CHECK (recipient NOT LIKE 'vault:%' OR recipient_vault_id IS NOT NULL)
);
CREATE INDEX outbox_pending_idx ON outbox (created_at) WHERE sent_at IS NULL;

-- Callback (回访) queue: claimed with FOR UPDATE SKIP LOCKED.
CREATE TABLE callback_task (
    id              bigserial PRIMARY KEY,
    feedback_id     bigint      NOT NULL REFERENCES feedback (id),
    handling_cycle  integer     NOT NULL DEFAULT 1,
    due_at          timestamptz NOT NULL,
    assigned_to     text,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'claimed', 'done', 'unreachable', 'cancelled')),
    claimed_by      text,
    claimed_at      timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    outcome         text        CHECK (outcome IN ('satisfied', 'neutral', 'dissatisfied', 'unreachable')),
    rating          text,
    score           integer     CHECK (score BETWEEN 0 AND 100),
    comment         text,                           -- masked
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL,
    CONSTRAINT callback_task_item_cycle_key UNIQUE (feedback_id, handling_cycle)
);
CREATE INDEX callback_task_pending_idx ON callback_task (due_at) WHERE status IN ('pending', 'claimed');

-- Report files, immutable once archived; a regenerated report is a new version.
CREATE TABLE report_archive (
    id              bigserial PRIMARY KEY,
    report_kind     text        NOT NULL CHECK (report_kind IN ('monthly', 'weekly')),
    period_start    date        NOT NULL,
    period_end      date        NOT NULL,
    version         integer     NOT NULL CHECK (version >= 1),
    file_name       text        NOT NULL,
    location        text        NOT NULL,
    sha256          text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes      bigint      NOT NULL,
    content_hash    text,                           -- hash of the figures, to tell a real change
    created_at      timestamptz NOT NULL,
    CONSTRAINT report_archive_version_file_key UNIQUE (report_kind, period_start, version, file_name),
    CONSTRAINT report_archive_period_chk CHECK (period_end >= period_start)
);
