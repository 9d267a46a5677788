-- 重复投诉率 / Repeat-complaint rate.
-- A complaint (an item with a complaint category, received in the period) is a REPEAT when the
-- same customer has another item in the same complaint category received within
-- :window_days before it (the earlier item may fall before the period). The customer is the
-- keyed identity hash of the item's contact (v_feedback_customer); nothing is decrypted, and
-- the hash never leaves this query.
-- Anonymous items (no contact) are never repeats but count in the denominator.
-- Rows: one per complaint category, and a total row (category NULL) counting items once.
-- Reads a masked view only (v_feedback_customer: an item's receipt time, categories and identity
-- hash, in one scan of the month): it runs as feedback_reporting.
-- One pass: the complaints of the period and the window before it are selected first (the
-- category test before the identity join, so only complaints are matched to customers), and
-- one ordering per (customer, category) finds each complaint's previous one (lag), instead of
-- a look-up per complaint.
-- Params: :start, :end, :window_days, :complaint_categories (text[]).
WITH pairs AS (
    SELECT f.feedback_id AS id, f.received_at, f.identity_hash, cat
    FROM feedback.v_feedback_customer AS f
    CROSS JOIN LATERAL unnest(f.category) AS cat
    WHERE f.received_at >= CAST(:start AS timestamptz) - make_interval(days => :window_days)
      AND f.received_at < :end
      AND f.category && CAST(:complaint_categories AS text[])
      AND cat = ANY (CAST(:complaint_categories AS text[]))
),
flagged AS (
    SELECT id, received_at, cat, identity_hash IS NOT NULL AS identified,
           identity_hash IS NOT NULL
           AND coalesce(lag(received_at) OVER (PARTITION BY identity_hash, cat ORDER BY received_at, id)
                        >= received_at - make_interval(days => :window_days), false) AS is_repeat
    FROM pairs
)
SELECT cat AS key,
       count(DISTINCT id) AS complaints,
       count(DISTINCT id) FILTER (WHERE identified) AS identified,
       count(DISTINCT id) FILTER (WHERE is_repeat) AS repeats
FROM flagged
WHERE received_at >= :start
GROUP BY GROUPING SETS ((cat), ())
ORDER BY GROUPING(cat), complaints DESC, cat COLLATE "C"
