-- 未了事宜台帐 / Open-items ledger: items received before the period end and not closed at
-- the period end, as they stood then.
--   status         the last status an event gave the item before the period end
--                  (status_changed -> to_status; resolved / closed / reopened events; triage's
--                  created/assigned events); the current status if no event precedes the end.
--                  Items closed or unsolvable at the period end are not listed.
--   next deadline  the earliest deadline whose clock had started and which was not met at the
--                  period end (due_at as recorded now: a later pause may have moved it).
--                  Shown as local wall-clock time in :zone; overdue = already due at the period end.
--   days open      last day of the period minus the local receipt date.
--   An item whose receipt time is infinite or before :oldest (a corrupt import, a sender's clock)
--   is still listed, without a receipt date or days open (date arithmetic on '-infinity' fails
--   the whole query); implausible_total counts them for the section's note.
-- Params: :end, :zone, :last_day, :oldest.
WITH candidates AS (
    SELECT f.id, f.feedback_no, f.received_at, f.priority, f.department, f.status,
           (isfinite(f.received_at) AND f.received_at >= :oldest) AS plausible
    FROM feedback.v_feedback AS f
    WHERE f.received_at < :end AND (f.closed_at IS NULL OR f.closed_at >= :end)
)
SELECT c.feedback_no,
       CASE WHEN c.plausible THEN (c.received_at AT TIME ZONE :zone)::date END AS received_on,
       c.priority, c.department,
       coalesce(s.status, c.status) AS status,
       n.due_at AT TIME ZONE :zone AS next_deadline, n.stage AS next_stage,
       coalesce(n.due_at < :end, false) AS overdue,
       CASE WHEN c.plausible THEN CAST(:last_day AS date) - (c.received_at AT TIME ZONE :zone)::date END AS days_open,
       count(*) FILTER (WHERE NOT c.plausible) OVER () AS implausible_total
FROM candidates AS c
LEFT JOIN LATERAL (
    SELECT coalesce(e.to_status, e.event_type) AS status
    FROM feedback.v_feedback_event AS e
    WHERE e.feedback_id = c.id AND e.occurred_at < :end
      AND (e.to_status IS NOT NULL OR e.event_type IN ('resolved', 'closed', 'reopened'))
    ORDER BY e.occurred_at DESC, e.id DESC
    LIMIT 1
) AS s ON true
LEFT JOIN LATERAL (
    SELECT d.due_at, d.stage
    FROM feedback.v_feedback_deadline AS d
    WHERE d.feedback_id = c.id AND d.starts_at < :end AND (d.met_at IS NULL OR d.met_at >= :end)
    ORDER BY d.due_at, d.stage COLLATE "C"
    LIMIT 1
) AS n ON true
WHERE coalesce(s.status, c.status) NOT IN ('closed', 'unsolvable')
ORDER BY c.received_at, c.feedback_no COLLATE "C"
