"""POST /api/events: the CRM tells the pipeline what happened to an item (status, resolution, overdue reason).

The HTTP twin of the SQL contract in docs/operating.md ("Feeding status from your own CRM"):
each event becomes one `feedback_event` row, which the SLA monitor applies on its next run
(deadlines met, clocks paused, reopens, and the overdue reasons of breaches). The caller is
the CRM's server, holding a bearer token that is the password of the Airflow connection
`feedback_crm` (read like the web forms' secrets, `verify.connection_password`), so the
token never sits in YAML. Answers name fields, never echo values; log lines carry counts and
status codes only.

Idempotent by `dedup_key`: an event sent again (a retry, an overlapping sync) is answered as a
duplicate and stored once. Events are checked first as a whole: a malformed one refuses the
request (422, nothing stored); an event for a number the register does not know is refused
alone (`unknown_item`) and the others are stored, so one purged item never blocks a sync.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from feedback.errors import ConfigError
from feedback.sla import reasons as overdue_reasons
from feedback.sla.policy import STATUSES
from feedback.sla.policy import overdue_reasons as configured_reasons
from feedback.web.intake import Reject, media_type, read_body, register_work
from feedback.web.runtime import IntakeRuntime
from feedback.web.verify import SecretMissing, Unauthorized, check_token, connection_password

log = logging.getLogger(__name__)

CONNECTION_ID = "feedback_crm"
ACTOR = "crm"
DEDUP_PREFIX = "crm:"          # the SQL contract's keys: crm:<the CRM's own key>
MAX_BODY_BYTES = 1_000_000
MAX_EVENTS = 1000
MAX_DEDUP_KEY = 200
# An event may not be dated ahead of the register's clock by more than this: the monitor applies
# events in order and waits at the first one still in the future, so a far-future date would
# hold back every event after it.
MAX_AHEAD = timedelta(minutes=5)
OLDEST = datetime(2000, 1, 1, tzinfo=UTC)
# What the CRM may say; the pipeline's own events (created, escalated, callbacks…) are not its to write.
EVENT_TYPES = ("acknowledged", "assigned", "responded", "status_changed", "customer_replied", "progress",
               "resolved", "closed", "reopened", "note", overdue_reasons.EVENT_TYPE)
FIELDS = ("feedback_no", "event_type", "occurred_at", "to_status", "reason", "reason_text", "dedup_key")
FEEDBACK_NO = re.compile(r"^[0-9]{8}-[0-9]{3,}$")
DEDUP_KEY = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class CrmEvent:
    feedback_no: str
    event_type: str
    occurred_at: datetime
    to_status: str | None
    reason: str | None
    reason_text: str | None
    dedup_key: str


class Invalid(Exception):
    """Fields that do not fit, as {field path: what is expected}; values are never included."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("invalid")
        self.errors = errors


