-- 各部门反馈量 / Volume by department: items received in the period, by owning department.
-- An item without a department is counted under '' (未分派 / unassigned).
-- Params: :start, :end.
SELECT coalesce(f.department, '') AS key, count(*) AS items
FROM feedback.v_feedback AS f
WHERE f.received_at >= :start AND f.received_at < :end
GROUP BY 1
ORDER BY items DESC, coalesce(f.department, '') COLLATE "C"
