-- 满意度分布 / Satisfaction: callback outcomes in the period, and in the previous period (环比)
-- and the same period a year earlier (同比) for comparison.
-- Population: callbacks COMPLETED in each period (completed_at), whatever the item's age; a
-- callback without a recorded outcome is counted under '' (未记录 / not recorded).
-- Params: :start, :end, :prev_start, :prev_end, :ya_start, :ya_end.
WITH periods (period, lo, hi) AS (
    VALUES ('current', CAST(:start AS timestamptz), CAST(:end AS timestamptz)),
           ('previous', CAST(:prev_start AS timestamptz), CAST(:prev_end AS timestamptz)),
           ('year_ago', CAST(:ya_start AS timestamptz), CAST(:ya_end AS timestamptz))
)
SELECT p.period, coalesce(c.outcome, '') AS outcome, count(*) AS callbacks
FROM periods AS p
JOIN feedback.v_callback_task AS c ON c.completed_at >= p.lo AND c.completed_at < p.hi
GROUP BY p.period, 2
ORDER BY p.period COLLATE "C", coalesce(c.outcome, '') COLLATE "C"
