-- 超时事项清单 / Overdue items: every breach record (kind 'breach') whose deadline fell in the
-- period, with the item's number, priority, department, the stage, deadline and the reason.
-- Times are local wall-clock times in :zone. Masked register columns only.
-- A list section that limits itself (sections._run_listed): the first :list_rows by deadline, and
-- listed_total__ = all breach records of the period, counted apart (the count needs no join).
-- Params: :start, :end, :zone, :list_rows.
WITH listed AS (
    SELECT f.feedback_no, f.priority, f.department, b.stage, b.handling_cycle, b.deadline_at, b.detected_at,
           b.reason
    FROM feedback.v_sla_breach AS b
    JOIN feedback.v_feedback AS f ON f.id = b.feedback_id
    WHERE b.kind = 'breach' AND b.deadline_at >= :start AND b.deadline_at < :end AND b.detected_at >= :start
    ORDER BY b.deadline_at, f.feedback_no COLLATE "C", b.stage COLLATE "C", b.handling_cycle
    LIMIT :list_rows
)
SELECT l.feedback_no, l.priority, l.department, l.stage, l.handling_cycle,
       l.deadline_at AT TIME ZONE :zone AS deadline, l.detected_at AT TIME ZONE :zone AS detected,
       nullif(btrim(l.reason), '') AS reason,
       (SELECT count(*) FROM feedback.v_sla_breach AS b
        WHERE b.kind = 'breach' AND b.deadline_at >= :start AND b.deadline_at < :end
          AND b.detected_at >= :start) AS listed_total__
FROM listed AS l
ORDER BY l.deadline_at, l.feedback_no COLLATE "C", l.stage COLLATE "C", l.handling_cycle
