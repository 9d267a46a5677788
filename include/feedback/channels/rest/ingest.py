"""Third-party platforms and form providers' APIs into intake: page by page, the cursor with the rows.

A platform is one declarative entry of `channels.yaml` (see `rest.spec`); this module
runs it. Pages are stored in transactions of about `intake.batch_size` records (a slow,
paced vendor's pages one by one as they come): their items, their rejects (quarantined with
the reason) and the position that resumes after the last of them (`store_batch`). So an
outage in the middle of a traversal loses nothing: what was read is stored before the task
fails after its retries with one clear line, and the next run continues from there.

Platforms re-send items: overlapping `since` windows, pages that shift while we read,
tickets whose status changed. Those are duplicates and change nothing. An item whose
*customer-written* content changed (`content_key`: subject, text, rating, contact) is
an edit: it is stored once more as a revision (`<id>#rev-<key>`, `update_of` pointing
at the original), which triage turns into an event on the registered item, never a
second item.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import jmespath
import jmespath.exceptions
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback import connections
from feedback.channels.base import IntakeItem, InvalidItem, Rejected
from feedback.channels.config import Platform, load_channels
from feedback.channels.cursor import read_cursor
from feedback.channels.store import store_batch
from feedback.connections import ConnectionValue, parse
from feedback.db.locks import source_lock
from feedback.errors import ConfigError

if TYPE_CHECKING:
    from feedback.channels.rest.client import RestClient
    from feedback.channels.rest.source import Page, RestSource

log = logging.getLogger(__name__)
REVISION = "#rev-"


@dataclass
class PlatformSummary:
    platform: str
    channel: str
    pages: int = 0
    records: int = 0
    inserted: int = 0
    duplicates: int = 0
    edits: int = 0
    quarantined: int = 0
    requests: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    http_seconds: float = 0.0
    seconds: float = 0.0
    more: bool = False          # stopped at max_pages_per_run with pages left for the next run
    busy: bool = False          # another reader held this platform; nothing read

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("waited_seconds", "http_seconds", "seconds"):
            out[key] = round(out[key], 3)
        return out


def credentials(platform: Platform, uri: str | None) -> ConnectionValue | None:
    """The platform's connection (URI or Airflow JSON form); None when its auth needs none."""
    if uri is None:
        if platform.auth.type != "none":
            env = connections.env_name(platform.connection_id)
            raise ConfigError(
                f"platform {platform.name}: no connection {platform.connection_id} (auth {platform.auth.type}); "
                f"create it in Airflow or set {env}"
            )
        return None
    return parse(uri, f"connection {platform.connection_id}", {"http", "https", "generic"},
                 "an http://, https:// or generic connection")


def effective_platform(platform: Platform, conn: ConnectionValue | None) -> Platform:
    """The entry as this deployment uses it: values from the connection's extra filled in.

    `base_url` in the extra points the entry at a sandbox or another region; `{name}`
    placeholders in `request.path` (a business unit, a form id) are filled from the extra
    too, so one shipped entry serves every account without editing channels.yaml.
    """
    extra = dict(conn.extra) if conn else {}
    update: dict[str, Any] = {}
    if extra.get("base_url") and extra["base_url"] != platform.base_url:
        update["base_url"] = extra["base_url"]
    wanted = re.findall(r"{(\w+)}", platform.request.path)
    if wanted:
        missing = [name for name in wanted if not extra.get(name)]
        if missing:
            raise ConfigError(
                f"platform {platform.name}: request.path {platform.request.path} needs "
                f"{', '.join(missing)}: add {'them' if len(missing) > 1 else 'it'} to the extra of connection "
                f"{platform.connection_id}"
            )
        path = re.sub(r"{(\w+)}", lambda m: quote(str(extra[m.group(1)]), safe=""), platform.request.path)
        update["request"] = platform.request.model_copy(update={"path": path})
    return platform.model_copy(update=update) if update else platform


