-- 超时事项清单 / Overdue items: every breach record (kind 'breach') whose deadline fell in the
-- period, with the item's number, priority, department, the stage, deadline and the reason.
-- Times are local wall-clock times in :zone. Masked register columns only. Params: :start, :end, :zone.
SELECT f.feedback_no, f.priority, f.department, b.stage, b.handling_cycle,
       b.deadline_at AT TIME ZONE :zone AS deadline, b.detected_at AT TIME ZONE :zone AS detected,
       nullif(btrim(b.reason), '') AS reason
FROM feedback.v_sla_breach AS b
JOIN feedback.v_feedback AS f ON f.id = b.feedback_id
WHERE b.kind = 'breach' AND b.deadline_at >= :start AND b.deadline_at < :end AND b.detected_at >= :start
ORDER BY b.deadline_at, f.feedback_no COLLATE "C", b.stage COLLATE "C", b.handling_cycle
