-- 紧急事项处理速度 / Speed on urgent items.
-- Population: urgent items RECEIVED in the period. Minutes to first response = elapsed time
-- from the cycle-1 first_response clock start to the instant it was met (urgent items run on
-- the 24x7 calendar, so elapsed time is business time). Within SLA: met_at <= due_at; an item
-- without a first response (or without a deadline) is not within.
-- A response whose clock start or met time is infinite or before :oldest has no duration: it
-- counts as responded, is left out of `timed`, the sum and the median, and is counted in `excluded`.
-- Params: :start, :end, :oldest.
SELECT count(*) AS items,
       count(d.met_at) AS responded,
       count(t.secs) AS timed,
       count(d.met_at) - count(t.secs) AS excluded,
       sum(t.secs)::float8 AS total_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.secs) AS median_seconds,
       count(*) FILTER (WHERE d.met_at <= d.due_at) AS within_sla
FROM feedback.v_feedback AS f
LEFT JOIN feedback.v_feedback_deadline AS d
       ON d.feedback_id = f.id AND d.stage = 'first_response' AND d.handling_cycle = 1
CROSS JOIN LATERAL (
    SELECT CASE WHEN isfinite(d.starts_at) AND d.starts_at >= :oldest AND isfinite(d.met_at) AND d.met_at >= :oldest
                THEN extract(epoch FROM d.met_at - d.starts_at) END AS secs
) AS t
WHERE f.priority = 'urgent' AND f.received_at >= :start AND f.received_at < :end
