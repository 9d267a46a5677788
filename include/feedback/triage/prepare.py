"""From an intake row to what triage needs: masked texts, normalised contacts, reply references.

Pure functions (no database), so the rules for reading each channel's payload
are tested in isolation and the batch code stays about transactions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from feedback.db.rows import TextRow
from feedback.privacy.masking import Masker, normalize_email, normalize_phone
from feedback.privacy.names import mask_name_in_text

FEEDBACK_NO = re.compile(r"(?<!\d)(20\d{6}-\d{3,})(?!\d)")
SUBMISSION_REF = re.compile(r"(?<![\w-])(wf-[0-9A-Za-z]{6,})(?![\w-])")
CJK = re.compile(r"[\u4e00-\u9fff]")
MAX_DESCRIPTION = 20_000
# A sign-off line ("谢谢！", "盼复。", "Best regards,") and a name signed under it.
SIGN_OFF = re.compile(
    r"^(?:.{0,8}(?:谢谢|多谢|感谢|盼复|此致|敬礼|祝好|顺祝商祺)|thanks|thank you|regards|best|best regards|kind regards|"
    r"cheers|sincerely)[\s!！。.,，~]*$",
    re.IGNORECASE,
)
SIGNED_NAME = re.compile(r"^(?:[\u4e00-\u9fff]{2,4}|[A-Z][a-z]+(?: [A-Z][a-z]+){1,2})$")
QUOTE_HEADER = re.compile(r"^(?:在.{4,60}写道[:：]|On .{4,120} wrote:|-{2,} ?(?:Original Message|原始邮件) ?-{2,})$")


@dataclass
class Prepared:
    intake_id: int
    channel: str
    source: str
    external_id: str
    received_at: datetime
    subject: str | None
    description: str
    language: str
    contacts: dict[str, str] = field(default_factory=dict)      # kind -> normalised raw value
    contact_masked: str | None = None
    customer_name: str | None = None
    order_ref: str | None = None
    expected_by: date | None = None
    category_hint: str | None = None
    tier_hint: str | None = None
    feedback_refs: list[str] = field(default_factory=list)      # feedback numbers mentioned
    intake_refs: list[tuple[str, str]] = field(default_factory=list)  # (channel, external_id) it answers
    findings: int = 0
    outbound: bool = False          # our own reply, read from a Sent folder: a response, not feedback
    message_id: str | None = None   # the mail's Message-ID (the acknowledgement answers it)
    edit_of: str | None = None      # a platform item the customer edited: the original's external id
    rating: float | None = None     # a platform's star rating (1-5): a low one lets a public item move up


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def body_of(payload: dict[str, Any]) -> str:
    """The customer's words, whatever the channel called the field."""
    for key in ("body", "message", "content", "raw_text", "text"):
        if _text(payload.get(key)):
            return str(payload[key])
    return ""


def subject_of(payload: dict[str, Any]) -> str | None:
    return _text(payload.get("subject")) or _text(payload.get("title"))


_RATING = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?\s*(?:stars?|星)?\s*$", re.IGNORECASE)


def rating_of(value: object) -> float | None:
    """The platform's star rating on a 1-5 scale ("4", 4.5, "2/5", "8/10"), or None when it is not one.

    Triage moves a public platform item up one level when the rating is low (taxonomy
    `low_rating`), so a value we cannot read as stars must not count as a low one.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        stars = float(value)
    else:
        m = _RATING.match(str(value))
        if not m:
            return None
        stars = float(m.group(1))
        if m.group(2):
            scale = float(m.group(2))
            if scale <= 0:
                return None
            stars = stars * 5 / scale
    return stars if 0 <= stars <= 5 else None


def _expected(value: object) -> date | None:
    text = _text(value)
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _signature(lines: list[str]) -> str | None:
    if len(lines) < 2 or not SIGNED_NAME.match(lines[-1]) or SIGN_OFF.match(lines[-1]):
        return None
    return lines[-1] if SIGN_OFF.match(lines[-2]) else None


def signed_names(body: str) -> list[str]:
    """Names signed under a sign-off ("…谢谢！\n张三丰"): the writer's own, then those in quoted mail.

    Mail often has no display name in From, yet people sign the text; a reply quotes
    the earlier mail with its signature. Each is personal data all the same.
    """
    own: list[str] = []
    quoted: list[list[str]] = []
    in_quote = False
    for raw in body.splitlines():
        line = raw.strip()
        if QUOTE_HEADER.match(line):
            in_quote = True
            quoted.append([])
            continue
        if line.startswith(">"):
            if not in_quote or not quoted:
                quoted.append([])
            in_quote = True
            line = line.lstrip("> ").strip()
            if line:
                quoted[-1].append(line)
            continue
        if line and not in_quote:
            own.append(line)
    names = [_signature(part) for part in (own, *quoted)]
    return list(dict.fromkeys(n for n in names if n))


def signed_name(body: str) -> str | None:
    """The writer's own signed name, when no contact field gives it (quoted mail excluded)."""
    own = []
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith(">") or QUOTE_HEADER.match(line):
            break
        if line:
            own.append(line)
    return _signature(own)


