-- 超时原因 / Reasons for overdue items: breach records (kind 'breach', any stage) whose
-- deadline fell in the period, by the reason recorded for them (an `overdue_reason` event from
-- the console, the CRM event API or SQL sets the code; free text goes with its code, usually
-- `other`, and is not a group of its own). A reason typed by hand as a configured name (备件短缺,
-- "Spare parts shortage") counts under that name's code; any other hand-typed text is its own
-- group. A breach without a reason counts under '' (未填写 / not given), listed last.
-- detected_at >= deadline_at always, so the detected_at bound only lets its index be used.
-- Params: :start, :end; :reason_codes (the configured codes), :reason_names and
-- :reason_name_codes (each configured zh and en name and its code, as parallel arrays).
WITH given AS (
    SELECT nullif(btrim(b.reason), '') AS reason
    FROM feedback.v_sla_breach AS b
    WHERE b.kind = 'breach' AND b.deadline_at >= :start AND b.deadline_at < :end AND b.detected_at >= :start
), coded AS (
    SELECT CASE WHEN g.reason IS NULL THEN ''
                WHEN g.reason = ANY(CAST(:reason_codes AS text[])) THEN g.reason
                ELSE coalesce(n.code, g.reason) END AS reason
    FROM given AS g
    LEFT JOIN (SELECT DISTINCT ON (m.name) m.name, m.code
               FROM unnest(CAST(:reason_names AS text[]), CAST(:reason_name_codes AS text[])) AS m (name, code)
               ORDER BY m.name, m.code) AS n ON n.name = g.reason
)
SELECT reason, count(*) AS breaches
FROM coded
GROUP BY reason
ORDER BY (reason = ''), breaches DESC, reason COLLATE "C"
