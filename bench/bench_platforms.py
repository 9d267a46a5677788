"""Platform intake at volume: 100,000 tickets over 1,000 pages from the local Zendesk simulator.

Measured in one run on the same served pages: (1) HTTP alone — every page fetched with a bare
httpx client following `after_cursor`, bodies decoded only to find the next cursor (the floor:
server, loopback, JSON decode); (2) the whole platform intake with the shipped Zendesk entry —
auth, pacing checks, retries armed, JMESPath mapping of every record, edit detection, pages
stored in transactions of `intake.batch_size` records (COPY upsert + cursor) into an empty register,
the next page fetched in a thread meanwhile. The client's own time in
HTTP is reported from its counters, so the split between transport and our work is visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import sqlalchemy as sa

from bench import targets
from feedback.channels.config import load_channels
from feedback.channels.rest.ingest import ingest_platform
from feedback_dev.platform_api import ZendeskSim, zendesk_ticket
from feedback_dev.sample import generate
from feedback_dev.sample.read import item_texts

RUN = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
START = datetime(2026, 10, 1, tzinfo=UTC)


def build_tickets(count: int, seed: int = 5) -> list[dict]:
    """`count` tickets with texts from the sample generator, a minute apart through October."""
    sample = generate(seed=seed, volume=600, month="2026-10")
    texts = [item_texts(i) for i in sample.emails if not i.malformed and not i.not_feedback]
    return [
        zendesk_ticket(n, START + timedelta(seconds=25 * n), texts[n % len(texts)][0] or "反馈",
                       "\n\n".join(texts[n % len(texts)][1:]) or "内容")
        for n in range(1, count + 1)
    ]


def _entry(per_page: int):
    entry = next(p for p in load_channels().platforms if p.name == "zendesk")
    return entry.model_copy(update={
        "request": entry.request.model_copy(update={"params": {**entry.request.params, "per_page": per_page}}),
        "rate_limit": entry.rate_limit.model_copy(update={"requests_per_minute": None}),
        "pagination": entry.pagination.model_copy(update={"max_pages_per_run": 100_000}),
    })


def bare_http(sim: ZendeskSim, per_page: int) -> tuple[float, int, int]:
    """Every page with a bare client: seconds, pages, records."""
    auth = (f"{sim.email}/token", sim.api_token)
    pages = records = 0
    started = time.perf_counter()
    with httpx.Client(base_url=sim.base_url, auth=auth, timeout=60) as client:
        params: dict = {"start_time": int(START.timestamp()) - 60, "per_page": per_page}
        while True:
            body = client.get("/api/v2/incremental/tickets/cursor.json", params=params).json()
            pages += 1
            records += len(body["tickets"])
            if body["end_of_stream"]:
                break
            params = {"cursor": body["after_cursor"], "per_page": per_page}
    return time.perf_counter() - started, pages, records


def measure(fresh: Callable[[], sa.Engine], count: int, say: Callable[[str], None]) -> dict:
    per_page = max(1, count // 1000)
    say(f"  building {count:,} tickets")
    tickets = build_tickets(count)
    sim = ZendeskSim(now=lambda: RUN, account_rate_limit=10**9)
    sim.add(tickets)
    sim.start()
    try:
        say("  HTTP alone (bare httpx, following after_cursor)")
        http_s, http_pages, http_records = bare_http(sim, per_page)
        say(f"    {http_s:.1f} s, {http_pages} pages, {http_records:,} records")
        engine = fresh()
        uri = (f"https://{quote(sim.email + '/token', safe='')}:{sim.api_token}@h"
               f"?base_url={quote(sim.base_url, safe='')}")
        say("  whole platform intake into an empty register")
        started = time.perf_counter()
        summary = ingest_platform(engine, _entry(per_page), uri, RUN,
                                  progress=lambda m: say(f"    {m}") if "page 1," in m or "00," in m else None)
        ours_s = time.perf_counter() - started
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM feedback.intake")).scalar_one()
        engine.dispose()
        say(f"    {ours_s:.1f} s, {summary.pages} pages, {stored:,} rows")
    finally:
        sim.stop()
    return {"count": count, "per_page": per_page, "http_s": http_s, "http_pages": http_pages,
            "http_records": http_records, "ours_s": ours_s, "pages": summary.pages, "stored": stored,
            "client_http_s": summary.http_seconds, "requests": summary.requests}


def markdown(r: dict) -> str:
    per_s = r["stored"] / r["ours_s"] if r["ours_s"] else 0
    return f"""## Platform intake (`python bench/run.py --only platforms`)

{r['count']:,} Zendesk tickets (Chinese texts of 1–30 paragraphs from the sample generator) served by
the local Zendesk simulator (`feedback_dev.platform_api.ZendeskSim`, the incremental cursor export)
in {r['http_pages']:,} pages of {r['per_page']}, read over loopback HTTP.

| what | time | items/s | notes |
|---|---:|---:|---|
| HTTP alone: bare httpx GETs following `after_cursor` | {r['http_s']:.1f} s | {r['http_records'] / r['http_s']:,.0f} | transport + JSON decode, the floor |
| whole platform intake (shipped `zendesk` entry) | {r['ours_s']:.1f} s | {per_s:,.0f} | {r['pages']:,} pages, {r['stored']:,} rows stored, a transaction per 500 records |
| of which the connector's own HTTP time (in the read-ahead thread, beside the rest) | {r['client_http_s']:.1f} s | | {r['requests']:,} requests |

Ours is {r['http_s'] / r['ours_s']:.2f}× the bare transport ({r['ours_s'] / r['http_s']:.1f}× its time): the difference is
mapping every record (field paths looked up directly, other expressions through JMESPath), the
content hash and edit check, and the COPY upsert with its cursor; the next page is fetched while one
is stored. The simulator serves from a thread of the benchmark's own process, so its work shares
the interpreter with ours. A
100,000-ticket backlog is one run of about {r['ours_s'] / 60:.1f} minutes at this rate; the shipped entry
paces Zendesk's 10-requests-a-minute export limit, which makes the vendor, not us, the bound
(1,000 tickets a request: 10,000 a minute).

{targets.line("platform intake at least 0.25× the bare HTTP reads (as for e-mail; the issue asks for it if mapping is the bound)",
              f"{r['http_s'] / r['ours_s']:.2f}×", r['http_s'] / r['ours_s'] >= 0.25)}
"""