def _storable(text: str) -> bool:
    """Text PostgreSQL can hold: UTF-8 (no lone surrogate from a JSON escape) without NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _time(value: object, now: datetime) -> datetime | str:
    """The instant, or what is wrong with it (in words that quote nothing)."""
    if not isinstance(value, str) or len(value) > 40:
        return "expected an ISO 8601 date-time with its UTC offset, e.g. 2026-10-14T14:00:00+08:00"
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        return "expected an ISO 8601 date-time with its UTC offset, e.g. 2026-10-14T14:00:00+08:00"
    if at.tzinfo is None or at.utcoffset() is None:
        return "the time needs its UTC offset (e.g. +08:00 or Z)"
    try:
        at = at.astimezone(UTC)
    except (OverflowError, ValueError):
        return "not a time the register can hold"
    if at < OLDEST:
        return "before 2000-01-01"
    if at > now + MAX_AHEAD:
        return f"in the future (more than {int(MAX_AHEAD.total_seconds() // 60)} minutes ahead of the register's clock)"
    return at


def parse_event(doc: object, where: str, now: datetime, codes: tuple[str, ...]) -> tuple[CrmEvent | None, dict[str, str]]:
    """One event of the body, or the problems of each field (keyed `<where>.<field>`)."""
    def at(name: str) -> str:
        return f"{where}.{name}" if where else name

    if not isinstance(doc, dict):
        return None, {where or "(body)": "expected an object with " + ", ".join(FIELDS)}
    errors: dict[str, str] = {}
    extra = [k for k in doc if k not in FIELDS]
    if extra:
        errors[where or "(body)"] = f"{len(extra)} unknown field(s); allowed: " + ", ".join(FIELDS)
    number, kind, key = doc.get("feedback_no"), doc.get("event_type"), doc.get("dedup_key")
    to_status, reason, text = doc.get("to_status"), doc.get("reason"), doc.get("reason_text")
    if not isinstance(number, str) or not FEEDBACK_NO.match(number.strip()):
        errors[at("feedback_no")] = "expected a feedback number such as 20261014-003"
    if kind not in EVENT_TYPES:
        errors[at("event_type")] = "expected one of " + ", ".join(EVENT_TYPES)
    when = _time(doc.get("occurred_at"), now)
    if isinstance(when, str):
        errors[at("occurred_at")] = when
    if not isinstance(key, str) or not key.strip() or len(key.strip()) > MAX_DEDUP_KEY \
            or not DEDUP_KEY.match(key.strip()):
        errors[at("dedup_key")] = f"expected 1-{MAX_DEDUP_KEY} printable ASCII characters without spaces"
    if to_status is not None and to_status not in STATUSES:
        errors[at("to_status")] = "expected one of " + ", ".join(STATUSES)
    elif to_status is None and kind == "status_changed":
        errors[at("to_status")] = "required with event_type status_changed"
    if kind == overdue_reasons.EVENT_TYPE:
        if reason not in codes:
            errors[at("reason")] = "expected one of " + ", ".join(codes) + " (sla_policies.yaml overdue_reasons)"
        if text is not None and (not isinstance(text, str) or len(text) > overdue_reasons.MAX_TEXT
                                 or not _storable(text)):
            errors[at("reason_text")] = f"expected text of at most {overdue_reasons.MAX_TEXT} characters"
    else:
        if reason is not None:
            errors[at("reason")] = f"only with event_type {overdue_reasons.EVENT_TYPE}"
        if text is not None:
            errors[at("reason_text")] = f"only with event_type {overdue_reasons.EVENT_TYPE}"
    if errors:
        return None, errors
    # What the checks above made sure of, said so the type checker knows it too.
    assert isinstance(when, datetime) and isinstance(number, str) and isinstance(key, str) and isinstance(kind, str)
    return CrmEvent(number.strip(), kind, when, to_status, reason if kind == overdue_reasons.EVENT_TYPE else None,
                    (text.strip() or None) if isinstance(text, str) else None, key.strip()), {}


def parse_body(body: bytes, now: datetime, codes: tuple[str, ...]) -> list[CrmEvent]:
    """One event (an object) or many (a list of objects); Invalid names every field that does not fit."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Reject(400, {"error": "malformed", "reason": "the body is not JSON in UTF-8"}) from None
    single = isinstance(doc, dict)
    docs = [doc] if single else doc
    if not isinstance(docs, list) or not docs:
        raise Invalid({"(body)": "expected an event object or a non-empty list of them"})
    if len(docs) > MAX_EVENTS:
        raise Invalid({"(body)": f"at most {MAX_EVENTS} events per request"})
    events, errors = [], {}
    for i, item in enumerate(docs):
        event, problems = parse_event(item, "" if single else f"[{i}]", now, codes)
        errors.update(problems)
        if event is not None:
            events.append(event)
    if errors:
        raise Invalid(errors)
    return events


_INSERT = """
INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, to_status, reason, reason_text,
                                     dedup_key)
SELECT f.id, r.event_type, r.occurred_at, :actor, r.to_status, r.reason, r.reason_text, r.dedup_key
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r (n int, feedback_no text, event_type text,
                                                    occurred_at timestamptz, to_status text, reason text,
                                                    reason_text text, dedup_key text)
JOIN feedback.feedback f ON f.feedback_no = r.feedback_no
ORDER BY r.n
ON CONFLICT (dedup_key) DO NOTHING
RETURNING dedup_key
"""


