-- Poison isolation in the SLA monitor: the events of an item the monitor holds (its calendar
-- arithmetic or its deadlines failed) are set aside here instead of being applied, so the
-- monitor's single event cursor moves on for every other item. When the operator releases the
-- hold (`feedback quarantine release`), the next run applies the item's set-aside events first,
-- in their original order.
CREATE TABLE sla_deferred_event (
    event_id        bigint      PRIMARY KEY REFERENCES feedback_event (id) ON DELETE CASCADE,
    feedback_id     bigint      NOT NULL,
    deferred_at     timestamptz NOT NULL
);
CREATE INDEX sla_deferred_event_item_idx ON sla_deferred_event (feedback_id, event_id);
