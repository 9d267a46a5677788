"""Batch classification for operators: `feedback classify --jsonl FILE|-`.

A team previews a taxonomy change on an export of last month: one text per input line
(a JSON object with "text" and optional "subject", "channel", "rating", "vip", or a plain
line of text), one JSON decision per output line, in the same order, each with its line
number, the masked text and the explanation. Texts are masked before they are classified
and before anything is written, so an export with contacts in it prints none of them.
A line that cannot be read gives one `{"line": n, "error": "..."}` line and the batch goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO, TypedDict

from feedback.privacy.masking import Masker
from feedback.triage.classify import Classifier

CHANNELS = ("email", "webform", "platform")
PROGRESS_EVERY = 1000


@dataclass
class BatchSummary:
    decided: int = 0
    errors: int = 0


class _Item(TypedDict):
    text: str
    subject: str | None
    channel: str
    rating: int | float | None
    vip: bool


def _item(line: str, lineno: int, default_channel: str) -> _Item:
    """The fields of one input line; ValueError with a short reason when unusable."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError('the object has no "text" string')
        channel = obj.get("channel") or default_channel
        if channel not in CHANNELS:
            raise ValueError(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
        rating = obj.get("rating")
        if rating is not None and not isinstance(rating, int | float):
            raise ValueError('"rating" must be a number')
        subject = obj.get("subject")
        return {"text": text, "subject": subject if isinstance(subject, str) else None, "channel": channel,
                "rating": rating, "vip": bool(obj.get("vip"))}
    return {"text": stripped, "subject": None, "channel": default_channel, "rating": None, "vip": False}


def classify_lines(
    lines: Iterable[str],
    out: TextIO,
    classifier: Classifier,
    masker: Masker,
    *,
    channel: str = "webform",
    vip: bool = False,
    progress: TextIO | None = None,
) -> BatchSummary:
    """Write one JSON decision per non-empty input line to `out`; progress every 1,000 lines to `progress`."""
    summary = BatchSummary()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = _item(line, lineno, channel)
        except ValueError as exc:
            summary.errors += 1
            out.write(json.dumps({"line": lineno, "error": str(exc)}, ensure_ascii=False) + "\n")
            continue
        text = masker.mask(item["text"]).text
        subject = masker.mask(item["subject"]).text if item["subject"] else None
        decision = classifier.decide(text, subject=subject, channel=item["channel"],
                                     customer_tier="vip" if (vip or item["vip"]) else "normal",
                                     rating=item["rating"])
        out.write(json.dumps({"line": lineno, **decision.as_dict(), "masked_text": text},
                             ensure_ascii=False) + "\n")
        summary.decided += 1
        if progress is not None and summary.decided % PROGRESS_EVERY == 0:
            progress.write(f"  {summary.decided:,} decided ({summary.errors} unreadable lines)\n")
            progress.flush()
    return summary
