-- 各优先级反馈量 / Volume by priority: items received in the period, by priority.
-- Params: :start, :end. Order and zeros are applied by sections.py (urgent, high, medium, low).
SELECT f.priority AS key, count(*) AS items
FROM feedback.v_feedback AS f
WHERE f.received_at >= :start AND f.received_at < :end
GROUP BY f.priority
ORDER BY f.priority COLLATE "C"
