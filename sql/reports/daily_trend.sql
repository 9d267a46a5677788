-- 每日反馈量趋势 / Daily trend: every local day of the period, zeros included.
-- A day is the calendar date of received_at in the business zone (:zone).
-- Params: :start, :end, :zone, :first_day, :last_day (local dates, inclusive).
WITH counts AS (
    SELECT (f.received_at AT TIME ZONE :zone)::date AS day,
           count(*) AS items,
           count(*) FILTER (WHERE f.priority = 'urgent') AS urgent
    FROM feedback.v_feedback AS f
    WHERE f.received_at >= :start AND f.received_at < :end
    GROUP BY 1
)
SELECT d.day::date AS day, coalesce(c.items, 0) AS items, coalesce(c.urgent, 0) AS urgent
FROM generate_series(CAST(:first_day AS date), CAST(:last_day AS date), interval '1 day') AS d (day)
LEFT JOIN counts AS c ON c.day = d.day::date
ORDER BY d.day
