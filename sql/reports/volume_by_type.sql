-- 各类型反馈量 / Volume by type: items received in the period, by first (main) category.
-- An item without a category is counted under '' (未分类 / uncategorised).
-- Params: :start, :end.
SELECT coalesce(f.category[1], '') AS key, count(*) AS items
FROM feedback.v_feedback AS f
WHERE f.received_at >= :start AND f.received_at < :end
GROUP BY 1
ORDER BY items DESC, coalesce(f.category[1], '') COLLATE "C"
