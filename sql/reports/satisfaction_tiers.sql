-- 满意度周汇总 (按客户等级) / Weekly satisfaction by customer tier: callbacks completed in the
-- period, by the item's customer tier (vip / normal) and outcome ('' = not recorded), with
-- the scores for the average. Params: :start, :end.
SELECT f.customer_tier AS tier, coalesce(c.outcome, '') AS outcome, count(*) AS callbacks,
       count(c.score) AS scored, coalesce(sum(c.score), 0) AS score_total
FROM feedback.v_callback_task AS c
JOIN feedback.v_feedback AS f ON f.id = c.feedback_id
WHERE c.completed_at >= :start AND c.completed_at < :end
GROUP BY 1, 2
ORDER BY f.customer_tier COLLATE "C", coalesce(c.outcome, '') COLLATE "C"
