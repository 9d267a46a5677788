"""Web-form intake sample: one JSON document per submission of the contact forms.

Contact details sit in their own fields here (unlike mail), the customer picks a
category that is not always right, and a few submissions arrive broken.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from feedback_dev.sample.blobs import make_blob
from feedback_dev.sample.compose import Draft, compose, compose_followup
from feedback_dev.sample.model import SampleItem, dumps_json, to_local, utc_stamp
from feedback_dev.sample.people import People

FORMS = {"zh": "contact_zh", "en": "contact_en"}
LOCALES = {"zh": "zh-CN", "en": "en-US"}
CATEGORIES = {
    "zh": {"function_problem": "功能问题", "service_complaint": "服务投诉", "feature_request": "需求建议",
           "other": "其他问题", "praise": "表扬"},
    "en": {"function_problem": "Technical problem", "service_complaint": "Complaint",
           "feature_request": "Suggestion", "other": "Other", "praise": "Compliment"},
}
_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
USER_AGENTS = (
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/128.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.50",
    f"Mozilla/5.0 (Linux; Android 14; V2309A) {_WEBKIT} Chrome/120.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
)
_BAD_TIMESTAMPS = ("昨天下午3点", "2026-13-45T25:61:00", "N/A", "0000-00-00 00:00:00", "1696300000abc")
_ASAP = {"zh": "尽快", "en": "ASAP"}


@dataclass
class WebSpec:
    """What one submission will be, decided up front so coverage can be guaranteed."""

    language: str = "zh"
    malformed: str | None = None  # invalid_json | missing_field | bad_timestamp
    reply: bool = False
    contact: str = "full"  # full | anonymous (no name) | none (no contact at all)
    attachments: int = 0

    def ordinary(self) -> bool:
        return (self.language == "zh" and self.malformed is None and not self.reply
                and self.contact == "full" and self.attachments == 0)


_REQUIRED: tuple[tuple[str, object, bool], ...] = (
    ("malformed", "invalid_json", False), ("malformed", "missing_field", False),
    ("malformed", "bad_timestamp", False), ("language", "en", False), ("contact", "anonymous", False),
    ("contact", "none", False), ("attachments", 1, False), ("reply", True, True),
)


def plan(rng: random.Random, count: int) -> list[WebSpec]:
    """Draw every submission's shape; with 20+ submissions every variant occurs at least once."""
    specs = []
    for _ in range(count):
        spec = WebSpec(language="en" if rng.random() < 0.15 else "zh")
        bad = rng.random()
        spec.malformed = ("invalid_json" if bad < 0.012 else "missing_field" if bad < 0.024
                          else "bad_timestamp" if bad < 0.035 else None)
        spec.reply = spec.malformed is None and rng.random() < 0.08
        roll = rng.random()
        spec.contact = "none" if roll < 0.02 else "anonymous" if roll < 0.08 else "full"
        spec.attachments = 0 if rng.random() < 0.75 else rng.choice((1, 1, 2))
        specs.append(spec)
    if count >= 20:
        for attr, value, late in _REQUIRED:
            if any(getattr(s, attr) == value for s in specs):
                continue
            free = [i for i in range(count // 2 if late else 0, count) if specs[i].ordinary()]
            if free:
                setattr(specs[rng.choice(free)], attr, value)
    return specs


@dataclass
class _Submitted:
    submission_id: str
    subject: str
    draft: Draft


def _fields(rng: random.Random, spec: WebSpec, draft: Draft, local: datetime,
            original: _Submitted | None) -> dict[str, str]:
    lang = draft.language
    customer = draft.customer
    message = draft.body()
    subject = draft.subject
    if original is not None:
        lead = (f"补充之前的提交（编号{original.submission_id}）：" if lang == "zh"
                else f"Follow-up to my submission {original.submission_id}: ")
        message = lead + message
        prefix = "补充：" if lang == "zh" else "Follow-up: "
        subject = original.subject if original.subject.startswith(prefix) else prefix + original.subject
    name = phone = email = ""
    if customer is not None:
        name = "" if spec.contact == "anonymous" else customer.name
        phone = draft.written_mobile if rng.random() < 0.85 else ""
        email = customer.email if not phone or rng.random() < 0.7 else ""
    category = CATEGORIES[lang][draft.ftype]
    if rng.random() < 0.2:  # customers often pick the wrong box
        category = rng.choice(list(CATEGORIES[lang].values()))
    roll = rng.random()
    if roll < 0.5:
        expected = (local.date() + timedelta(days=rng.randint(1, 7))).isoformat()
    else:
        expected = _ASAP[lang] if roll < 0.6 else ""
    return {"name": name, "phone": phone, "email": email, "category": category, "subject": subject,
            "message": message, "order_no": draft.order_no, "expected_resolution": expected}


def _submission_ids(times: list[datetime]) -> list[str]:
    """``wf-<local YYYYMMDDHHMM><4-digit counter within that minute>``: unique and time-ordered."""
    ids, counters = [], {}
    for when in times:
        minute = f"{to_local(when):%Y%m%d%H%M}"
        counters[minute] = counters.get(minute, 0) + 1
        ids.append(f"wf-{minute}{counters[minute]:04d}")
    return ids


def build_webforms(rng: random.Random, times: list[datetime], people: People) -> list[SampleItem]:
    """Render one form submission per arrival time (times sorted, UTC)."""
    specs = plan(rng, len(times))
    earlier: dict[str, list[_Submitted]] = {"zh": [], "en": []}
    items = []
    for spec, when, sub_id in zip(specs, times, _submission_ids(times), strict=True):
        local = to_local(when)
        original = None
        if spec.reply and earlier[spec.language]:
            original = rng.choice(earlier[spec.language][-200:])
        if original is not None:
            draft = compose_followup(rng, original.draft, when=local)
        else:
            draft = compose(rng, people, language=spec.language, when=local,
                            anonymous_rate=1.0 if spec.contact == "none" else 0.0)
        if spec.contact == "anonymous":
            draft.signature = ""
        fields = _fields(rng, spec, draft, local, original)
        attachments = []
        for _ in range(spec.attachments):
            blob = make_blob(rng)
            attachments.append({"filename": blob.filename, "content_type": blob.content_type,
                                "size": len(blob.data), "sha256": hashlib.sha256(blob.data).hexdigest()})
        doc = {
            "submission_id": sub_id, "form": FORMS[spec.language], "submitted_at": local.isoformat(),
            "locale": LOCALES[spec.language], "fields": fields, "attachments": attachments,
            "client": {"ip": f"{rng.choice(('203.0.113', '198.51.100'))}.{rng.randint(1, 254)}",
                       "user_agent": rng.choice(USER_AGENTS)},
        }
        if spec.malformed == "missing_field":
            del fields["message"]
        elif spec.malformed == "bad_timestamp":
            doc["submitted_at"] = rng.choice(_BAD_TIMESTAMPS)
        raw = dumps_json(doc)
        if spec.malformed == "invalid_json":
            text = raw.decode("utf-8")
            raw = text[: len(text) - rng.randint(3, 60)].encode("utf-8")  # cut after "fields": PII survives
        if spec.malformed is None:  # follow-ups only refer to submissions that were accepted
            earlier[spec.language].append(_Submitted(sub_id, fields["subject"], draft))
        rendered = [v for v in fields.values() if v]
        items.append(SampleItem(
            channel="webform", source=FORMS[spec.language], external_id=sub_id, received_at=when, raw=raw,
            file_name=f"{utc_stamp(when)}-{sub_id}.json", expected_type=draft.ftype,
            expected_priority=draft.priority, language=spec.language, is_vip=draft.is_vip,
            malformed=spec.malformed, reply_to_external_id=original.submission_id if original else None,
            planted_pii=draft.planted_in(*rendered), hard_negatives=draft.negatives_in(*rendered),
            expected_emotion=draft.emotion, topic=draft.topic.key,
            variant=f"{FORMS[spec.language]}:{spec.contact}",
            customer_ref=draft.customer.ref if draft.customer else "",
        ))
    return items
