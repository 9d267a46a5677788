-- Operators' category corrections, and the learned classifier trained on them.

ALTER TABLE feedback_event DROP CONSTRAINT feedback_event_event_type_check;
ALTER TABLE feedback_event ADD CONSTRAINT feedback_event_event_type_check CHECK (event_type IN (
    'created', 'acknowledged', 'assigned', 'responded', 'status_changed', 'customer_replied', 'progress',
    'escalated', 'resolved', 'callback_scheduled', 'callback_outcome', 'reopened', 'closed', 'sla_recomputed',
    'note', 'reclassified'));

-- One row per training run; triage uses the newest row of its preset whose model was chosen
-- (it beat the rules on held-out corrections). Stored here, not on a worker's disk, so every
-- worker uses the same model.
CREATE TABLE classifier_model (
    id              bigserial PRIMARY KEY,
    preset          text        NOT NULL,
    trained_at      timestamptz NOT NULL,
    examples        integer     NOT NULL,
    chosen          boolean     NOT NULL,
    rules_f1        numeric(5, 4),
    learned_f1      numeric(5, 4),
    model           bytea       NOT NULL
);
CREATE INDEX classifier_model_preset_idx ON classifier_model (preset, trained_at DESC);
