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
-- A list section that limits itself (sections._run_listed): the status at the period end is
-- found set-wise for every candidate (one pass over their status events, not one lookup per
-- item), the open items are counted, and only the first :list_rows of them, by receipt, get
-- their next deadline looked up. listed_total__ is the number of open items.
-- Params: :end, :zone, :last_day, :oldest, :list_rows.
WITH candidates AS (
    SELECT f.id, f.feedback_no, f.received_at, f.priority, f.department, f.status,
           (isfinite(f.received_at) AND f.received_at >= :oldest) AS plausible
    FROM feedback.v_feedback AS f
    WHERE f.received_at < :end AND (f.closed_at IS NULL OR f.closed_at >= :end)
),
status_then AS (
    SELECT DISTINCT ON (e.feedback_id) e.feedback_id, coalesce(e.to_status, e.event_type) AS status
    FROM feedback.v_feedback_event AS e
    WHERE e.occurred_at < :end
      AND (e.to_status IS NOT NULL OR e.event_type IN ('resolved', 'closed', 'reopened'))
      AND e.feedback_id IN (SELECT f.id FROM feedback.v_feedback AS f
                            WHERE f.received_at < :end AND (f.closed_at IS NULL OR f.closed_at >= :end))
    ORDER BY e.feedback_id, e.occurred_at DESC, e.id DESC
),
open_items AS (
    SELECT c.id, c.feedback_no, c.received_at, c.priority, c.department, c.plausible,
           coalesce(s.status, c.status) AS status
    FROM candidates AS c
    LEFT JOIN status_then AS s ON s.feedback_id = c.id
    WHERE coalesce(s.status, c.status) NOT IN ('closed', 'unsolvable')
),
totals AS (
    SELECT count(*) AS listed, count(*) FILTER (WHERE NOT o.plausible) AS implausible FROM open_items AS o
),
listed AS (
    SELECT o.* FROM open_items AS o
    ORDER BY o.received_at, o.feedback_no COLLATE "C"
    LIMIT :list_rows
)
SELECT c.feedback_no,
       CASE WHEN c.plausible THEN (c.received_at AT TIME ZONE :zone)::date END AS received_on,
       c.priority, c.department, c.status,
       n.due_at AT TIME ZONE :zone AS next_deadline, n.stage AS next_stage,
       coalesce(n.due_at < :end, false) AS overdue,
       CASE WHEN c.plausible THEN CAST(:last_day AS date) - (c.received_at AT TIME ZONE :zone)::date END AS days_open,
       t.implausible AS implausible_total, t.listed AS listed_total__
FROM listed AS c
CROSS JOIN totals AS t
LEFT JOIN LATERAL (
    SELECT d.due_at, d.stage
    FROM feedback.v_feedback_deadline AS d
    WHERE d.feedback_id = c.id AND d.starts_at < :end AND (d.met_at IS NULL OR d.met_at >= :end)
    ORDER BY d.due_at, d.stage COLLATE "C"
    LIMIT 1
) AS n ON true
ORDER BY c.received_at, c.feedback_no COLLATE "C"
