-- 各级别响应时效达标率 / SLA attainment per priority and stage.
-- Population: every deadline (any stage, any handling cycle) DUE in the period.
-- On time: met_at <= due_at. Late: met after its due time, or not met at all (a deadline due
-- in the period and still unmet is overdue by definition). Stable once the period is over.
-- Params: :start, :end.
SELECT f.priority, d.stage,
       count(*) AS due,
       count(*) FILTER (WHERE d.met_at IS NOT NULL AND d.met_at <= d.due_at) AS on_time
FROM feedback.v_feedback_deadline AS d
JOIN feedback.v_feedback AS f ON f.id = d.feedback_id
WHERE d.due_at >= :start AND d.due_at < :end
GROUP BY f.priority, d.stage
ORDER BY f.priority COLLATE "C", d.stage COLLATE "C"