def store(conn: sa.Connection, events: list[CrmEvent]) -> list[str]:
    """Write the events in the order sent, in one statement; returns each one's outcome.

    Outcomes: `stored`, `duplicate` (its dedup_key was already recorded, now or before) or
    `unknown_item` (no item has that number).
    """
    numbers = sorted({e.feedback_no for e in events})
    known = set(conn.execute(sa.text("SELECT feedback_no FROM feedback.feedback WHERE feedback_no = ANY(:n)"),
                             {"n": numbers}).scalars())
    rows = [{"n": i, "feedback_no": e.feedback_no, "event_type": e.event_type, "occurred_at": e.occurred_at.isoformat(),
             "to_status": e.to_status, "reason": e.reason,
             "reason_text": overdue_reasons.mask_reason_text(e.reason_text), "dedup_key": DEDUP_PREFIX + e.dedup_key}
            for i, e in enumerate(events) if e.feedback_no in known]
    stored = set(conn.execute(sa.text(_INSERT), {"rows": json.dumps(rows, ensure_ascii=False),
                                                 "actor": ACTOR}).scalars()) if rows else set()
    outcomes, seen = [], set()
    for e in events:
        key = DEDUP_PREFIX + e.dedup_key
        if e.feedback_no not in known:
            outcomes.append("unknown_item")
        elif key in stored and key not in seen:
            outcomes.append("stored")
        else:
            outcomes.append("duplicate")
        seen.add(key)
    return outcomes


def _codes() -> tuple[str, ...]:
    try:
        return tuple(r.code for r in configured_reasons())
    except ConfigError as exc:
        log.error("crm events: configuration error: %s", exc)
        raise Reject(503, {"error": "unavailable", "reason": "the SLA configuration is invalid"}) from None


async def _accept(runtime: IntakeRuntime, request: Request) -> JSONResponse:
    try:
        secret = connection_password(CONNECTION_ID, runtime.connection_lookup, "the CRM event API needs it: ")
    except SecretMissing as exc:
        log.error("crm events: %s", exc)
        raise Reject(503, {"error": "unavailable", "reason": str(exc)}) from None
    try:
        check_token(request.headers, secret)
    except Unauthorized as bad:
        raise Reject(401, {"error": "unauthorized", "reason": bad.reason}, {"WWW-Authenticate": "Bearer"}) from None
    if media_type(request) != "application/json":
        raise Reject(415, {"error": "unsupported_media_type", "reason": "send application/json"})
    body = await read_body(request, MAX_BODY_BYTES)
    codes = await run_in_threadpool(_codes)
    try:
        events = parse_body(body, runtime.now(), codes)
    except Invalid as bad:
        raise Reject(422, {"error": "invalid", "fields": bad.errors}) from None

    def write() -> list[str]:
        with runtime.engine().begin() as conn:
            return store(conn, events)

    outcomes = await run_in_threadpool(register_work, write, "crm events")
    counts = {k: outcomes.count(k) for k in ("stored", "duplicate", "unknown_item")}
    log.info("crm events: 202 stored %(stored)s, duplicates %(duplicate)s, unknown items %(unknown_item)s", counts)
    return JSONResponse({**counts, "events": [{"index": i, "outcome": o} for i, o in enumerate(outcomes)]},
                        status_code=202)


def events_router(runtime: IntakeRuntime) -> APIRouter:
    """POST /api/events, bound to the app's runtime (register, clock, connection lookup)."""
    router = APIRouter()

    @router.post("/api/events", status_code=202, include_in_schema=False)
    async def post_events(request: Request) -> Response:
        try:
            return await _accept(runtime, request)
        except Reject as refused:
            log.info("crm events: %d %s", refused.status, refused.body.get("error"))
            return refused.response()

    return router
