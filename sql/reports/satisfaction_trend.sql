-- 满意度趋势 (环比/同比) / Satisfaction trend: this period, the previous one, a year earlier.
-- Per period: callbacks completed, customers reached (outcome satisfied / neutral /
-- dissatisfied), satisfied; the satisfied share is satisfied / reached (computed in
-- sections.py); the average score is over callbacks with a score (0-100).
-- Params: :start, :end, :prev_start, :prev_end, :ya_start, :ya_end.
WITH periods (period, lo, hi) AS (
    VALUES ('current', CAST(:start AS timestamptz), CAST(:end AS timestamptz)),
           ('previous', CAST(:prev_start AS timestamptz), CAST(:prev_end AS timestamptz)),
           ('year_ago', CAST(:ya_start AS timestamptz), CAST(:ya_end AS timestamptz))
)
SELECT p.period,
       count(c.id) AS callbacks,
       count(c.id) FILTER (WHERE c.outcome IN ('satisfied', 'neutral', 'dissatisfied')) AS reached,
       count(c.id) FILTER (WHERE c.outcome = 'satisfied') AS satisfied,
       count(c.score) AS scored,
       coalesce(sum(c.score), 0) AS score_total
FROM periods AS p
LEFT JOIN feedback.v_callback_task AS c ON c.completed_at >= p.lo AND c.completed_at < p.hi
GROUP BY p.period
ORDER BY p.period COLLATE "C"