def resolve_edits(conn: sa.Connection, items: Sequence[IntakeItem], counter: list[int] | None = None
                  ) -> list[IntakeItem]:
    """Give an edited item a revision identity, inside the storing transaction.

    An incoming item whose content_key is already stored (as the item or as one of its
    revisions) keeps that row's identity, so the upsert finds it a duplicate. `counter[0]`
    counts the new revisions.
    """
    if not items:
        return []
    channel = items[0].channel
    bases = sorted({i.external_id for i in items})
    known: dict[str, dict[str | None, str]] = {}       # base id -> content_key -> stored external_id
    stored = list(conn.execute(
        sa.text("""SELECT external_id, payload->>'content_key' FROM feedback.intake
                   WHERE channel = :c AND external_id = ANY(:b)"""),
        {"c": channel, "b": bases},
    ).all())
    seen = sorted({external_id for external_id, _ in stored})
    if seen:   # only items already stored can have revisions (index intake_update_of_idx, migration 011)
        stored += conn.execute(
            sa.text("""SELECT external_id, payload->>'content_key' FROM feedback.intake
                       WHERE channel = :c AND payload ? 'update_of' AND payload->>'update_of' = ANY(:b)"""),
            {"c": channel, "b": seen},
        ).all()
    for external_id, stored_key in stored:
        known.setdefault(external_id.split(REVISION, 1)[0], {})[stored_key] = external_id
    out = []
    for item in items:
        key = item.payload.get("content_key")
        versions = known.setdefault(item.external_id, {})
        if not versions:
            versions[key] = item.external_id               # first sight: the item itself
        elif key not in versions:
            versions[key] = f"{item.external_id}{REVISION}{str(key)[:16]}"
            if counter is not None:
                counter[0] += 1
            out.append(replace(item, external_id=versions[key],
                               payload={**item.payload, "update_of": item.external_id}))
            continue
        first_id = versions[key]
        if first_id != item.external_id:
            item = replace(item, external_id=first_id, payload={**item.payload, "update_of": item.external_id})
        out.append(item)
    return out


def record_ref(platform: Platform, record: Any, n: int) -> str:
    """The platform's id of a record that failed its mapping (by the entry's external_id), else its place."""
    try:
        ref = jmespath.search(platform.mapping.external_id, record) if isinstance(record, dict) else None
    except jmespath.exceptions.JMESPathError:
        ref = None
    return str(ref) if ref not in (None, "", "null") else f"record-{n}"


def _map_page(source: RestSource, platform: Platform, records: list[Any], channel: str,
              fetched_at: datetime) -> tuple[list[IntakeItem], list[Rejected]]:
    from feedback.channels.rest.source import with_our_receipt

    items: list[IntakeItem] = []
    rejected: list[Rejected] = []
    for n, record in enumerate(records):
        try:
            items.append(with_our_receipt(source.to_item(record), fetched_at))
        except InvalidItem as bad:
            rejected.append(Rejected(channel, platform.name, record_ref(platform, record, n), bad.reason, bad.detail,
                                     source.raw_bytes(record)))
    return items, rejected


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def _read_ahead(pages: Iterator[Page]) -> Generator[Page, None, None]:
    """The pages, the next one fetched in a thread while this one is mapped and stored.

    A vendor's page takes a round trip (and a paced vendor a wait); the database's work on
    the page before it need not wait for that. One page ahead at most, in order; a failure of
    the pager reaches the caller after the pages read before it, as without the thread.
    Closing the generator stops the thread after the request it is in.
    """
    slot: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            put(_END)
        except BaseException as error:  # noqa: BLE001 - handed to the consuming thread, which raises it
            put(_Failed(error))

    reader = threading.Thread(target=produce, name="platform-pages", daemon=True)
    reader.start()
    try:
        while True:
            item = slot.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield cast("Page", item)
    finally:
        stop.set()
        reader.join()
        close = getattr(pages, "close", None)
        if close is not None:
            close()


class _PageGroup:
    """Pages stored together: one transaction for about `intake.batch_size` records, not one per page.

    A transaction costs a few round trips and a commit whatever its size, which for pages of
    100 records was most of the intake's time (issue 17). The group is stored when it holds a
    batch's worth of records or its first page waited more than `MAX_WAIT` seconds (a paced
    vendor sends a page every few seconds: those pages are still stored as they come), at the
    end, and before a failure is raised, with the position after its last page.
    """

    MAX_WAIT = 5.0

    def __init__(self, engine: Engine, channel: str, name: str, run_time: datetime,
                 summary: PlatformSummary) -> None:
        from feedback.settings import load_settings

        self.engine, self.channel, self.name, self.run_time, self.summary = engine, channel, name, run_time, summary
        self.records = load_settings().intake.batch_size
        self.items: list[IntakeItem] = []
        self.rejected: list[Rejected] = []
        self.position: dict[str, Any] | None = None
        self.since = 0.0

    def add(self, items: list[IntakeItem], rejected: list[Rejected], position: dict[str, Any]) -> None:
        if self.position is None:
            self.since = time.monotonic()
        self.items += items
        self.rejected += rejected
        self.position = position

    def full(self) -> bool:
        return (len(self.items) + len(self.rejected) >= self.records
                or time.monotonic() - self.since > self.MAX_WAIT)

    def store(self) -> None:
        if self.position is None:
            return
        edits = [0]
        result = store_batch(self.engine, self.channel, self.name, self.items, self.rejected, self.position,
                             self.run_time, resolve=partial(resolve_edits, counter=edits))
        self.summary.inserted += result.inserted
        self.summary.duplicates += result.duplicates
        self.summary.quarantined += result.quarantined
        self.summary.edits += edits[0]
        self.items, self.rejected, self.position = [], [], None


