-- 表扬 / Praise letters: items received in the period with a praise category
-- (:praise_categories), listed by receipt. Params: :start, :end, :zone, :praise_categories.
SELECT f.feedback_no, (f.received_at AT TIME ZONE :zone)::date AS received_on, f.channel, f.department
FROM feedback.v_feedback AS f
WHERE f.received_at >= :start AND f.received_at < :end
  AND f.category && CAST(:praise_categories AS text[])
ORDER BY f.received_at, f.feedback_no COLLATE "C"
