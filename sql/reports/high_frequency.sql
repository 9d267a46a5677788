-- 高频问题 / High-frequency problems: among the complaints received in the period (items
-- with at least one complaint category, :complaint_categories), the share of each problem,
-- keyed finer than the category: category + issue. An item's issue within a category is the
-- issue of the heaviest classification rule it fired that votes for that category (ties: the
-- rule that fired first); :issue_rules / :issue_votes / :issue_weights / :issue_keys are that
-- table (sections.py builds it from taxonomy.yaml via reports.issues). No such rule (a
-- customer's hint, a learned model, a correction by a person): issue ''. sections.py flags
-- the problems whose share exceeds the threshold. Multi-label items count once under each of
-- their complaint categories (shares may add up to more than 1).
-- Set-wise (a million-item month in about half the time of a look-up per complaint): each
-- (complaint, category) once (a category repeated in the array counts at its first position), and
-- the winning rule of every (complaint, category) found in one join of the fired rules with the
-- rule table (DISTINCT ON, heaviest first, then the first fired).
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
    SELECT c.id, u.cat
    FROM complaints AS c
    CROSS JOIN LATERAL unnest(c.category) WITH ORDINALITY AS u(cat, n)
    WHERE u.cat = ANY (CAST(:complaint_categories AS text[]))
      AND array_position(c.category[1:u.n - 1], u.cat) IS NULL
),
fired AS (
    SELECT DISTINCT ON (c.id, r.votes) c.id, r.votes AS cat, r.issue
    FROM complaints AS c
    CROSS JOIN LATERAL unnest(c.rule_ids) WITH ORDINALITY AS u(rule_id, n)
    JOIN rules AS r ON r.rule_id = u.rule_id AND r.votes = ANY (c.category)
    ORDER BY c.id, r.votes, r.weight DESC, u.n
)
SELECT p.cat AS key, coalesce(f.issue, '') AS issue, count(*) AS complaints,
       (SELECT count(*) FROM complaints) AS total
FROM pairs AS p
LEFT JOIN fired AS f ON f.id = p.id AND f.cat = p.cat
GROUP BY p.cat, coalesce(f.issue, '')
ORDER BY complaints DESC, p.cat COLLATE "C", coalesce(f.issue, '') COLLATE "C"
