"""The contact vault: the only place a raw phone number, address or name is kept.

Contacts are stored Fernet-encrypted (MultiFernet, so keys rotate) with a keyed
hash of the normalised value, so the same customer is recognised (VIP tier,
repeat complaints) without decrypting anything. Everything that needs a raw
contact — callbacks, acknowledgements — goes through `reveal`, which records who
asked and why.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa
from cryptography.fernet import MultiFernet

from feedback.db.setwise import bytea_text, records_json
from feedback.privacy import keys

KINDS = ("phone", "email", "name", "address", "other")


def identity_hash(kind: str, normalized: str, key: bytes | None = None) -> str:
    """Keyed hash of a normalised contact: stable across key rotation, useless without the key."""
    secret = key if key is not None else keys.hash_key()
    return hmac.new(secret, f"{kind}:{normalized}".encode(), hashlib.sha256).hexdigest()


def store_contacts(
    conn: sa.Connection,
    contacts: Sequence[tuple[str, str]],
    created_at: datetime,
    fernet: MultiFernet | None = None,
    hashes: Sequence[str] | None = None,
) -> list[int]:
    """Store (kind, normalised value) pairs once each; returns their vault ids in input order.

    One statement for the batch: the new contacts are inserted (each encrypted once, however
    often it occurs) and the ids of those already stored are read with them. `hashes` are the
    pairs' identity hashes when the caller has them already (triage computes them for the
    tier lookup).
    """
    if not contacts:
        return []
    fernet = fernet or keys.cipher()
    if hashes is None:
        secret = keys.hash_key()
        hashes = [identity_hash(kind, value, secret) for kind, value in contacts]
    unique: dict[tuple[str, str], str] = {}
    for (kind, value), digest in zip(contacts, hashes, strict=True):
        unique.setdefault((kind, digest), value)
    records = [
        {"kind": kind, "ciphertext": bytea_text(fernet.encrypt(value.encode("utf-8"))), "identity_hash": digest,
         "created_at": created_at}
        # In key order: concurrent batches then wait for each other's new contacts in one order, never in a cycle.
        for (kind, digest), value in sorted(unique.items())
    ]
    digests = sorted({digest for _, digest in unique})
    found = conn.execute(_STORE, {"rows": records_json(records), "h": digests}).all()
    ids = {(kind, digest): vault_id for kind, digest, vault_id in found}
    if len(ids) < len(unique):
        # Stored by another transaction that committed after this statement began: read it now.
        ids.update(((kind, digest), vault_id) for kind, digest, vault_id in conn.execute(
            sa.text("SELECT kind, identity_hash, id FROM feedback.contact_vault WHERE identity_hash = ANY(:h)"),
            {"h": digests},
        ))
    return [ids[(kind, digest)] for (kind, _), digest in zip(contacts, hashes, strict=True)]


# New contacts inserted, existing ones read, in one round trip (the select sees the table as it was
# before the insert, so each contact comes back once: from the insert or from the table).
_STORE = sa.text(
    """WITH added AS (
           INSERT INTO feedback.contact_vault (kind, ciphertext, identity_hash, created_at)
           SELECT kind, ciphertext, identity_hash, created_at
           FROM json_populate_recordset(NULL::feedback.contact_vault, CAST(:rows AS json)) WITH ORDINALITY AS r
           ORDER BY r.ordinality
           ON CONFLICT (kind, identity_hash) DO NOTHING
           RETURNING kind, identity_hash, id)
       SELECT kind, identity_hash, id FROM added
       UNION ALL
       SELECT kind, identity_hash, id FROM feedback.contact_vault WHERE identity_hash = ANY(:h)"""
)


def reveal(conn: sa.Connection, vault_id: int, *, actor: str, purpose: str, at: datetime | None = None) -> str:
    """Decrypt one contact for a stated purpose, and record the access.

    The one door to raw contacts: callbacks, acknowledgements and the console all
    come through here, so every reveal is in `contact_reveal`.
    """
    if not actor or not purpose:
        raise ValueError("reveal needs an actor and a purpose")
    row = conn.execute(
        sa.text("SELECT ciphertext FROM feedback.contact_vault WHERE id = :i"), {"i": vault_id}
    ).one_or_none()
    if row is None:
        raise LookupError(f"vault entry {vault_id} does not exist")
    if row.ciphertext is None:
        raise LookupError(f"vault entry {vault_id} was purged by retention")
    conn.execute(
        sa.text(
            "INSERT INTO feedback.contact_reveal (vault_id, actor, purpose, revealed_at) "
            "VALUES (:i, :a, :p, coalesce(CAST(:t AS timestamptz), now()))"
        ),
        {"i": vault_id, "a": actor, "p": purpose, "t": at},
    )
    return keys.decrypt(row.ciphertext).decode("utf-8")


def rotate_keys(engine: sa.Engine, batch: int = 1000,
                progress: Callable[[str], object] | None = None) -> dict[str, int]:
    """Re-encrypt every vault entry and quarantined payload with the newest key.

    Run after putting a new key in front of FEEDBACK_VAULT_KEYS; once it reports
    zero left on the old keys, the old key can be removed.
    """
    fernet = keys.cipher()
    counts: dict[str, int] = {}
    for table, column in (("contact_vault", "ciphertext"), ("quarantine", "raw_encrypted")):
        done, last_id = 0, 0
        while True:
            with engine.begin() as conn:
                rows = conn.execute(
                    sa.text(
                        f"SELECT id, {column} FROM feedback.{table} "  # noqa: S608 - fixed names
                        f"WHERE id > :last AND {column} IS NOT NULL ORDER BY id LIMIT :n FOR UPDATE"
                    ),
                    {"last": last_id, "n": batch},
                ).all()
                if not rows:
                    break
                conn.execute(
                    sa.text(f"UPDATE feedback.{table} SET {column} = :c WHERE id = :i"),  # noqa: S608
                    [{"i": r.id, "c": fernet.rotate(bytes(r[1]))} for r in rows],
                )
                done += len(rows)
                last_id = rows[-1].id
            if progress:
                progress(f"{table}: {done} re-encrypted")
        counts[table] = done
    return counts


def outbox_recipient(conn: sa.Connection, recipient: str, *, kind: str, at: datetime | None = None) -> str:
    """The address to send an outbox row to: staff addresses as written, customers resolved from the vault.

    Outbox rows addressed to a customer hold `vault:<id>`, so the raw address exists
    only for the moment of sending, and the reveal is recorded like any other.
    """
    if not recipient.startswith("vault:"):
        return recipient
    try:
        vault_id = int(recipient.removeprefix("vault:"))
    except ValueError:
        raise ValueError("an outbox vault reference looks like vault:<id>") from None
    return reveal(conn, vault_id, actor="outbox", purpose=f"send {kind}", at=at)
