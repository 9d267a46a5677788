-- E-mail intake: acknowledgements with loop protection, and threading through our own mail.
-- Forward-only: never edit this file once applied; add 006_*.sql instead.

-- The business instant that caused an outbox row (for an acknowledgement: when the
-- customer's mail arrived). Rate limits count rows by this, not by when a batch ran.
ALTER TABLE outbox ADD COLUMN caused_at timestamptz;
-- The item an outbox row is about, so a customer's answer to our mail (In-Reply-To:
-- our Message-ID) threads onto that item.
ALTER TABLE outbox ADD COLUMN feedback_id bigint REFERENCES feedback (id);

CREATE INDEX outbox_ack_sender_idx ON outbox (recipient_vault_id, caused_at) WHERE kind = 'ack';
CREATE INDEX outbox_message_id_idx ON outbox (message_id) WHERE feedback_id IS NOT NULL;

-- Mail that was recorded but is not feedback (bounces, auto-replies, our own mail) is kept
-- in intake with status 'skipped'; this index serves `feedback status` and the operators' checks.
CREATE INDEX intake_skipped_idx ON intake (channel, status_reason) WHERE status = 'skipped';
