-- 问题标签 Top N / Top issue tags of the period: the categories of the period's complaints
-- (items received in the period with a complaint category) together with the items behind
-- the dissatisfied callbacks completed in the period; each item counts once (however many of
-- both it is), under every one of its categories ('' = uncategorised). Ties by key.
-- Params: :start, :end, :complaint_categories (text[]), :top.
WITH sources AS (
    SELECT f.id, true AS complaint, false AS dissatisfied
    FROM feedback.v_feedback AS f
    WHERE f.received_at >= :start AND f.received_at < :end
      AND f.category && CAST(:complaint_categories AS text[])
    UNION ALL
    SELECT c.feedback_id, false, true
    FROM feedback.v_callback_task AS c
    WHERE c.outcome = 'dissatisfied' AND c.completed_at >= :start AND c.completed_at < :end
),
items AS (
    SELECT s.id, f.category, bool_or(s.complaint) AS complaint, bool_or(s.dissatisfied) AS dissatisfied
    FROM sources AS s
    JOIN feedback.v_feedback AS f ON f.id = s.id
    GROUP BY s.id, f.category
)
SELECT cat AS key,
       count(*) AS items,
       count(*) FILTER (WHERE i.complaint) AS complaints,
       count(*) FILTER (WHERE i.dissatisfied) AS dissatisfied,
       (SELECT count(*) FROM items) AS total
FROM items AS i
CROSS JOIN LATERAL unnest(CASE WHEN cardinality(i.category) = 0 THEN ARRAY[''] ELSE i.category END) AS cat
GROUP BY cat
ORDER BY items DESC, cat COLLATE "C"
LIMIT :top
