"""Reading a sample item's customer text back out of its wire form.

Benchmarks and tests of masking and classification need the free text of each
sample item without going through the channel parsers; one reader keeps them
decoding the same way.
"""

from __future__ import annotations

import email
import email.policy
import json

from feedback_dev.sample.model import SampleItem


def item_texts(item: SampleItem) -> list[str]:
    """The subject or title (where the channel has one) and the body text of a well-formed item."""
    if item.channel == "webform":
        fields = json.loads(item.raw)["fields"]
        return [t for t in (fields.get("subject", ""), fields["message"]) if t]
    if item.channel == "email":
        message = email.message_from_bytes(item.raw, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain", "html"))
        texts = [str(message.get("Subject", ""))]
        try:
            texts.append(body.get_content() if body is not None else "")
        except (LookupError, ValueError):
            pass
        return [t for t in texts if t]
    record = json.loads(item.raw)
    return [t for t in (record.get("title", ""), record.get("content", record.get("body", ""))) if t]
