"""Third-party platform sample (第三方投诉平台, app-store reviews) as paged API responses.

The two platforms deliberately differ in record shape, time format and paging
style (page number + opaque cursor vs. "next" links), as real APIs do.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime

from feedback.sample.compose import Draft, compose
from feedback.sample.model import SampleItem, dumps_json, to_local
from feedback.sample.people import People, mask_mobile

PLATFORMS = ("heimao", "appstore_reviews")
PAGE_SIZE = {"heimao": 50, "appstore_reviews": 50}
_SHARE = {"heimao": 0.6, "appstore_reviews": 0.4}
_HEIMAO_TYPES = {"function_problem": 0.45, "service_complaint": 0.45, "other": 0.10}
_APPSTORE_TYPES = {"function_problem": 0.4, "service_complaint": 0.1, "feature_request": 0.2,
                   "other": 0.1, "praise": 0.2}
_RATINGS = {"function_problem": (1, 2), "service_complaint": (1, 2), "feature_request": (3, 4),
            "other": (2, 3, 4), "praise": (4, 5, 5)}
_MALFORMED_RATE = 0.02


def _text(rng: random.Random, draft: Draft, contact_rate: float) -> tuple[str, bool]:
    sep = "" if draft.language == "zh" else " "
    text = sep.join(draft.paragraphs)
    with_contact = bool(draft.contact_line) and rng.random() < contact_rate
    if with_contact:
        text += sep + draft.contact_line
    return text, with_contact


def _heimao(rng: random.Random, people: People, local: datetime, idx: int) -> tuple[dict, Draft, list[str]]:
    customer = rng.choice(people.zh)
    draft = compose(rng, people, language="zh", when=local, type_weights=_HEIMAO_TYPES, customer=customer)
    content, _ = _text(rng, draft, 0.2)
    raw_phone = rng.random() < 0.15  # some platforms pass the number through unmasked
    phone = draft.written_mobile if raw_phone else mask_mobile(customer.mobile)
    refund = draft.topic.key in ("refund_slow", "overcharge", "payment_failed")
    appeal = "退款" if refund else rng.choice(("解决问题", "赔偿", "道歉", "退款"))
    record = {
        "complaint_id": f"HM{local:%Y%m%d}{idx * 7 + rng.randrange(7):07d}",
        "title": draft.subject, "content": content, "created_at": local.isoformat(),
        "status": rng.choices(("待处理", "处理中", "已回复"), (0.85, 0.1, 0.05))[0],
        "user": {"nickname": customer.nickname, "phone_masked_by_platform": phone},
        "appeal": appeal, "amount": draft.amount,
    }
    return record, draft, [draft.subject, content, draft.amount] + ([phone] if raw_phone else [])


def _appstore(rng: random.Random, people: People, when: datetime, idx: int) -> tuple[dict, Draft, list[str]]:
    lang = "en" if rng.random() < 0.25 else "zh"
    customer = rng.choice(people.en if lang == "en" else people.zh)
    draft = compose(rng, people, language=lang, when=to_local(when), type_weights=_APPSTORE_TYPES,
                    customer=customer)
    body, _ = _text(rng, draft, 0.05)
    record = {
        "id": str(9_000_000_000 + idx * 13 + rng.randrange(13)),
        "rating": rng.choice(_RATINGS[draft.ftype]),
        "title": draft.subject, "body": body, "author": customer.nickname,
        "updated": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "locale": "en-US" if lang == "en" else "zh-CN",
        "app_version": f"5.{rng.randint(8, 12)}.{rng.randint(0, 9)}",
    }
    return record, draft, [draft.subject, body]


def _cursor(last_id: str, next_page: int) -> str:
    """An opaque cursor as such APIs hand out; clients must pass it back, not parse it."""
    token = json.dumps({"after": last_id, "p": next_page}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")


def _pages(platform: str, records: list[dict]) -> list[dict]:
    size = PAGE_SIZE[platform]
    chunks = [records[i:i + size] for i in range(0, len(records), size)] or [[]]
    pages = []
    for n, chunk in enumerate(chunks, start=1):
        last = n == len(chunks)
        if platform == "heimao":
            pages.append({"data": chunk, "page": n, "page_size": size, "total": len(records),
                          "next_cursor": None if last else _cursor(chunk[-1]["complaint_id"], n + 1)})
        else:
            pages.append({"items": chunk, "links": {"self": f"/reviews?page={n}",
                                                    "next": None if last else f"/reviews?page={n + 1}"}})
    return pages


def build_platforms(rng: random.Random, times: list[datetime],
                    people: People) -> tuple[dict[str, list[dict]], list[SampleItem]]:
    """Records for both platforms, oldest first, cut into pages; every platform has at least one page."""
    n_heimao = round(len(times) * _SHARE["heimao"])
    which = ["heimao"] * n_heimao + ["appstore_reviews"] * (len(times) - n_heimao)
    rng.shuffle(which)
    records: dict[str, list[dict]] = {p: [] for p in PLATFORMS}
    items: list[SampleItem] = []
    for platform, when in zip(which, times, strict=True):
        idx = len(records[platform])
        if platform == "heimao":
            record, draft, rendered = _heimao(rng, people, to_local(when), idx)
            key, text_key = "complaint_id", "content"
        else:
            record, draft, rendered = _appstore(rng, people, when, idx)
            key, text_key = "id", "body"
        ext_id = record[key]
        malformed = None
        if rng.random() < _MALFORMED_RATE:
            del record[text_key]
            rendered = [draft.subject] + rendered[2:]
            malformed = "missing_field"
        records[platform].append(record)
        page_no = idx // PAGE_SIZE[platform] + 1
        items.append(SampleItem(
            channel="platform", source=platform, external_id=ext_id, received_at=when, raw=dumps_json(record),
            file_name=f"{platform}/page-{page_no:04d}.json", expected_type=draft.ftype,
            expected_priority=draft.priority, language=draft.language, is_vip=False, malformed=malformed,
            planted_pii=draft.planted_in(*rendered), hard_negatives=draft.negatives_in(*rendered),
            expected_emotion=draft.emotion, topic=draft.topic.key, variant=platform,
            customer_ref=draft.customer.ref if draft.customer else "",
        ))
    return {p: _pages(p, records[p]) for p in PLATFORMS}, items
