"""Turn templates and a customer into one message draft with its ground truth.

A draft is channel-neutral text; the channel generators wrap it in mail, form or
platform shape. Every personal string the draft embeds is listed in ``pii`` and
every look-alike that is not personal data in ``negatives``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from feedback_dev.sample import texts
from feedback_dev.sample.people import (
    Customer,
    People,
    make_id_number,
    make_landline,
    make_mobile,
    write_mobile,
)
from feedback_dev.sample.texts import Topic

TYPE_WEIGHTS = {
    "function_problem": 0.33,
    "service_complaint": 0.27,
    "feature_request": 0.15,
    "other": 0.13,
    "praise": 0.12,
}
_ESCALATABLE = ("function_problem", "service_complaint")
_PLACEHOLDER = re.compile(r"{(\w+)}")
_NEGATIVE_KEYS = ("order", "order18", "amount", "date", "tracking")
_PII_KEYS = ("mobile", "email", "landline", "idno", "courier")


@dataclass
class Draft:
    """A message before it is put into a channel's wire form."""

    topic: Topic
    language: str
    customer: Customer | None  # None: anonymous (匿名用户)
    emotion: str
    priority: str
    subject: str
    paragraphs: list[str]
    contact_line: str = ""
    signature: str = ""
    written_mobile: str = ""
    order_no: str = ""
    amount: str = ""
    mentioned_day: date | None = None
    pii: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)

    @property
    def ftype(self) -> str:
        return self.topic.ftype

    @property
    def is_vip(self) -> bool:
        return bool(self.customer and self.customer.is_vip)

    def body(self, *, greeting: str = "", signoff: str = "") -> str:
        """The free text as a mail body or form message would carry it."""
        parts = [greeting] if greeting else []
        parts += self.paragraphs
        if self.contact_line:
            parts.append(self.contact_line)
        tail = "\n".join(p for p in (signoff, self.signature) if p)
        if tail:
            parts.append(tail)
        return "\n\n".join(parts) + "\n"

    def planted_in(self, *texts_: str) -> tuple[str, ...]:
        """The personal strings that really ended up in the given rendered texts, in stable order."""
        blob = "\n".join(texts_)
        seen: list[str] = []
        for p in self.pii:
            if p and p in blob and p not in seen:
                seen.append(p)
        return tuple(seen)

    def negatives_in(self, *texts_: str) -> tuple[str, ...]:
        blob = "\n".join(texts_)
        return tuple(dict.fromkeys(n for n in self.negatives if n and n in blob))


def _amount(rng: random.Random, lang: str, charset: str) -> str:
    value = rng.randint(9, 4999) + rng.choice((0.0, 0.0, 0.9, 0.99, 0.5))
    if lang == "en" and rng.random() < 0.5:
        return f"${value:,.2f}"
    if lang == "zh" and rng.random() < 0.2:
        return f"{int(value)}元"
    # U+00A5 is in neither GB2312 nor GBK; mails in those charsets use the full-width sign.
    sign = "￥" if charset.startswith("gb") or rng.random() < 0.25 else "¥"
    return f"{sign}{value:,.2f}"


def _date_text(rng: random.Random, day: date, lang: str) -> str:
    if lang == "en":
        return day.strftime("%b %d").replace(" 0", " ") if rng.random() < 0.6 else day.isoformat()
    style = rng.random()
    if style < 0.45:
        return f"{day.month}月{day.day}日"
    if style < 0.75:
        return day.isoformat()
    return f"{day.year}年{day.month}月{day.day}日"


def _agent(rng: random.Random, lang: str) -> str:
    number = rng.randint(1000, 9999)
    if lang == "en":
        return f"{rng.choice(('Wang', 'Li', 'Chen', 'Zhao'))} (#{number})"
    return f"{rng.choice(('小王', '小李', '小陈', '小刘', '小周'))}（工号{number}）"


def _values(rng: random.Random, lang: str, when: datetime, customer: Customer | None,
            charset: str) -> dict[str, str]:
    """Every placeholder value; only those a template uses end up in the text."""
    day = when.date() - timedelta(days=rng.randint(0, 6))
    order_day = day - timedelta(days=rng.randint(0, 10))
    tracking_prefix = rng.choice(("SF", "YT", "JT", "ZT"))
    return {
        "order": f"DD{order_day:%Y%m%d}{rng.randrange(10**6):06d}",
        "order18": f"{order_day:%Y%m%d}{rng.randrange(10**10):010d}",
        "amount": _amount(rng, lang, charset),
        "date": _date_text(rng, day, lang),
        "tracking": f"{tracking_prefix}{rng.randrange(10**12, 10**13)}",
        "product": rng.choice(texts.PRODUCTS[lang]),
        "feature": rng.choice(texts.FEATURES[lang]),
        "agent": _agent(rng, lang),
        "days": str(rng.randint(3, 15)),
        "n": str(rng.randint(12, 80)),
        "company": customer.company if customer else "",
        "mobile": write_mobile(rng, customer.mobile) if customer else "",
        "email": customer.email if customer else "",
        "landline": make_landline(rng),
        "idno": make_id_number(rng),
        "courier": write_mobile(rng, make_mobile(rng)),
        "_day": day.isoformat(),
    }


def _fill(template: str, values: dict[str, str], draft: Draft) -> str:
    """Fill one template and note which personal and look-alike values it used."""
    for key in _PLACEHOLDER.findall(template):
        if key in _NEGATIVE_KEYS:
            draft.negatives.append(values[key])
        elif key in _PII_KEYS:
            draft.pii.append(values[key])
        if key in ("order", "order18") and not draft.order_no:
            draft.order_no = values[key]
        if key == "amount" and not draft.amount:
            draft.amount = values[key]
    return template.format_map(values)


