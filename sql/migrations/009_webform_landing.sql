-- Web-form intake endpoint: the landing table its requests write to, and per-client rate limits.
-- Forward-only: never edit this file once applied; add 010_*.sql instead.

-- One row per accepted submission, written by the API server (POST /feedback/intake/<form>) in the
-- transaction that answers 202. `feedback_ingest_webforms` moves pending rows into intake (moved_at
-- set in the same transaction); the pending flag is the cursor, because ids from concurrent
-- API-server workers commit out of order. Holds raw contacts: readable only by the pipeline role.
CREATE TABLE webform_submission (
    id              bigserial PRIMARY KEY,
    form            text        NOT NULL,           -- the form's name in channels.yaml
    receipt_id      text        NOT NULL CHECK (receipt_id ~ '^wf-[0-9a-z]{26}$'),  -- returned to the client
    idempotency_key text,                           -- the client's Idempotency-Key header, if any
    received_at     timestamptz NOT NULL,
    locale          text,
    fields          jsonb       NOT NULL,           -- the validated fields (raw contacts included)
    attachments     jsonb       NOT NULL DEFAULT '[]'::jsonb,  -- [{name, content_type, size, sha256}]
    client_hash     text        NOT NULL,           -- keyed hash of the client address, never the address
    moved_at        timestamptz,                    -- when it was moved to intake
    CONSTRAINT webform_submission_receipt_id_key UNIQUE (receipt_id),
    -- A client's retry with the same key gets the same receipt and adds no row.
    CONSTRAINT webform_submission_idempotency_key UNIQUE (form, idempotency_key)
);
CREATE INDEX webform_submission_pending_idx ON webform_submission (id) WHERE moved_at IS NULL;

-- Requests per client, form and minute, counted in the register so every API-server worker sees
-- the same numbers (one INSERT … ON CONFLICT DO UPDATE SET hits = hits + 1 RETURNING hits).
CREATE TABLE webform_rate (
    client_hash     text        NOT NULL,
    form            text        NOT NULL,
    window_start    timestamptz NOT NULL,
    hits            integer     NOT NULL DEFAULT 0 CHECK (hits >= 0),
    PRIMARY KEY (client_hash, form, window_start)
);
-- Old windows are pruned by the landing move (feedback.channels.webform_landing).
CREATE INDEX webform_rate_window_idx ON webform_rate (window_start);

-- Nothing here is for reporting: no grant to feedback_reporting, and none to PUBLIC.
REVOKE ALL ON webform_submission, webform_rate FROM PUBLIC;
