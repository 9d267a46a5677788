"""Web-form submissions that land as JSON files in a drop folder.

Form providers commonly export submissions as files, and the demo delivers its
sample submissions this way. Files are taken in name order (writers name them
`<timestamp>-<submission id>.json`); the cursor is the last file name stored, so
a run after downtime resumes exactly where the last commit ended, in bounded
batches. A file that is not a valid submission is parked in quarantine with the
reason and the batch goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from feedback.channels.base import IntakeItem, InvalidItem, Rejected
from feedback.channels.config import WebForm, load_channels
from feedback.channels.cursor import read_cursor
from feedback.channels.store import StoreResult, store_batch
from feedback.paths import local_dir
from feedback.settings import load_settings

CHANNEL = "webform"
log = logging.getLogger(__name__)
# A submitted_at outside [2000, arrival + 1 day] is a wrong clock in the form backend, not a time.
_OLDEST = datetime(2000, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class DropSummary:
    files: int
    batches: int
    inserted: int
    duplicates: int
    quarantined: int
    cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def pending_files(folder: Path, after: str | None) -> list[Path]:
    """Submission files in name order, after the cursor."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.is_file() and (after is None or p.name > after))


def _text(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidItem("bad_field", f"field {key!r} must be text, got {type(value).__name__}")
    return value.strip() or None


def parse_submission(raw: bytes, forms: dict[str, WebForm], default_max_bytes: int = 65_536, *,
                     arrived_at: datetime | None = None) -> IntakeItem:
    """Validate one submission and normalise it to an IntakeItem; InvalidItem says why not.

    `received_at` is the form system's `submitted_at` (its creation time). When the file's
    arrival is known (`arrived_at`) and `submitted_at` cannot be a real time (before 2000,
    or more than a day after the file arrived), the arrival is used instead and the value
    is kept in the payload, flagged: a wrong clock must not number the item or start deadlines.
    """
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidItem("bad_encoding", f"not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InvalidItem("invalid_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(doc, dict):
        raise InvalidItem("invalid_json", f"expected a JSON object, got {type(doc).__name__}")
    form_name = doc.get("form")
    form = forms.get(form_name) if isinstance(form_name, str) else None
    if form is None:
        raise InvalidItem("unknown_form", f"form {form_name!r} is not configured in channels.yaml")
    if len(raw) > (form.max_bytes or default_max_bytes):
        raise InvalidItem("oversize", f"{len(raw)} bytes, limit {form.max_bytes} for form {form.name}")
    submission_id = doc.get("submission_id")
    if not isinstance(submission_id, str) or not submission_id.strip():
        raise InvalidItem("missing_field", "submission_id is missing")
    fields = doc.get("fields")
    if not isinstance(fields, dict):
        raise InvalidItem("missing_field", "fields is missing or not an object")
    for name in form.required_fields:
        if not _text(fields, name):
            raise InvalidItem("missing_field", f"required field {name!r} is empty")
    try:
        submitted = datetime.fromisoformat(str(doc.get("submitted_at")))
    except ValueError:
        raise InvalidItem("bad_timestamp", "submitted_at is not an ISO 8601 date-time") from None
    if submitted.tzinfo is None:
        raise InvalidItem("bad_timestamp", "submitted_at has no time zone offset")
    attachments = doc.get("attachments") or []
    if not isinstance(attachments, list):
        raise InvalidItem("bad_field", "attachments must be a list")
    payload = {
        "form": form.name,
        "locale": doc.get("locale") or form.locale,
        "subject": _text(fields, "subject"),
        "body": _text(fields, "message"),
        "contact": {k: _text(fields, k) for k in ("name", "phone", "email")},
        "category_hint": _text(fields, "category"),
        "order_no": _text(fields, "order_no"),
        "expected_resolution": _text(fields, "expected_resolution"),
        "attachments": [
            {k: a.get(k) for k in ("filename", "content_type", "size", "sha256")}
            for a in attachments
            if isinstance(a, dict)
        ],
    }
    received = submitted
    if arrived_at is not None and not _OLDEST <= submitted <= arrived_at + _FUTURE_SLACK:
        received = arrived_at
        payload.update(submitted_at=submitted.isoformat(), submitted_at_flag="implausible")
    return IntakeItem(CHANNEL, form.name, submission_id.strip(), received, payload)


def _batches(files: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(files), size):
        yield files[start : start + size]


def ingest_drop(
    engine: Engine,
    drop_name: str,
    folder: Path,
    forms: dict[str, WebForm],
    run_time: datetime,
    batch_size: int = 500,
) -> DropSummary:
    """Move every new file of one drop folder into intake, committing per batch."""
    source = f"drop:{drop_name}"
    cursor = (read_cursor(engine, CHANNEL, source) or {}).get("last_file")
    files = pending_files(folder, cursor)
    totals = StoreResult(0, 0, 0)
    batches = 0
    for batch in _batches(files, batch_size):
        items: list[IntakeItem] = []
        rejected: list[Rejected] = []
        for path in batch:
            raw = path.read_bytes()
            arrived = min(datetime.fromtimestamp(path.stat().st_mtime, UTC), run_time)
            try:
                items.append(parse_submission(raw, forms, arrived_at=arrived))
            except InvalidItem as bad:
                rejected.append(Rejected(CHANNEL, source, path.name, bad.reason, bad.detail, raw))
        cursor = batch[-1].name
        result = store_batch(engine, CHANNEL, source, items, rejected, {"last_file": cursor}, run_time)
        totals = StoreResult(*(a + b for a, b in zip(totals.as_dict().values(), result.as_dict().values(), strict=True)))
        batches += 1
        log.info("drop %s: batch %d stored %s (cursor %s)", drop_name, batches, result.as_dict(), cursor)
    return DropSummary(len(files), batches, totals.inserted, totals.duplicates, totals.quarantined, cursor)


def ingest_configured_drops(engine: Engine, run_time: datetime) -> dict[str, Any]:
    """Every drop folder in channels.yaml, with the configured batch size; counts per drop."""

    channels = load_channels()
    batch_size = load_settings().intake.batch_size
    forms = {f.name: f for f in channels.webforms.forms}
    return {
        drop.name: ingest_drop(
            engine, drop.name, drop.resolved(local_dir()), forms, run_time, batch_size
        ).as_dict()
        for drop in channels.webforms.drops
    }
