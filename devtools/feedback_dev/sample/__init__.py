"""Seeded, deterministic sample feedback for the demo, the tests and the benchmarks.

``generate(seed, volume, month)`` returns a :class:`SampleSet` of e-mails (RFC 822),
web-form submissions (JSON) and third-party platform API pages, each item carrying
its wire bytes and the ground truth (type, priority, planted personal data, ...).
``write_sample`` lays them out on disk the way the intake adapters read them.
"""

from feedback_dev.sample.generate import SampleSet, build_manifest, generate, item_path, write_sample
from feedback_dev.sample.model import (
    CHANNELS,
    FEEDBACK_TYPES,
    MALFORMED_REASONS,
    PRIORITIES,
    SampleItem,
)
from feedback_dev.sample.people import ENTERPRISE_CUSTOMERS, VIP_CUSTOMERS

__all__ = [
    "CHANNELS",
    "ENTERPRISE_CUSTOMERS",
    "FEEDBACK_TYPES",
    "MALFORMED_REASONS",
    "PRIORITIES",
    "VIP_CUSTOMERS",
    "SampleItem",
    "SampleSet",
    "build_manifest",
    "generate",
    "item_path",
    "write_sample",
]
