-- 高频问题 / High-frequency problems: among the complaints received in the period (items
-- with at least one complaint category, :complaint_categories), the share of each problem,
-- keyed finer than the category: category + issue. An item's issue within a category is the
-- issue of the heaviest classification rule it fired that votes for that category (ties: the
-- rule that fired first); :issue_rules / :issue_votes / :issue_weights / :issue_keys are that
-- table (sections.py builds it from taxonomy.yaml via reports.issues). No such rule (a
-- customer's hint, a learned model, a correction by a person): issue ''. sections.py flags
-- the problems whose share exceeds the threshold. Multi-label items count once under each of
-- their complaint categories (shares may add up to more than 1).
-- Params: :start, :end, :complaint_categories (text[]), :issue_rules, :issue_votes,
-- :issue_keys (text[]), :issue_weights (float8[]).
WITH complaints AS (
    SELECT f.id, f.category, f.rule_ids
    FROM feedback.v_feedback AS f
    WHERE f.received_at >= :start AND f.received_at < :end
      AND f.category && CAST(:complaint_categories AS text[])
),
rules AS (
    SELECT r.rule_id, r.votes, r.weight, r.issue
    FROM unnest(CAST(:issue_rules AS text[]), CAST(:issue_votes AS text[]), CAST(:issue_weights AS float8[]),
                CAST(:issue_keys AS text[])) AS r(rule_id, votes, weight, issue)
),
pairs AS (
    SELECT c.id, cat,
           coalesce((SELECT r.issue
                     FROM unnest(c.rule_ids) WITH ORDINALITY AS u(rule_id, n)
                     JOIN rules AS r ON r.rule_id = u.rule_id AND r.votes = cat
                     ORDER BY r.weight DESC, u.n
                     LIMIT 1), '') AS issue
    FROM complaints AS c
    CROSS JOIN LATERAL unnest(c.category) AS cat
    WHERE cat = ANY (CAST(:complaint_categories AS text[]))
)
SELECT p.cat AS key, p.issue, count(DISTINCT p.id) AS complaints, (SELECT count(*) FROM complaints) AS total
FROM pairs AS p
GROUP BY p.cat, p.issue
ORDER BY complaints DESC, p.cat COLLATE "C", p.issue COLLATE "C"