def ingest_platform(
    engine: Engine,
    platform: Platform,
    uri: str | None,
    run_time: datetime,
    *,
    channel: str = "platform",
    max_pages: int | None = None,
    client: RestClient | None = None,
    progress: Callable[[str], None] | None = None,
) -> PlatformSummary:
    """Pull one platform from its stored position until its last page (or max_pages); counts only.

    Raises PlatformUnavailable (after the client's retries) with every page read so far
    already committed; the next run resumes from there.
    """
    from feedback.channels.rest.source import load_source

    conn_value = credentials(platform, uri)
    platform = effective_platform(platform, conn_value)
    summary = PlatformSummary(platform=platform.name, channel=channel)
    started = time.monotonic()
    with source_lock(engine, f"{channel}:{platform.name}") as held:
        if not held:
            summary.busy = True
            log.warning("%s: another reader holds this platform; skipped this run", platform.name)
            return summary
        source = load_source(platform, credentials=conn_value, client=client, channel=channel)
        limit = max_pages or platform.pagination.max_pages_per_run
        group = _PageGroup(engine, channel, platform.name, run_time, summary)
        stack = contextlib.ExitStack()
        try:
            pages = _read_ahead(source.pages(read_cursor(engine, channel, platform.name), max_pages=limit))
            stack.callback(pages.close)
            while True:
                try:
                    page = next(pages)
                except StopIteration:
                    break
                except BaseException:
                    group.store()   # every page read before the failure is kept, its position with it
                    raise
                items, rejected = _map_page(source, platform, page.records, channel, run_time)
                group.add(items, rejected, page.position)
                summary.pages += 1
                summary.records += len(page.records)
                if group.full():
                    group.store()
                if progress and (summary.pages % 10 == 0 or summary.pages == 1):
                    progress(f"{platform.name}: page {summary.pages}, {summary.records} records, "
                             f"{summary.inserted} new")
            group.store()
            summary.more = summary.pages >= limit
        finally:
            stack.close()   # the reader thread has ended before the client is read and closed
            stats = source.client.stats
            summary.requests, summary.retries = stats.requests, stats.retries
            summary.waited_seconds, summary.http_seconds = stats.waited_seconds, stats.http_seconds
            summary.seconds = time.monotonic() - started
            source.close()
            log.info("%s: %s", platform.name, summary.as_dict())
    return summary


def configured(channel: str) -> list[Platform]:
    """The entries of one channel: `platforms:` for platforms, `webforms.providers:` for form providers."""

    channels = load_channels()
    return list(channels.platforms if channel == "platform" else channels.webforms.providers)


def pullable(channel: str, connection_uri: Callable[[str], str | None]) -> list[str]:
    """Enabled entries whose connection exists (or that need none); the others are named in the log."""
    names = []
    for platform in configured(channel):
        if not platform.enabled:
            continue
        if platform.auth.type != "none" and connection_uri(platform.connection_id) is None:
            log.warning("%s %s is enabled but connection %s is not set; not pulled (create it to start)",
                        channel, platform.name, platform.connection_id)
            continue
        names.append(platform.name)
    return names


def ingest_configured(engine: Engine, channel: str, name: str, connection_uri: Callable[[str], str | None],
                      run_time: datetime) -> dict[str, Any]:
    """One configured platform or form provider by name, with its connection; counts for XCom."""
    found = {p.name: p for p in configured(channel)}
    if name not in found:
        raise ConfigError(f"{channel} {name!r} is not configured in channels.yaml (known: {', '.join(found)})")
    platform = found[name]
    return ingest_platform(engine, platform, connection_uri(platform.connection_id), run_time, channel=channel,
                           progress=lambda message: log.info("%s", message)).as_dict()
