"""Customer tiers (VIP) keyed by the contact's keyed hash.

Operations teams get VIP lists from their CRM; importing them as keyed hashes
lets triage recognise a VIP by phone or e-mail without the register ever holding
the CRM's raw contact list.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from feedback.privacy.masking import normalize_email, normalize_phone
from feedback.privacy.vault import identity_hash


def normalise_contact(value: str) -> tuple[str, str] | None:
    """(kind, normalised value) for a phone number or e-mail address, else None."""
    value = value.strip()
    if "@" in value:
        email = normalize_email(value)
        return ("email", email) if email else None
    phone = normalize_phone(value)
    return ("phone", phone) if phone else None


def set_tier(conn: sa.Connection, contacts: Iterable[str], tier: str = "vip", source: str = "manual") -> tuple[int, int]:
    """Record a tier for each contact; returns (stored, rejected) counts, never the values."""
    rows, rejected = [], 0
    for value in contacts:
        parsed = normalise_contact(value)
        if parsed is None:
            rejected += 1
            continue
        kind, normalised = parsed
        rows.append({"h": identity_hash(kind, normalised), "k": kind, "t": tier, "s": source})
    if rows:
        conn.execute(
            sa.text(
                """INSERT INTO feedback.customer_tier (identity_hash, kind, tier, source) VALUES (:h, :k, :t, :s)
                   ON CONFLICT (kind, identity_hash) DO UPDATE SET tier = EXCLUDED.tier, source = EXCLUDED.source,
                   updated_at = now()"""
            ),
            rows,
        )
    return len(rows), rejected
