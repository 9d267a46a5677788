-- SLA monitor: warning instants, pause state and detection markers on each deadline, the
-- monitor's event cursor, and indexes so a run touches only deadlines that newly crossed.

ALTER TABLE feedback_deadline ADD COLUMN warn_at timestamptz;       -- when warning_share of the allowance is used
ALTER TABLE feedback_deadline ADD COLUMN warned_at timestamptz;     -- when the monitor recorded the warning
ALTER TABLE feedback_deadline ADD COLUMN breached_at timestamptz;   -- when the monitor recorded the breach
ALTER TABLE feedback_deadline ADD COLUMN paused_at timestamptz;     -- clock stopped (waiting on the customer)
ALTER TABLE feedback_deadline ADD COLUMN paused_total interval NOT NULL DEFAULT '0';  -- business time paused so far

-- Replaced by the two narrower indexes below.
DROP INDEX feedback_deadline_open_idx;
CREATE INDEX feedback_deadline_breach_due_idx ON feedback_deadline (due_at)
    WHERE met_at IS NULL AND breached_at IS NULL AND paused_at IS NULL;
CREATE INDEX feedback_deadline_warn_due_idx ON feedback_deadline (warn_at)
    WHERE met_at IS NULL AND warned_at IS NULL AND breached_at IS NULL AND paused_at IS NULL;
CREATE INDEX feedback_deadline_item_idx ON feedback_deadline (feedback_id, handling_cycle);

-- Which events the monitor has applied (single row).
CREATE TABLE sla_monitor_state (
    id              integer     PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_event_id   bigint      NOT NULL DEFAULT 0,
    last_run_at     timestamptz
);
INSERT INTO sla_monitor_state (id) VALUES (1);

-- Escalations already notified, so a re-run does not notify again.
ALTER TABLE sla_breach ADD COLUMN notified_level integer NOT NULL DEFAULT -1;

-- A run reads only breaches still to notify or to escalate.
CREATE INDEX sla_breach_to_notify_idx ON sla_breach (id) WHERE notified_level < escalation_level OR notified_level < 0;
CREATE INDEX sla_breach_escalation_idx ON sla_breach (escalation_level, detected_at) WHERE kind = 'breach';
-- Deadlines still without a warning instant (written before this migration): normally none.
CREATE INDEX feedback_deadline_no_warn_idx ON feedback_deadline (id) WHERE warn_at IS NULL AND met_at IS NULL;