def _pick_topic(rng: random.Random, customer: Customer | None, type_weights: dict[str, float]) -> Topic:
    if customer and customer.company and "service_complaint" in type_weights and rng.random() < 0.6:
        return next(t for t in texts.TOPICS if t.key == "enterprise_batch")
    types = list(type_weights)
    ftype = rng.choices(types, weights=[type_weights[t] for t in types])[0]
    topics = [t for t in texts.TOPICS if t.ftype == ftype and not t.enterprise_only]
    return rng.choices(topics, weights=[t.weight for t in topics])[0]


def compose(rng: random.Random, people: People, *, language: str, when: datetime, charset: str = "utf-8",
            type_weights: dict[str, float] | None = None, anonymous_rate: float = 0.0,
            vip_rate: float = 0.10, customer: Customer | None = None) -> Draft:
    """Write one new piece of feedback, fixing its ground truth as it goes.

    ``when`` is the local (Shanghai) time it is sent, so dates mentioned in the
    text lie before it. ``charset`` keeps the text encodable in legacy mail charsets.
    ``customer`` forces the writer (otherwise one is picked, or none when anonymous).
    """
    lang = language
    if customer is None and rng.random() >= anonymous_rate:
        customer = people.pick(rng, lang, vip_rate=vip_rate)
    topic = _pick_topic(rng, customer, type_weights or TYPE_WEIGHTS)
    values = _values(rng, lang, when, customer, charset)
    draft = Draft(topic=topic, language=lang, customer=customer, emotion="calm", priority=topic.priority,
                  subject="", paragraphs=[], mentioned_day=date.fromisoformat(values["_day"]))
    subjects = topic.zh_subjects if lang == "zh" else topic.en_subjects
    bodies = topic.zh_bodies if lang == "zh" else topic.en_bodies
    draft.subject = _fill(rng.choice(subjects), values, draft)
    draft.subject = draft.subject[:1].upper() + draft.subject[1:]  # "{product} ..." starts lower-case
    first = _fill(rng.choice(bodies), values, draft)
    if customer and customer.is_vip and rng.random() < 0.35:
        first = rng.choice(texts.VIP_NOTES[lang]) + first
    draft.paragraphs.append(first)
    _add_tone(rng, draft, charset)
    if topic.ftype in _ESCALATABLE and rng.random() < 0.03:
        draft.paragraphs.append(rng.choice(texts.ESCALATIONS[lang]))
        draft.priority = "urgent"
        if lang == "zh" and rng.random() < 0.5:
            draft.subject = "【投诉】" + draft.subject
    if customer is not None:
        _add_contact(rng, draft, values, customer)
    return draft


def _add_tone(rng: random.Random, draft: Draft, charset: str) -> None:
    """Angry (~15% overall) or anxious tone: extra sentences and exclamation marks in the subject."""
    if draft.ftype == "praise":
        return
    lang = draft.language
    roll = rng.random()
    if roll < 0.17:
        draft.emotion = "angry"
        count = 1 if rng.random() < 0.6 else 2
        draft.paragraphs.append("".join(rng.sample(texts.ANGRY[lang], count)))
        marks = ("！！！", "!!!", "", "？？") if lang == "zh" else ("!!!", "")
        draft.subject += rng.choice(marks)
        if charset == "utf-8" and rng.random() < 0.3:
            draft.paragraphs[-1] += rng.choice(texts.ANGRY_EMOJI)
    elif roll < 0.29 or (draft.priority == "urgent" and roll < 0.5):
        draft.emotion = "anxious"
        draft.paragraphs.append(rng.choice(texts.ANXIOUS[lang]))


def _add_contact(rng: random.Random, draft: Draft, values: dict[str, str], customer: Customer) -> None:
    lang = draft.language
    draft.written_mobile = values["mobile"]
    draft.pii += [customer.name, customer.email]
    if rng.random() < 0.03:
        draft.paragraphs.append(_fill(rng.choice(texts.ID_LINES[lang]), values, draft))
    if rng.random() < 0.6:
        draft.contact_line = _fill(rng.choice(texts.CONTACT_LINES[lang]), values, draft)
    if rng.random() < 0.75:
        draft.signature = customer.name + (f"\n{customer.company}" if customer.company else "")
    if draft.written_mobile:
        draft.pii.append(draft.written_mobile)


def compose_followup(rng: random.Random, original: Draft, *, when: datetime, charset: str = "utf-8") -> Draft:
    """A customer chasing an earlier item: same customer, type and priority, often angrier."""
    lang = original.language
    customer = original.customer
    values = _values(rng, lang, when, customer, charset)
    if original.mentioned_day is not None:
        values["date"] = _date_text(rng, original.mentioned_day, lang)
    draft = Draft(topic=original.topic, language=lang, customer=customer, emotion="calm",
                  priority=original.priority, subject=original.subject, paragraphs=[],
                  order_no=original.order_no, amount=original.amount, mentioned_day=original.mentioned_day)
    lines = texts.PRAISE_FOLLOWUPS if original.ftype == "praise" else texts.FOLLOWUPS
    draft.paragraphs.append(_fill(rng.choice(lines[lang]), values, draft))
    roll = rng.random()
    if roll < 0.4 and draft.ftype != "praise":
        draft.emotion = "angry"
        draft.paragraphs.append(rng.choice(texts.ANGRY[lang]))
    elif roll < 0.6 and draft.ftype != "praise":
        draft.emotion = "anxious"
        draft.paragraphs.append(rng.choice(texts.ANXIOUS[lang]))
    if customer is not None:
        _add_contact(rng, draft, values, customer)
    return draft
