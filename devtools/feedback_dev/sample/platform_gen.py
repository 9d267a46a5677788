"""Third-party platform sample as the two shipped platforms' API responses.

`zendesk`: the company's complaint desk (tickets forwarded from 黑猫投诉 and the hotline), served
by Zendesk's cursor-based incremental ticket export; `trustpilot`: public reviews (app and site),
served by Trustpilot's private reviews API with page numbers and "next-page" links. Record
shapes, time formats and paging follow those vendors' documented APIs, so the demo pulls them
through the same declarative configurations a deployment uses (`include/config/channels.yaml`).
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime

from feedback_dev.sample.compose import Draft, compose
from feedback_dev.sample.model import SampleItem, dumps_json, to_local
from feedback_dev.sample.people import People, mask_mobile

PLATFORMS = ("zendesk", "trustpilot")
PAGE_SIZE = {"zendesk": 50, "trustpilot": 50}
_SHARE = {"zendesk": 0.6, "trustpilot": 0.4}
_ZENDESK_TYPES = {"function_problem": 0.45, "service_complaint": 0.45, "other": 0.10}
_REVIEW_TYPES = {"function_problem": 0.4, "service_complaint": 0.1, "feature_request": 0.2,
                 "other": 0.1, "praise": 0.2}
_RATINGS = {"function_problem": (1, 2), "service_complaint": (1, 2), "feature_request": (3, 4),
            "other": (2, 3, 4), "praise": (4, 5, 5)}
_MALFORMED_RATE = 0.02
_EXTERNAL_ID = {"zendesk": "id", "trustpilot": "id"}
_TEXT_KEY = {"zendesk": "description", "trustpilot": "text"}


def _utc_z(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(rng: random.Random, draft: Draft, contact_rate: float) -> tuple[str, bool]:
    sep = "" if draft.language == "zh" else " "
    text = sep.join(draft.paragraphs)
    with_contact = bool(draft.contact_line) and rng.random() < contact_rate
    if with_contact:
        text += sep + draft.contact_line
    return text, with_contact


def _zendesk(rng: random.Random, people: People, when: datetime, idx: int) -> tuple[dict, Draft, list[str]]:
    customer = rng.choice(people.zh)
    draft = compose(rng, people, language="zh", when=to_local(when), type_weights=_ZENDESK_TYPES,
                    customer=customer)
    content, _ = _text(rng, draft, 0.2)
    ticket_id = 35_000 + idx * 3 + rng.randrange(3)
    via = rng.choices(("web", "api", "voice"), (0.5, 0.35, 0.15))[0]
    record = {
        "id": ticket_id, "url": f"https://example.zendesk.com/api/v2/tickets/{ticket_id}.json",
        "external_id": None, "type": "incident" if draft.ftype != "feature_request" else "question",
        "subject": draft.subject, "raw_subject": draft.subject, "description": content,
        "priority": rng.choice(("low", "normal", "normal", "high")), "status": "new",
        "requester_id": 360_000_000 + idx, "submitter_id": 360_000_000 + idx, "assignee_id": None,
        "tags": ["黑猫投诉"] if via == "api" else [], "via": {"channel": via},
        "custom_fields": [{"id": 360001, "value": mask_mobile(customer.mobile)}],
        "created_at": _utc_z(when), "updated_at": _utc_z(when), "generated_timestamp": int(when.timestamp()),
    }
    return record, draft, [draft.subject, content]


def _trustpilot(rng: random.Random, people: People, when: datetime, idx: int) -> tuple[dict, Draft, list[str]]:
    lang = "en" if rng.random() < 0.25 else "zh"
    customer = rng.choice(people.en if lang == "en" else people.zh)
    draft = compose(rng, people, language=lang, when=to_local(when), type_weights=_REVIEW_TYPES,
                    customer=customer)
    body, _ = _text(rng, draft, 0.05)
    record = {
        "id": f"{0x65a0_0000_0000_0000 + idx * 7919 + rng.randrange(7919):x}"[:24],
        "consumer": {"id": f"{0x5d00_0000 + idx:x}", "displayName": customer.nickname,
                     "displayLocation": rng.choice(("Shanghai, CN", "Beijing, CN", "London, GB"))},
        "businessUnit": {"id": "46d6a890000064000500e0c3", "identifyingName": "example.com",
                         "displayName": "Example"},
        "stars": rng.choice(_RATINGS[draft.ftype]), "title": draft.subject, "text": body,
        "language": "en" if lang == "en" else "zh", "location": None, "status": "active",
        "referenceId": None, "companyReply": None,
        "createdAt": _utc_z(when), "updatedAt": None,
    }
    return record, draft, [draft.subject, body]


def _cursor(last_id: str, next_page: int) -> str:
    """An opaque cursor as such APIs hand out; clients must pass it back, not parse it."""
    token = json.dumps({"after": last_id, "p": next_page}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")


def _pages(platform: str, records: list[dict]) -> list[dict]:
    """Response bodies as each API returns them (the demo serves the records through a simulator)."""
    size = PAGE_SIZE[platform]
    chunks = [records[i:i + size] for i in range(0, len(records), size)] or [[]]
    pages = []
    for n, chunk in enumerate(chunks, start=1):
        last = n == len(chunks)
        if platform == "zendesk":
            cursor = _cursor(str(chunk[-1]["id"]) if chunk else "", n + 1)
            pages.append({"tickets": chunk, "after_cursor": cursor, "before_cursor": None,
                          "after_url": "https://example.zendesk.com/api/v2/incremental/tickets/cursor.json"
                                       f"?cursor={cursor}",
                          "before_url": None, "end_of_stream": last})
        else:
            base = "https://api.trustpilot.com/v1/private/business-units/46d6a890000064000500e0c3/reviews"
            links = [{"href": f"{base}?page={n}&perPage={size}", "method": "GET", "rel": "self"}]
            if not last:
                links.append({"href": f"{base}?page={n + 1}&perPage={size}", "method": "GET", "rel": "next-page"})
            pages.append({"reviews": chunk, "links": links})
    return pages


def build_platforms(rng: random.Random, times: list[datetime],
                    people: People) -> tuple[dict[str, list[dict]], list[SampleItem]]:
    """Records for both platforms, oldest first, cut into pages; every platform has at least one page."""
    n_zendesk = round(len(times) * _SHARE["zendesk"])
    which = ["zendesk"] * n_zendesk + ["trustpilot"] * (len(times) - n_zendesk)
    rng.shuffle(which)
    records: dict[str, list[dict]] = {p: [] for p in PLATFORMS}
    items: list[SampleItem] = []
    for platform, when in zip(which, times, strict=True):
        idx = len(records[platform])
        build = _zendesk if platform == "zendesk" else _trustpilot
        record, draft, rendered = build(rng, people, when, idx)
        key, text_key = _EXTERNAL_ID[platform], _TEXT_KEY[platform]
        ext_id = f"{platform}:{record[key]}"
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
