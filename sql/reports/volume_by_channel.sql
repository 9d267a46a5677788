-- 各渠道反馈量 / Volume by channel: items received in the period, by channel.
-- Params: :start, :end (UTC instants, half-open [start, end)).
-- Channels with no item are added (as zeros) by sections.py, in the report's fixed order.
SELECT f.channel AS key, count(*) AS items
FROM feedback.v_feedback AS f
WHERE f.received_at >= :start AND f.received_at < :end
GROUP BY f.channel
ORDER BY f.channel COLLATE "C"
