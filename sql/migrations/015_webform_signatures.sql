-- Signed web-form posts (verify: hmac) are stored once even when the same signed request is
-- replayed inside its window (MAX_SKEW_SECONDS either side of its timestamp): the endpoint
-- remembers each accepted signature with the receipt it answered, and a replay gets that receipt
-- again (202, Idempotent-Replayed: true) instead of landing a second row.
-- Forward-only: never edit this file once applied.

CREATE TABLE webform_signature (
    form              text        NOT NULL,       -- the form's name in channels.yaml
    signature_sha256  text        NOT NULL CHECK (signature_sha256 ~ '^[0-9a-f]{64}$'),  -- sha256 of the signature
    receipt_id        text        NOT NULL,       -- the receipt the first request was answered with
    expires_at        timestamptz NOT NULL,       -- after this the signature is refused as expired anyway
    PRIMARY KEY (form, signature_sha256)
);
-- Expired rows are deleted by the endpoint itself (each signed post purges its form's expired rows).
CREATE INDEX webform_signature_expiry_idx ON webform_signature (expires_at);

REVOKE ALL ON webform_signature FROM PUBLIC;
