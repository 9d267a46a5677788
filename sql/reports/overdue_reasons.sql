-- 超时原因 / Reasons for overdue items: breach records (kind 'breach', any stage) whose
-- deadline fell in the period, by the reason the handlers recorded (备件短缺 ...); a breach
-- without a reason counts under '' (未填写 / not given), listed last.
-- detected_at >= deadline_at always, so the detected_at bound only lets its index be used.
-- Params: :start, :end.
SELECT coalesce(nullif(btrim(b.reason), ''), '') AS reason, count(*) AS breaches
FROM feedback.v_sla_breach AS b
WHERE b.kind = 'breach' AND b.deadline_at >= :start AND b.deadline_at < :end AND b.detected_at >= :start
GROUP BY 1
ORDER BY (coalesce(nullif(btrim(b.reason), ''), '') = ''), breaches DESC, coalesce(nullif(btrim(b.reason), ''), '') COLLATE "C"
