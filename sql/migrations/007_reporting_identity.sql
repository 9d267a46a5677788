-- Reports under the reporting role: the repeat-complaint rate needs to know that two items come
-- from the same customer, which the keyed identity hash says without revealing who (it cannot be
-- reversed without FEEDBACK_HASH_KEY). This view gives exactly that pairing, nothing else.
-- Forward-only: never edit this file once applied; add 008_*.sql instead.

CREATE VIEW v_feedback_identity AS
SELECT f.id AS feedback_id, v.identity_hash
FROM feedback f JOIN contact_vault v ON v.id = f.contact_vault_id;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'feedback_reporting') THEN
        EXECUTE 'GRANT SELECT ON v_feedback_identity TO feedback_reporting';
    ELSE
        RAISE NOTICE 'role feedback_reporting does not exist; grant SELECT on v_feedback_identity once created';
    END IF;
END
$$;
