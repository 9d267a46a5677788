-- 不满意原因 Top N / Top causes of dissatisfaction: the categories of the items behind the
-- dissatisfied callbacks completed in the period (every category of a multi-label item counts;
-- an item without a category counts under ''). Ties are broken by category key.
-- Params: :start, :end, :top.
WITH dissatisfied AS (
    SELECT c.id, f.category
    FROM feedback.v_callback_task AS c
    JOIN feedback.v_feedback AS f ON f.id = c.feedback_id
    WHERE c.outcome = 'dissatisfied' AND c.completed_at >= :start AND c.completed_at < :end
)
SELECT cat AS key, count(DISTINCT d.id) AS callbacks, (SELECT count(*) FROM dissatisfied) AS dissatisfied
FROM dissatisfied AS d
CROSS JOIN LATERAL unnest(CASE WHEN cardinality(d.category) = 0 THEN ARRAY[''] ELSE d.category END) AS cat
GROUP BY cat
ORDER BY callbacks DESC, cat COLLATE "C"
LIMIT :top
