-- 表扬 / Praise letters: items received in the period with a praise category
-- (:praise_categories), listed by receipt.
-- A list section that limits itself (sections._run_listed): the first :list_rows by receipt, read
-- in receipt order, and listed_total__ = all praise items of the period, counted apart (a count
-- needs none of the listed columns).
-- Params: :start, :end, :zone, :praise_categories, :list_rows.
WITH listed AS (
    SELECT f.feedback_no, f.received_at, f.channel, f.department
    FROM feedback.v_feedback AS f
    WHERE f.received_at >= :start AND f.received_at < :end
      AND f.category && CAST(:praise_categories AS text[])
    ORDER BY f.received_at, f.feedback_no COLLATE "C"
    LIMIT :list_rows
)
SELECT l.feedback_no, (l.received_at AT TIME ZONE :zone)::date AS received_on, l.channel, l.department,
       (SELECT count(*) FROM feedback.v_feedback AS f
        WHERE f.received_at >= :start AND f.received_at < :end
          AND f.category && CAST(:praise_categories AS text[])) AS listed_total__
FROM listed AS l
ORDER BY l.received_at, l.feedback_no COLLATE "C"
