-- 平均首次响应时间与处理周期 / First-response and handling time in business hours, per priority.
--
-- first response: the cycle-1 `first_response` deadline's clock start (starts_at = receipt)
--   to the instant it was met (met_at: the first reply, resolution or closure), for first
--   responses MET in the period;
-- handling: received_at to resolution (resolved_at, or closed_at for an item closed without a
--   separate resolution), for items RESOLVED in the period.
-- Both populations are fixed once the period is over, so a regenerated report does not move.
--
-- Business time is counted on the calendar of the item's cycle-1 first_response deadline
-- (feedback_deadline.calendar, i.e. the calendar its SLA runs on; urgent items run 24x7).
-- :calendars (jsonb, built by sections.py from calendars.yaml) holds, per calendar, the sorted
-- working periods around the period as epoch seconds: s (starts), l (lengths), c (business
-- seconds before each period). Business seconds before an instant x are then
--   i = width_bucket(x, s)  (number of periods starting at or before x; a binary search)
--   cum(x) = c[i] + least(x - s[i], l[i]) = least(x + k[i], m[i])   (0 when i = 0)
-- with k = c - s and m = c + l computed once per calendar below, and the business time of
-- [a, b) is cum(b) - cum(a): set-based, no per-item loop. Each instant's bucket is searched once
-- (`located` is kept from being inlined into every use of ia / ib by OFFSET 0). A 24x7
-- calendar ("always": true) or a calendar not in :calendars counts plain elapsed time.
-- One pass: each item is joined once to its cycle-1 first_response deadline and yields up to two
-- spans (its first response if met in the period, its handling if resolved in the period), instead
-- of two scans and two joins of the register, one per measure.
-- Pauses (waiting on the customer) are not subtracted: this is the customer's view.
-- A span starting at an infinite time or before :oldest (a corrupt import, a sender's clock) has
-- no duration: it is left out of n, the sum and the P90, and counted in `excluded`.
-- The sum is taken in whole microseconds (bigint): exact, so the same rows give the same figure in
-- whatever order they are added (float addition is not associative), and cheaper than numeric.
-- Params: :start, :end, :calendars, :oldest.
WITH cal AS (
    SELECT cs.name, cs.always, cs.s,
           ARRAY(SELECT cs.c[i] - cs.s[i] FROM generate_subscripts(cs.s, 1) AS i ORDER BY i) AS k,
           ARRAY(SELECT cs.c[i] + cs.l[i] FROM generate_subscripts(cs.s, 1) AS i ORDER BY i) AS m
    FROM feedback.calendar_spans(CAST(:calendars AS jsonb)) AS cs
),
spans AS (
    SELECT m.measure, f.priority, m.t0, m.t1, d.calendar
    FROM feedback.v_feedback AS f
    LEFT JOIN feedback.v_feedback_deadline AS d
           ON d.feedback_id = f.id AND d.stage = 'first_response' AND d.handling_cycle = 1
    CROSS JOIN LATERAL (VALUES ('first_response', d.starts_at, d.met_at),
                               ('handling', f.received_at, coalesce(f.resolved_at, f.closed_at))) AS m(measure, t0, t1)
    WHERE ((d.met_at >= :start AND d.met_at < :end)
           OR (coalesce(f.resolved_at, f.closed_at) >= :start AND coalesce(f.resolved_at, f.closed_at) < :end))
      AND m.t1 >= :start AND m.t1 < :end
),
located AS (
    SELECT sp.measure, sp.priority, isfinite(sp.t0) AND sp.t0 >= :oldest AS plausible,
           x.a, x.b, cal.name IS NULL OR cal.always AS elapsed, cal.k, cal.m,
           width_bucket(x.a, cal.s) AS ia, width_bucket(x.b, cal.s) AS ib
    FROM spans AS sp
    LEFT JOIN cal ON cal.name = sp.calendar
    CROSS JOIN LATERAL (SELECT date_part('epoch', sp.t0) AS a, date_part('epoch', sp.t1) AS b) AS x
    OFFSET 0
),
timed AS (
    SELECT measure, priority,
           CASE WHEN NOT plausible THEN NULL
                WHEN b <= a THEN 0
                WHEN elapsed THEN b - a
                ELSE coalesce(least(b + k[ib], m[ib]), 0) - coalesce(least(a + k[ia], m[ia]), 0)
           END AS secs
    FROM located
)
SELECT measure, priority, count(secs) AS n, count(*) - count(secs) AS excluded,
       sum(round(secs * 1000000)::bigint)::float8 / 1000000 AS total_seconds,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY secs) AS p90_seconds
FROM timed
GROUP BY GROUPING SETS ((measure, priority), (measure))
ORDER BY measure COLLATE "C", priority COLLATE "C" NULLS LAST
