"""The shape of one generated item and the vocabularies shared by every generator.

Kept apart from the generators so the channel modules and the orchestration can all
import it without import cycles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

CHANNELS = ("email", "webform", "platform")
FEEDBACK_TYPES = ("function_problem", "service_complaint", "feature_request", "other", "praise")
PRIORITIES = ("urgent", "high", "medium", "low")
LANGUAGES = ("zh", "en")
EMOTIONS = ("angry", "anxious", "calm")
MALFORMED_REASONS = (
    "invalid_json",
    "missing_field",
    "bad_charset",
    "empty_body",
    "truncated_mime",
    "bad_timestamp",
)

# China has had no daylight-saving time since 1991: a fixed offset is exact and needs no tzdata.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


@dataclass(frozen=True)
class SampleItem:
    """One piece of feedback as it arrives on the wire, plus the ground truth about it.

    ``raw`` is what an intake adapter would really receive; everything after
    ``file_name`` is the answer key that tests and benchmarks compare against.
    """

    channel: str
    source: str
    external_id: str
    received_at: datetime
    raw: bytes
    file_name: str
    expected_type: str
    expected_priority: str
    language: str
    is_vip: bool
    malformed: str | None = None
    reply_to_external_id: str | None = None
    planted_pii: tuple[str, ...] = ()
    not_feedback: bool = False
    hard_negatives: tuple[str, ...] = ()
    expected_emotion: str = "calm"
    topic: str = ""
    variant: str = ""
    customer_ref: str = ""


def dumps_json(obj: Any, *, indent: int | None = None) -> bytes:
    """Serialise the way every generated JSON file is written, so output is byte-stable."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=indent).encode("utf-8")


def to_local(dt: datetime) -> datetime:
    """Express a UTC instant in Shanghai time, the zone customers and forms use."""
    return dt.astimezone(SHANGHAI)


def utc_stamp(dt: datetime) -> str:
    """Compact UTC stamp used in file names: sortable and free of ':' for any filesystem."""
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
