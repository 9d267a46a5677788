"""The contact vault: encrypted once per contact, revealed only through the audited door, keys rotate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import scalar
from cryptography.fernet import Fernet

from feedback.errors import ConfigError
from feedback.privacy import keys, vault

T = datetime(2026, 10, 5, tzinfo=UTC)
PHONE, EMAIL = "+8613812345678", "zhangsan@qq.com"


def test_contacts_are_stored_once_and_encrypted(register):
    with register.begin() as conn:
        first = vault.store_contacts(conn, [("phone", PHONE), ("email", EMAIL), ("phone", PHONE)], T)
        again = vault.store_contacts(conn, [("email", EMAIL)], T)
    assert first[0] == first[2] and first[0] != first[1] and again == [first[1]]
    assert scalar(register, "SELECT count(*) FROM feedback.contact_vault") == 2
    with register.connect() as conn:
        blobs = [bytes(b) for b in conn.execute(sa.text("SELECT ciphertext FROM feedback.contact_vault")).scalars()]
        hashes = set(conn.execute(sa.text("SELECT identity_hash FROM feedback.contact_vault")).scalars())
    assert all(PHONE.encode() not in b and b"13812345678" not in b and EMAIL.encode() not in b for b in blobs)
    assert vault.identity_hash("phone", PHONE) in hashes


def test_identity_hash_is_keyed(monkeypatch):
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "k" * 32)
    one = vault.identity_hash("phone", PHONE)
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "j" * 32)
    assert vault.identity_hash("phone", PHONE) != one
    assert vault.identity_hash("email", PHONE) != vault.identity_hash("phone", PHONE)


def test_reveal_decrypts_and_is_audited(register):
    with register.begin() as conn:
        (vid,) = vault.store_contacts(conn, [("phone", PHONE)], T)
        assert vault.reveal(conn, vid, actor="agent-7", purpose="callback", at=T) == PHONE
    with register.connect() as conn:
        audit = conn.execute(sa.text("SELECT vault_id, actor, purpose, revealed_at FROM feedback.contact_reveal")).one()
    assert tuple(audit) == (vid, "agent-7", "callback", T)


def test_reveal_needs_actor_and_purpose_and_refuses_purged(register):
    with register.begin() as conn:
        (vid,) = vault.store_contacts(conn, [("phone", PHONE)], T)
        with pytest.raises(ValueError, match="actor and a purpose"):
            vault.reveal(conn, vid, actor="", purpose="callback")
        conn.execute(sa.text("UPDATE feedback.contact_vault SET ciphertext = NULL, purged_at = :t"), {"t": T})
        with pytest.raises(LookupError, match="purged"):
            vault.reveal(conn, vid, actor="agent-7", purpose="callback")


def test_rotation_re_encrypts_so_the_old_key_can_go(register, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("FEEDBACK_VAULT_KEYS", old)
    with register.begin() as conn:
        (vid,) = vault.store_contacts(conn, [("email", EMAIL)], T)
        conn.execute(
            sa.text(
                "INSERT INTO feedback.quarantine (channel, source, reason, detail, raw_encrypted, raw_sha256, parked_at)"
                " VALUES ('webform', 's', 'invalid_json', 'x', :b, :h, :t)"
            ),
            {"b": keys.encrypt(b"raw bytes"), "h": "0" * 64, "t": T},
        )
    monkeypatch.setenv("FEEDBACK_VAULT_KEYS", f"{new},{old}")
    assert vault.rotate_keys(register) == {"contact_vault": 1, "quarantine": 1}
    monkeypatch.setenv("FEEDBACK_VAULT_KEYS", new)
    with register.begin() as conn:
        assert vault.reveal(conn, vid, actor="ops", purpose="rotation check") == EMAIL
        blob = conn.execute(sa.text("SELECT raw_encrypted FROM feedback.quarantine")).scalar_one()
    assert keys.decrypt(blob) == b"raw bytes"
    monkeypatch.setenv("FEEDBACK_VAULT_KEYS", old)
    with pytest.raises(ConfigError, match="cannot decrypt"), register.begin() as conn:
        vault.reveal(conn, vid, actor="ops", purpose="old key must no longer work")


def test_bad_key_configuration_is_one_line(monkeypatch):
    monkeypatch.setenv("FEEDBACK_VAULT_KEYS", "not-a-key")
    with pytest.raises(ConfigError, match="FEEDBACK_VAULT_KEYS: key #1 is not a Fernet key"):
        keys.cipher()


def test_outbox_customer_recipients_resolve_only_at_send_time(register):
    with register.begin() as conn:
        (vid,) = vault.store_contacts(conn, [("email", EMAIL)], T)
        conn.execute(
            sa.text("INSERT INTO feedback.outbox (kind, dedup_key, recipient, recipient_vault_id, created_at) "
                    "VALUES ('ack', 'ack:1', :r, :v, :t)"),
            {"r": f"vault:{vid}", "v": vid, "t": T},
        )
        stored = conn.execute(sa.text("SELECT recipient FROM feedback.outbox")).scalar_one()
        assert EMAIL not in stored
        assert vault.outbox_recipient(conn, stored, kind="ack", at=T) == EMAIL
        assert vault.outbox_recipient(conn, "ops@example.com", kind="report") == "ops@example.com"
        audit = conn.execute(sa.text("SELECT actor, purpose FROM feedback.contact_reveal")).one()
    assert tuple(audit) == ("outbox", "send ack")
