"""What every channel produces: an IntakeItem, or a Rejected item for quarantine.

Channels decide nothing about the feedback itself (type, priority, owner); they
only say where an item came from, its stable identity and its content, so
triage sees one shape whatever the source.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

CHANNELS = ("email", "webform", "platform")


@dataclass(frozen=True)
class IntakeItem:
    channel: str
    source: str
    external_id: str
    received_at: datetime
    payload: dict[str, Any]
    raw_ref: str | None = None
    # Recorded but not for triage (a bounce, an auto-reply): status "skipped" with the reason.
    status: str = "new"
    status_reason: str | None = None

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.status not in ("new", "skipped"):
            raise ValueError(f"an ingested item is new or skipped, not {self.status!r}")
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        if not self.external_id:
            raise ValueError("external_id must not be empty")

    @cached_property
    def content_sha256(self) -> str:
        canonical = json.dumps(self.payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Rejected:
    """An item that could not be parsed or validated; parked, never dropped."""

    channel: str
    source: str
    external_ref: str
    reason: str          # machine-readable code: invalid_json, missing_field, oversize ...
    detail: str          # one line for the operator, no personal data
    raw: bytes = field(repr=False)

    @property
    def raw_sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


class InvalidItem(Exception):
    """Raised by parsers; carries the quarantine reason code and an operator-facing detail."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
