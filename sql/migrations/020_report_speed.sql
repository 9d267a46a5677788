-- Reports at a million items a month: the data-quality count of implausible clock starts
-- (feedback.reports.quality.IMPLAUSIBLE_TIMES) finds the few deadlines whose clock started at an
-- infinite time or before 2000 (sections.OLDEST_PLAUSIBLE) in this small partial index, instead
-- of testing every deadline of every item in play at each report.
-- Forward-only: never edit this file once applied; add 021_*.sql instead.

CREATE INDEX feedback_deadline_implausible_start_idx ON feedback_deadline (feedback_id)
    WHERE starts_at < '2000-01-01 00:00:00+00' OR starts_at = 'infinity';
