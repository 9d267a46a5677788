-- 响应时效监控周报表 / Weekly response-time monitor, per department and priority.
--   items       items RECEIVED in the period
--   fr_due      first_response deadlines (any cycle) DUE in the period
--   fr_on_time  ... of those, met on time (met_at <= due_at)
--   responded, total_seconds: cycle-1 first responses MET in the period and their business
--               time (same measure and calendar arithmetic as response_times.sql)
--   breaches    breach records (kind 'breach', any stage) whose deadline fell in the period
--               (detected_at >= deadline_at always, so the detected_at bound only uses its index)
-- Each figure is grouped by the item's department and priority: the facts are collected per
-- item first and joined to the register once.
-- A first response whose clock started at an infinite time or before :oldest has no duration: it
-- is left out of responded and total_seconds and counted in `excluded`.
-- Business seconds as in response_times.sql: cum(x) = least(x + k[i], m[i]) with k = c - s and
-- m = c + l computed once per calendar, each instant's bucket searched once (OFFSET 0 keeps `timed`
-- from being inlined into every use of ia / ib), and the seconds summed exactly in microseconds.
-- Params: :start, :end, :calendars, :oldest.
WITH cal AS (
    SELECT cs.name, cs.always, cs.s,
           ARRAY(SELECT cs.c[i] - cs.s[i] FROM generate_subscripts(cs.s, 1) AS i ORDER BY i) AS k,
           ARRAY(SELECT cs.c[i] + cs.l[i] FROM generate_subscripts(cs.s, 1) AS i ORDER BY i) AS m
    FROM feedback.calendar_spans(CAST(:calendars AS jsonb)) AS cs   -- migration 008
),
timed AS (
    SELECT d.feedback_id, isfinite(d.starts_at) AND d.starts_at >= :oldest AS plausible, x.a, x.b,
           cal.name IS NULL OR cal.always AS elapsed, cal.k, cal.m,
           width_bucket(x.a, cal.s) AS ia, width_bucket(x.b, cal.s) AS ib
    FROM feedback.v_feedback_deadline AS d
    LEFT JOIN cal ON cal.name = d.calendar
    CROSS JOIN LATERAL (SELECT date_part('epoch', d.starts_at) AS a, date_part('epoch', d.met_at) AS b) AS x
    WHERE d.stage = 'first_response' AND d.handling_cycle = 1 AND d.met_at >= :start AND d.met_at < :end
    OFFSET 0
),
facts (feedback_id, items, fr_due, fr_on_time, responded, secs, breaches, excluded) AS (
    SELECT f.id, 1, 0, 0, 0, 0::float8, 0, 0
    FROM feedback.v_feedback AS f
    WHERE f.received_at >= :start AND f.received_at < :end
    UNION ALL
    SELECT d.feedback_id, 0, 1, (d.met_at IS NOT NULL AND d.met_at <= d.due_at)::int, 0, 0::float8, 0, 0
    FROM feedback.v_feedback_deadline AS d
    WHERE d.stage = 'first_response' AND d.due_at >= :start AND d.due_at < :end
    UNION ALL
    SELECT t.feedback_id, 0, 0, 0, t.plausible::int,
           CASE WHEN NOT t.plausible THEN 0
                WHEN t.b <= t.a THEN 0
                WHEN t.elapsed THEN t.b - t.a
                ELSE coalesce(least(t.b + t.k[t.ib], t.m[t.ib]), 0) - coalesce(least(t.a + t.k[t.ia], t.m[t.ia]), 0)
           END,
           0, (NOT t.plausible)::int
    FROM timed AS t
    UNION ALL
    SELECT b.feedback_id, 0, 0, 0, 0, 0::float8, 1, 0
    FROM feedback.v_sla_breach AS b
    WHERE b.kind = 'breach' AND b.deadline_at >= :start AND b.deadline_at < :end AND b.detected_at >= :start
)
SELECT coalesce(f.department, '') AS department, f.priority,
       sum(x.items) AS items, sum(x.fr_due) AS fr_due, sum(x.fr_on_time) AS fr_on_time,
       sum(x.responded) AS responded, sum(round(x.secs * 1000000)::bigint)::float8 / 1000000 AS total_seconds,
       sum(x.breaches) AS breaches,
       sum(x.excluded) AS excluded
FROM facts AS x
JOIN feedback.v_feedback AS f ON f.id = x.feedback_id
GROUP BY 1, 2
ORDER BY coalesce(f.department, '') COLLATE "C", f.priority COLLATE "C"
