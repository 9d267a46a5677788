"""A judge function for the parse-worker tests that reports what the worker process had imported.

Kept apart from the test modules: a worker imports the module of the function it is given, and a
test module would bring pytest and the database in with it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from feedback.channels.base import IntakeItem


def modules_of_the_worker(raw: bytes, rules: object, **kwargs: object) -> IntakeItem:
    return IntakeItem("email", "support", str(kwargs["source_ref"]), datetime(2026, 10, 12, tzinfo=UTC),
                      {"modules": sorted(sys.modules)})
