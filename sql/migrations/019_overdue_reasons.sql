-- Overdue reasons (超时原因): why an item went past a deadline, recorded where the work happens.
-- A supervisor in the console (/console/overdue), the CRM through POST /feedback/api/events, or
-- anyone with INSERT on feedback_event writes an `overdue_reason` event carrying a reason code
-- (sla_policies.yaml `overdue_reasons`) and optional free text; the SLA monitor copies the
-- latest one onto the breaches of the item's handling cycle. The events table stays append-only:
-- a new reason is a new event, and the latest (by occurred_at, then id) wins.

ALTER TABLE feedback_event ADD COLUMN reason text;          -- overdue_reason: a configured code
ALTER TABLE feedback_event ADD COLUMN reason_text text;     -- overdue_reason: free text, masked

ALTER TABLE feedback_event DROP CONSTRAINT feedback_event_event_type_check;
ALTER TABLE feedback_event ADD CONSTRAINT feedback_event_event_type_check CHECK (event_type IN (
    'created', 'acknowledged', 'assigned', 'responded', 'status_changed', 'customer_replied', 'progress',
    'escalated', 'resolved', 'callback_scheduled', 'callback_outcome', 'reopened', 'closed', 'sla_recomputed',
    'note', 'reclassified', 'overdue_reason'));
-- A reason code on every overdue_reason event and on no other; codes look like config names.
ALTER TABLE feedback_event ADD CONSTRAINT feedback_event_reason_chk CHECK (
    ((event_type = 'overdue_reason') = (reason IS NOT NULL))
    AND (reason IS NULL OR reason ~ '^[a-z][a-z0-9_]{0,62}$')
    AND (reason_text IS NULL OR (event_type = 'overdue_reason' AND char_length(reason_text) <= 2000)));

-- What the breach carries: the code, the text, when the reason was given, by whom, and the event
-- it came from (so an older event applied later never replaces a newer reason).
ALTER TABLE sla_breach ADD COLUMN reason_text text;
ALTER TABLE sla_breach ADD COLUMN reason_at timestamptz;
ALTER TABLE sla_breach ADD COLUMN reason_by text;
ALTER TABLE sla_breach ADD COLUMN reason_event_id bigint;

-- The console's list of breaches still without a reason.
CREATE INDEX sla_breach_no_reason_idx ON sla_breach (deadline_at) WHERE kind = 'breach' AND reason IS NULL;
-- The monitor finds an item's latest reason when a breach is recorded after it.
CREATE INDEX feedback_event_reason_idx ON feedback_event (feedback_id, occurred_at)
    WHERE event_type = 'overdue_reason';

-- The masked views gain the new columns at their end (CREATE OR REPLACE keeps the grants).
CREATE OR REPLACE VIEW v_feedback_event AS
SELECT id, feedback_id, event_type, occurred_at, actor, from_status, to_status, details, recorded_at,
       reason, reason_text
FROM feedback_event;

CREATE OR REPLACE VIEW v_sla_breach AS
SELECT id, feedback_id, stage, kind, handling_cycle, deadline_at, detected_at, used_share, escalation_level, reason,
       reason_text, reason_at
FROM sla_breach;