def prepare(row: TextRow, masker: Masker) -> Prepared:
    """Mask everything free-text and pull out the contacts, for one intake row."""
    payload: dict[str, Any] = row.payload or {}
    raw_subject = subject_of(payload)
    raw_body = body_of(payload)[:MAX_DESCRIPTION]
    subject = masker.mask(raw_subject) if raw_subject else None
    body = masker.mask(raw_body)
    contact = payload.get("contact") or {}

    contacts: dict[str, str] = {}
    raw_phone, raw_email = _text(contact.get("phone")), _text(contact.get("email"))
    phone = normalize_phone(raw_phone) if raw_phone else None
    email = normalize_email(raw_email) if raw_email else None
    # No contact field: customers often write it into the text ("请联系13812345678").
    for finding in (subject.findings if subject else []) + body.findings:
        if not phone and finding.kind in {"mobile", "landline", "intl_phone"}:
            phone, raw_phone = finding.normalized, finding.raw
        if not email and finding.kind == "email":
            email, raw_email = finding.normalized, finding.raw
    if phone:
        contacts["phone"] = phone
    if email:
        contacts["email"] = email
    name = _text(contact.get("name"))
    if name:
        contacts["name"] = name
    else:
        name = signed_name(raw_body)
    masked_contact = None
    if phone:
        masked_contact = masker.mask_contact("phone", raw_phone or phone)
    elif email:
        masked_contact = masker.mask_contact("email", raw_email or email)

    # The customer's own name, signed in the text ("…谢谢！张三丰", "Best, Carol Lopez"), is
    # masked as a name: a full or Chinese name wherever it appears, a one-word Latin name only
    # where it is used as one ("Hi Ann", a signature line), so a sender called "test" keeps the
    # subject "test multipart" (see feedback.privacy.names).
    masked_name = masker.mask_contact("name", name) if name else None
    description, masked_subject = body.text, subject.text if subject else None
    for known in dict.fromkeys([name, *signed_names(raw_body)]):
        if known and len(known) >= 2:
            replacement = masked_name if known == name and masked_name is not None else masker.mask_contact("name", known)
            description = mask_name_in_text(description, known, replacement)
            masked_subject = mask_name_in_text(masked_subject, known, replacement) if masked_subject else None

    text_for_refs = f"{raw_subject or ''}\n{raw_body}"
    intake_refs = [("email", ref) for ref in payload.get("references", []) or [] if isinstance(ref, str)]
    if isinstance(payload.get("in_reply_to"), str):
        intake_refs.insert(0, ("email", payload["in_reply_to"]))
    intake_refs += [("webform", ref) for ref in SUBMISSION_REF.findall(text_for_refs) if ref != row.external_id]
    edit_of = _text(payload.get("update_of"))
    if edit_of:
        intake_refs.insert(0, (row.channel, edit_of))

    order = _text(payload.get("order_no"))
    language = payload.get("locale") or payload.get("language") or ""
    return Prepared(
        intake_id=row.id,
        channel=row.channel,
        source=row.source,
        external_id=row.external_id,
        received_at=row.received_at,
        subject=masked_subject,
        description=description,
        language="zh" if str(language).lower().startswith("zh") or CJK.search(raw_body) else "en",
        contacts=contacts,
        contact_masked=masked_contact,
        customer_name=masked_name,
        order_ref=masker.mask(order).text if order else None,
        expected_by=_expected(payload.get("expected_resolution")),
        category_hint=_text(payload.get("category_hint")),
        tier_hint=_text(payload.get("customer_tier")),
        feedback_refs=FEEDBACK_NO.findall(text_for_refs),
        intake_refs=intake_refs,
        findings=len(body.findings) + (len(subject.findings) if subject else 0),
        outbound=payload.get("direction") == "outbound",
        message_id=_text(payload.get("message_id")),
        edit_of=edit_of,
        rating=rating_of(payload.get("rating")),
    )
