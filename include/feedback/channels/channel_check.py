"""`feedback channel …`: see a platform configuration's effect before it is deployed.

A data engineer writing a new `platforms:` entry wants to know, without touching the
register or the vendor, which items a real response would become and which records
would be quarantined and why. `replay` runs the entry's `records` and `mapping` on a
recorded response body and reports that; texts are shown masked, as triage would
store them, so the output can be pasted into a ticket. `pull` runs one platform now,
outside Airflow, with its connection from the deployment's lookup (`feedback.connections`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jmespath
from sqlalchemy.engine import Engine

from feedback import connections
from feedback.channels.base import InvalidItem
from feedback.channels.config import Platform
from feedback.channels.rest.ingest import configured, ingest_platform, record_ref
from feedback.errors import ConfigError

CHANNELS = ("platform", "webform")


def find(name: str) -> tuple[str, Platform]:
    """A platform or form provider by name, with its channel; one line naming the known ones otherwise."""
    known: dict[str, tuple[str, Platform]] = {}
    for channel in CHANNELS:
        for platform in configured(channel):
            known.setdefault(platform.name, (channel, platform))
    if name not in known:
        raise ConfigError(f"no platform or form provider {name!r} in channels.yaml (known: {', '.join(known) or 'none'})")
    return known[name]


def listing() -> list[dict[str, Any]]:
    """Every configured platform and provider, and whether its connection is set (anywhere the lookup sees)."""
    return [
        {"channel": channel, "name": p.name, "enabled": p.enabled, "base_url": p.base_url,
         "connection": p.connection_id, "connection_set": connections.value(p.connection_id) is not None}
        for channel in CHANNELS for p in configured(channel)
    ]


def _load_body(path: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{path}: no such file (save the platform's response body as JSON)")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON response body ({exc})") from None


def _next_page(platform: Platform, body: Any) -> str:
    """What the pagination settings find in this body: how the next request would be made."""
    pag = platform.pagination
    if pag.type == "cursor":
        stop = bool(jmespath.search(pag.stop_path, body)) if pag.stop_path else False
        cursor = jmespath.search(pag.cursor_path, body) if pag.cursor_path else None
        if stop or not cursor:
            return "last page (" + ("stop_path is true" if stop else "no cursor") + ")"
        return f"next request: {pag.cursor_param}=<cursor of {len(str(cursor))} characters>"
    if pag.type == "next_link":
        if not pag.next_path:
            return "next link comes from the Link header (not in a recorded body)"
        link = jmespath.search(pag.next_path, body)
        return f"next request: {link}" if link else "last page (no next link)"
    if pag.type in ("page_number", "offset"):
        return f"{pag.type}: the next request asks for the following page until one has fewer records"
    return "no pagination"


def replay(name: str, path: str, limit: int = 20) -> dict[str, Any]:
    """Run one configuration's mapping on a recorded response; items (masked) and rejects with reasons."""
    from feedback.channels.rest.source import load_source
    from feedback.privacy.masking import Masker, load_mask_config

    channel, platform = find(name)
    body = _load_body(path)
    source = load_source(platform, channel=channel)
    try:
        records = source.records_from_body(body)
    except InvalidItem as bad:
        raise ConfigError(f"{name}: `records` ({platform.records}) on {path}: {bad.detail}") from None
    masker = Masker(load_mask_config())
    items, rejected = [], []
    for n, record in enumerate(records):
        try:
            item = source.to_item(record)
        except InvalidItem as bad:
            rejected.append({"record": n, "ref": record_ref(platform, record, n), "reason": bad.reason,
                             "detail": bad.detail})
            continue
        payload = item.payload
        items.append({
            "external_id": item.external_id,
            "received_at": item.received_at.isoformat(),
            "updated_at": payload.get("updated_at"),
            "subject": masker.mask(payload["subject"]).text if payload.get("subject") else None,
            "body": masker.mask(payload.get("body") or "").text[:200],
            "contact": {k: bool(v) for k, v in (payload.get("contact") or {}).items()},
            "rating": payload.get("rating"),
            "extra": payload.get("extra") or {},
        })
    return {"platform": name, "channel": channel, "file": path, "records": len(records), "items": items[:limit],
            "item_count": len(items), "rejected": rejected, "next_page": _next_page(platform, body)}


def render(result: dict[str, Any]) -> str:
    """The replay result for a terminal: one block per item, then the rejects."""
    lines = [f"{result['platform']} ({result['channel']}): {result['records']} record(s) in {result['file']} -> "
             f"{result['item_count']} item(s), {len(result['rejected'])} quarantined",
             f"pagination: {result['next_page']}", ""]
    for item in result["items"]:
        contact = ", ".join(k for k, present in item["contact"].items() if present) or "none"
        lines.append(f"  {item['external_id']}  received {item['received_at']}"
                     + (f"  updated {item['updated_at']}" if item["updated_at"] else ""))
        if item["subject"]:
            lines.append(f"    subject: {item['subject']}")
        lines.append(f"    body:    {item['body']}")
        lines.append(f"    contact: {contact}   rating: {item['rating']}   extra: {json.dumps(item['extra'], ensure_ascii=False)}")
    if result["item_count"] > len(result["items"]):
        lines.append(f"  … {result['item_count'] - len(result['items'])} more (--limit)")
    for bad in result["rejected"]:
        lines.append(f"  QUARANTINE record {bad['record']} ({bad['ref']}): {bad['reason']}: {bad['detail']}")
    return "\n".join(lines)


def pull(engine: Engine, name: str, run_time: datetime, max_pages: int | None = None,
         progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """One platform now, with its connection from the deployment's lookup; the same code path as the DAG."""
    channel, platform = find(name)
    uri = connections.value(platform.connection_id)
    return ingest_platform(engine, platform, uri, run_time, channel=channel, max_pages=max_pages,
                           progress=progress).as_dict()
