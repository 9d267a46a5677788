-- Reports: indexes for the month-end and weekly queries (sql/reports/), so a report reads the
-- period's rows instead of scanning a year of history.
-- Forward-only: never edit this file once applied; add 007_*.sql instead.

CREATE INDEX feedback_deadline_due_idx ON feedback_deadline (due_at);
CREATE INDEX feedback_deadline_stage_met_idx ON feedback_deadline (stage, met_at);
CREATE INDEX feedback_resolution_idx ON feedback ((coalesce(resolved_at, closed_at)));
CREATE INDEX feedback_closed_at_idx ON feedback (closed_at);
CREATE INDEX callback_task_completed_idx ON callback_task (completed_at);
