-- Training data for the learned classifier, and model versions that can be rolled back.
--
-- training_label holds every labelled text the model learns from: a company's labelled history
-- (`feedback triage import-labels`), operators' corrections (`feedback reclassify`) and the
-- supervisors' review queue in the console (a confirmation is a label too). Texts are masked
-- before they are stored (imports may carry contacts). One row per item (its latest label) and
-- one per distinct imported text, so a re-import or a second correction updates, never doubles.
CREATE TABLE training_label (
    id              bigserial PRIMARY KEY,
    preset          text        NOT NULL,
    source          text        NOT NULL CHECK (source IN ('import', 'correction', 'review')),
    feedback_id     bigint      REFERENCES feedback (id) ON DELETE CASCADE,
    text            text        NOT NULL,                   -- masked
    text_sha256     text        NOT NULL,                   -- sha256 of the normalised masked text (duplicates)
    category        text        NOT NULL,
    priority        text        CHECK (priority IN ('urgent', 'high', 'medium', 'low')),
    batch           text,                                   -- import: file name; else the feedback number
    actor           text,
    labelled_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX training_label_item_key ON training_label (preset, feedback_id) WHERE feedback_id IS NOT NULL;
CREATE UNIQUE INDEX training_label_text_key ON training_label (preset, text_sha256) WHERE feedback_id IS NULL;

-- Corrections made before this migration become training rows (their latest correction per item).
INSERT INTO training_label (preset, source, feedback_id, text, text_sha256, category, batch, actor, labelled_at)
SELECT DISTINCT ON (e.details->>'preset', e.feedback_id)
       e.details->>'preset', 'correction', e.feedback_id,
       coalesce(f.subject, '') || E'\n' || f.description,
       encode(sha256(convert_to(coalesce(f.subject, '') || E'\n' || f.description, 'UTF8')), 'hex'),
       e.details->'to'->>0, f.feedback_no, e.actor, e.occurred_at
FROM feedback_event e JOIN feedback f ON f.id = e.feedback_id
WHERE e.event_type = 'reclassified' AND e.details ? 'preset' AND e.details->'to'->>0 IS NOT NULL
ORDER BY e.details->>'preset', e.feedback_id, e.occurred_at DESC, e.id DESC;

-- Model versions: numbered per preset, one active at most (what triage uses), the evaluation
-- kept beside the model (held-out accuracy, macro-F1, per-class precision/recall), and who
-- activated it when (a retrain that wins, or an operator's rollback).
ALTER TABLE classifier_model ADD COLUMN version integer;
ALTER TABLE classifier_model ADD COLUMN active boolean NOT NULL DEFAULT false;
ALTER TABLE classifier_model ADD COLUMN evaluation jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE classifier_model ADD COLUMN data_mark text;          -- what it was trained on (count:max id)
ALTER TABLE classifier_model ADD COLUMN activated_at timestamptz;
ALTER TABLE classifier_model ADD COLUMN activated_by text;
UPDATE classifier_model m SET version = v.n
FROM (SELECT id, row_number() OVER (PARTITION BY preset ORDER BY trained_at, id) AS n FROM classifier_model) v
WHERE v.id = m.id;
UPDATE classifier_model m SET active = true, activated_at = m.trained_at, activated_by = 'retrain'
WHERE m.chosen AND m.id IN (SELECT DISTINCT ON (preset) id FROM classifier_model ORDER BY preset, trained_at DESC, id DESC);
ALTER TABLE classifier_model ALTER COLUMN version SET NOT NULL;
ALTER TABLE classifier_model ADD CONSTRAINT classifier_model_version_key UNIQUE (preset, version);
CREATE UNIQUE INDEX classifier_model_active_key ON classifier_model (preset) WHERE active;

-- The supervisors' review queue: open items flagged needs_review, most urgent and newest first.
CREATE INDEX feedback_needs_review_idx ON feedback (received_at DESC) WHERE needs_review;
