-- Callbacks (回访): the queue's claims and retries, the callback team, every call attempt, and the
-- bookkeeping of e-mail surveys. The satisfaction loop itself writes feedback_event rows with the
-- existing types (callback_scheduled, callback_outcome, closed, reopened, escalated, status_changed),
-- so the event-type CHECK is left as it is.
-- Forward-only: never edit this file once applied; add 011_*.sql instead.

-- What a task is for: rating a resolution, or hearing the customer's final opinion on an item
-- recorded as unsolvable (无法解决).
ALTER TABLE callback_task ADD COLUMN purpose text NOT NULL DEFAULT 'satisfaction'
    CHECK (purpose IN ('satisfaction', 'final_opinion'));
-- due_at is the deadline of the callback (3 working days / 24 h after the resolution); not_before is
-- when it may be worked: at once, after a survey's grace period, or after an unanswered call
-- (NULL, as for tasks written by other tools: at once).
ALTER TABLE callback_task ADD COLUMN not_before timestamptz;
ALTER TABLE callback_task ADD COLUMN resolved_at timestamptz;        -- the resolution being checked
ALTER TABLE callback_task ADD COLUMN due_rule text;                   -- e.g. default 3wd on default
ALTER TABLE callback_task ADD COLUMN claim_expires_at timestamptz;
ALTER TABLE callback_task ADD COLUMN unreachable_count integer NOT NULL DEFAULT 0 CHECK (unreachable_count >= 0);
-- Whom to call (phone, else e-mail) and where the survey goes (e-mail): vault references only.
ALTER TABLE callback_task ADD COLUMN contact_vault_id bigint REFERENCES contact_vault (id);
ALTER TABLE callback_task ADD COLUMN survey_vault_id bigint REFERENCES contact_vault (id);
ALTER TABLE callback_task ADD COLUMN survey_sent_at timestamptz;
ALTER TABLE callback_task ADD COLUMN survey_expires_at timestamptz;
ALTER TABLE callback_task ADD COLUMN survey_reminded_at timestamptz;
-- The answer: on which scale, through which channel, by whom (an agent id or 'survey'), the
-- customer's final opinion (masked) and what the outcome did to the item.
ALTER TABLE callback_task ADD COLUMN scale text;
ALTER TABLE callback_task ADD COLUMN answered_via text CHECK (answered_via IN ('phone', 'survey'));
ALTER TABLE callback_task ADD COLUMN answered_by text;
ALTER TABLE callback_task ADD COLUMN final_opinion text;
ALTER TABLE callback_task ADD COLUMN action text CHECK (action IN ('closed', 'reopened', 'kept', 'none'));
ALTER TABLE callback_task ADD CONSTRAINT callback_task_claim_chk
    CHECK (status <> 'claimed' OR (claimed_by IS NOT NULL AND claim_expires_at IS NOT NULL));

-- `claim next`: pending tasks by deadline (FOR UPDATE SKIP LOCKED), an agent's own first.
CREATE INDEX callback_task_claimable_idx ON callback_task (due_at, id) WHERE status = 'pending';
CREATE INDEX callback_task_assigned_idx ON callback_task (assigned_to, due_at, id) WHERE status = 'pending';
-- Claims that ran out (release_expired, and claim_next taking them over).
CREATE INDEX callback_task_claim_expiry_idx ON callback_task (claim_expires_at) WHERE status = 'claimed';
CREATE INDEX callback_task_claimed_by_idx ON callback_task (claimed_by) WHERE status = 'claimed';
-- Surveys still to send or to remind.
CREATE INDEX callback_task_survey_idx ON callback_task (survey_sent_at)
    WHERE status IN ('pending', 'claimed') AND survey_vault_id IS NOT NULL;
-- Items waiting for their callback (the scheduler's anti-join starts here).
CREATE INDEX feedback_awaiting_callback_idx ON feedback (id) WHERE status IN ('resolved', 'unsolvable');

-- The callback team, independent of the handling departments (domain.md section 5).
CREATE TABLE callback_agent (
    agent_id        text        PRIMARY KEY CHECK (agent_id ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
    display_name    text        NOT NULL,
    team            text        NOT NULL,
    active          boolean     NOT NULL DEFAULT true,
    supervisor      boolean     NOT NULL DEFAULT false,
    source          text        NOT NULL DEFAULT 'manual',      -- 'config' for agents of callbacks.yaml
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callback_agent_team_idx ON callback_agent (team) WHERE active;

-- Every call (and every survey answer), append-only in practice: what the reports and an audit see.
CREATE TABLE callback_attempt (
    id              bigserial   PRIMARY KEY,
    task_id         bigint      NOT NULL REFERENCES callback_task (id),
    agent           text        NOT NULL,                       -- agent id, or 'survey'
    attempted_at    timestamptz NOT NULL,
    result          text        NOT NULL CHECK (result IN ('reached', 'no_answer', 'busy', 'wrong_number',
                                                           'voicemail', 'survey_answer')),
    dedup_key       text,
    CONSTRAINT callback_attempt_dedup_key_key UNIQUE (dedup_key)
);
CREATE INDEX callback_attempt_task_idx ON callback_attempt (task_id, attempted_at);

-- The masked view grows the new answer columns (appended: CREATE OR REPLACE keeps the grants).
CREATE OR REPLACE VIEW v_callback_task AS
SELECT id, feedback_id, handling_cycle, due_at, assigned_to, status, attempts, outcome, rating, score, comment,
       completed_at, created_at, purpose, scale, answered_via, final_opinion, unreachable_count, action,
       survey_sent_at
FROM callback_task;
