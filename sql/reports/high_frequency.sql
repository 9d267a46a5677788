-- 高频问题 / High-frequency problems: among the complaints received in the period (items
-- with at least one complaint category, :complaint_categories), the share of each complaint
-- category; sections.py flags the categories whose share exceeds the threshold. Multi-label
-- items count once under each of their complaint categories (shares may add up to more than 1).
-- Params: :start, :end, :complaint_categories (text[]).
WITH complaints AS (
    SELECT f.id, f.category
    FROM feedback.v_feedback AS f
    WHERE f.received_at >= :start AND f.received_at < :end
      AND f.category && CAST(:complaint_categories AS text[])
)
SELECT cat AS key, count(DISTINCT c.id) AS complaints, (SELECT count(*) FROM complaints) AS total
FROM complaints AS c
CROSS JOIN LATERAL unnest(c.category) AS cat
WHERE cat = ANY (CAST(:complaint_categories AS text[]))
GROUP BY cat
ORDER BY complaints DESC, cat COLLATE "C"
