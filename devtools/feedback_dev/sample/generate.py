"""Orchestration: one seeded sample over all channels, written to disk with a manifest.

Same (seed, volume, month) gives byte-identical output: all randomness comes from
``random.Random`` instances and per-instance Faker seeds, and nothing reads the clock.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from feedback_dev.sample.email_gen import MAILBOXES, build_emails
from feedback_dev.sample.model import (
    CHANNELS,
    EMOTIONS,
    FEEDBACK_TYPES,
    LANGUAGES,
    MALFORMED_REASONS,
    PRIORITIES,
    SampleItem,
    dumps_json,
)
from feedback_dev.sample.people import People
from feedback_dev.sample.platform_gen import PLATFORMS, build_platforms
from feedback_dev.sample.timeline import parse_month, timestamps
from feedback_dev.sample.webform_gen import build_webforms

CHANNEL_SHARES = {"email": 5, "webform": 3, "platform": 2}  # tenths of the volume
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class SampleSet:
    """A generated sample: items per channel plus the platform pages they were served in."""

    seed: int
    volume: int
    month: str
    emails: list[SampleItem]
    webforms: list[SampleItem]
    platform_pages: dict[str, list[dict]]
    platform_items: list[SampleItem]

    def all_items(self) -> list[SampleItem]:
        """Every item in arrival order (ties broken by channel and id, so the order is stable)."""
        items = self.emails + self.webforms + self.platform_items
        return sorted(items, key=lambda it: (it.received_at, it.channel, it.external_id))


def _rng(seed: int, part: str) -> random.Random:
    # One stream per part: changing how mails are drawn does not reshuffle web forms.
    return random.Random(f"feedback.sample:{seed}:{part}")


def _quotas(volume: int) -> dict[str, int]:
    """Exact channel counts by largest remainder, so they always sum to ``volume``."""
    total = sum(CHANNEL_SHARES.values())
    counts = {c: volume * s // total for c, s in CHANNEL_SHARES.items()}
    by_remainder = sorted(CHANNEL_SHARES, key=lambda c: -(volume * CHANNEL_SHARES[c] % total))
    for channel in by_remainder[: volume - sum(counts.values())]:
        counts[channel] += 1
    return counts


def generate(seed: int = 42, volume: int = 300, month: str = "2026-10") -> SampleSet:
    """Generate ``volume`` items (over all channels) arriving during ``month`` (``YYYY-MM``).

    Channel split is exact (50/30/20 by largest remainder); types, priorities, tones,
    replies and malformed items are drawn at roughly the documented rates, and every
    variant appears at least once from about 60 mails / 20 forms upward.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if isinstance(volume, bool) or not isinstance(volume, int) or volume < 0:
        raise ValueError(f"volume must be a non-negative int, got {volume!r}")
    parse_month(month)
    times = timestamps(_rng(seed, "time"), month, volume)
    quotas = _quotas(volume)
    lanes = [c for c in CHANNELS for _ in range(quotas[c])]
    _rng(seed, "split").shuffle(lanes)
    by_channel = {c: [t for t, lane in zip(times, lanes, strict=True) if lane == c] for c in CHANNELS}
    people = People(seed, volume)
    emails = build_emails(_rng(seed, "email"), by_channel["email"], people)
    webforms = build_webforms(_rng(seed, "webform"), by_channel["webform"], people)
    pages, platform_items = build_platforms(_rng(seed, "platform"), by_channel["platform"], people)
    return SampleSet(seed=seed, volume=volume, month=month, emails=emails, webforms=webforms,
                     platform_pages=pages, platform_items=platform_items)


def item_path(item: SampleItem) -> str:
    """Where an item's bytes live under the output folder (POSIX, relative)."""
    if item.channel == "email":
        return f"mail/{item.source}/new/{item.file_name}"
    if item.channel == "webform":
        return f"webforms/{item.file_name}"
    return f"platforms/{item.file_name}"


def _counts(items: list[SampleItem], attr: str, keys: tuple[str, ...]) -> dict[str, int]:
    counter = Counter(getattr(it, attr) for it in items)
    return {k: counter.get(k, 0) for k in keys}


def build_manifest(sample: SampleSet) -> dict:
    """Counts and per-item ground truth, with no personal data and no message text."""
    items = sample.all_items()
    return {
        "generator": "feedback.sample",
        "manifest_version": MANIFEST_VERSION,
        "seed": sample.seed,
        "volume": sample.volume,
        "month": sample.month,
        "counts": {
            "total": len(items),
            "channel": _counts(items, "channel", CHANNELS),
            "source": dict(sorted(Counter(it.source for it in items).items())),
            "type": _counts(items, "expected_type", FEEDBACK_TYPES),
            "priority": _counts(items, "expected_priority", PRIORITIES),
            "language": _counts(items, "language", LANGUAGES),
            "emotion": _counts(items, "expected_emotion", EMOTIONS),
            "malformed": _counts(items, "malformed", MALFORMED_REASONS),
            "not_feedback": sum(it.not_feedback for it in items),
            "vip": sum(it.is_vip for it in items),
            "replies": sum(it.reply_to_external_id is not None for it in items),
        },
        "files": {
            "mail": len(sample.emails),
            "webforms": len(sample.webforms),
            "platform_pages": {p: len(sample.platform_pages.get(p, [])) for p in PLATFORMS},
        },
        "items": [
            {
                "channel": it.channel,
                "source": it.source,
                "external_id": it.external_id,
                "received_at": it.received_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "path": item_path(it),
                "expected_type": it.expected_type,
                "expected_priority": it.expected_priority,
                "expected_emotion": it.expected_emotion,
                "topic": it.topic,
                "variant": it.variant,
                "language": it.language,
                "is_vip": it.is_vip,
                "malformed": it.malformed,
                "not_feedback": it.not_feedback,
                "reply_to_external_id": it.reply_to_external_id,
            }
            for it in items
        ],
    }


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_sample(sample: SampleSet, out_dir: Path) -> dict:
    """Write the sample as the intake adapters will find it; return (and write) the manifest.

    Layout: ``mail/<mailbox>/{new,cur,tmp}/`` (Maildir), ``webforms/*.json``,
    ``platforms/<platform>/page-NNNN.json``, ``manifest.json``. Existing files of the
    same name are overwritten, others are left alone, so rewriting is idempotent.
    """
    out = Path(out_dir)
    for mailbox in MAILBOXES:
        for sub in ("new", "cur", "tmp"):
            (out / "mail" / mailbox / sub).mkdir(parents=True, exist_ok=True)
    (out / "webforms").mkdir(parents=True, exist_ok=True)
    for item in sample.emails + sample.webforms:
        _write(out / item_path(item), item.raw)
    for platform, pages in sample.platform_pages.items():
        for n, page in enumerate(pages, start=1):
            _write(out / "platforms" / platform / f"page-{n:04d}.json", dumps_json(page, indent=2) + b"\n")
    manifest = build_manifest(sample)
    _write(out / "manifest.json", dumps_json(manifest, indent=2) + b"\n")
    return manifest
