"""Pages of records from a declared REST API, and records as IntakeItems.

The generic engine behind every `platforms:` (and `webforms.providers:`) entry:
it walks the pages the spec describes, carrying a JSON position that the ingest
loop stores in the same transaction as each page's rows, so a crash between
pages neither loses nor repeats work beyond the overlap the spec asks for.
Mapping is JMESPath on one record; a record that does not fit is refused with a
quarantine reason naming the mapping key, never the record's values.

APIs with needs the spec cannot express subclass `RestSource` (named by the
entry's `python_class`) and override `request_for`, `next_state`,
`records_from_body` or `to_item`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
from jmespath import exceptions as jmespath_errors

from feedback.channels.base import IntakeItem, InvalidItem
from feedback.channels.config import Platform
from feedback.channels.mail.items import plausible
from feedback.channels.rest.client import PlatformUnavailable, RestClient
from feedback.channels.rest.spec import compiled
from feedback.errors import ConfigError

if TYPE_CHECKING:
    from feedback.connections import ConnectionValue

log = logging.getLogger(__name__)
# Epoch numbers at least this large are milliseconds (1e11 s is the year 5138, 1e11 ms is 1973).
_MS_THRESHOLD = 100_000_000_000
_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]*)*)")
_REL = re.compile(r"""\brel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
# The part of a payload the customer writes: a change here is an edit, anything else is bookkeeping.
CONTENT_KEYS = ("subject", "body", "rating", "contact")


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    position: dict[str, Any]        # the position to store WITH this page's rows (JSON-able)
    number: int                     # 1-based within this run


class PagerStalled(PlatformUnavailable):
    """The platform's paging stopped making progress: a page comes back, or the position goes backwards.

    Treating that as the last page would end the run "ok" with the rest of the records never
    read; following it would read the same pages until max_pages_per_run, run after run. The
    page that pointed back is not stored, so the stored position stays on the last good page.
    """


# --- small pure helpers ---------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """One byte form per value (sorted keys, no spaces): stable hashes and quarantine copies."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _from_epoch(number: float) -> datetime:
    seconds = number / 1000 if abs(number) >= _MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("epoch out of range") from None


def parse_timestamp(value: object) -> datetime:
    """A record's time: ISO 8601 (Z, an offset, or naive meaning UTC) or epoch seconds/milliseconds.

    Raises ValueError (with no trace of the value) when it is neither.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        return _from_epoch(value)
    if not isinstance(value, str):
        raise ValueError("not a time")
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return _from_epoch(float(text))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not ISO 8601") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def with_our_receipt(item: IntakeItem, fetched_at: datetime) -> IntakeItem:
    """The item with a received_at we can trust: the platform's creation time, unless it is implausible.

    A 1970 (epoch 0) or 2099 `created_at` would number the item and start its deadlines from a
    wrong clock. The rule is the mail rule (`mail.items.plausible`: not before 2000, at most a
    day after we fetched it); an implausible value becomes our fetch time, and the platform's
    value is kept in the payload as `platform_created_at` with `created_at_flag: implausible`.
    Applied by the ingest loop after `to_item`, so subclasses that override `to_item` get it too.
    """
    if plausible(item.received_at, fetched_at):
        return item
    payload = {**item.payload, "platform_created_at": iso_utc(item.received_at), "created_at_flag": "implausible"}
    return replace(item, received_at=fetched_at, payload=payload)


def link_header_next(headers: httpx.Headers) -> str | None:
    """The rel="next" target of a Link header (RFC 8288), as written (maybe relative)."""
    for value in headers.get_list("link"):
        for match in _LINK.finditer(value):
            rel = _REL.search(match.group(2))
            if rel and "next" in (rel.group(1) or rel.group(2) or "").lower().split():
                return match.group(1).strip()
    return None


def _kind(value: object) -> str:
    """A JSON value's kind for messages: never the value itself."""
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__)


# --- the engine -----------------------------------------------------------------------------------


def _set(value: str | None, key: str) -> str:
    """A pagination key the spec requires for its type (validated on load), so None here is a bug."""
    if value is None:
        raise ConfigError(f"pagination.{key} is not set")
    return value


class RestSource:
    """One platform entry at work: pages with their resume positions, records mapped to IntakeItems.

    Position (JSON, stored by the ingest loop with each page's rows)::

        {"since": "<ISO watermark>" | None,      # max `since.field` seen so far; only moves forward
         "run_since": "<ISO>" | None,            # lower bound of the traversal in progress
         "next": {"cursor": c} | {"url": absolute URL} | {"page": n} | {"offset": n} | None}

    `next` set means a traversal is in progress: resume it with the same `run_since`.
    `next` None means the last one finished: a new one asks from `since - overlap_seconds`
    (or `since.initial`, or from the beginning without `since`). Cursor pagination
    without `since` keeps its last cursor in `next` after the last page, so each run
    continues where the previous one ended (Zendesk's "keep after_cursor for next time").
    """

    def __init__(self, platform: Platform, client: RestClient | None = None,
                 credentials: ConnectionValue | None = None, channel: str = "platform"):
        self.platform = platform
        self.channel = channel
        self._own_client = client is None
        self.client = client or RestClient(platform, credentials)

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> RestSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- paging ---------------------------------------------------------------------------------

    def pages(self, position: dict[str, Any] | None, max_pages: int | None = None) -> Iterator[Page]:
        """Resume from a stored position (None = first run) and yield pages until the last one.

        Every page is yielded, empty ones too, each with the position that resumes after it;
        after `max_pages` (default pagination.max_pages_per_run) the last position yielded
        resumes at the following page.
        """
        limit = self.platform.pagination.max_pages_per_run if max_pages is None else max_pages
        watermark = self._stored_watermark(position)
        state, run_since = self._resume(position, watermark)
        visited: dict[str, int] = {}        # request (URL and query) -> page number, this run
        previous: bytes | None = None       # the last page's records, to notice a server ignoring the position
        number = 0
        while number < limit:
            number += 1
            url, params = self.request_for(state, run_since)
            visited[_request_key(self.client.url_for(url), params)] = number
            body, headers = self.client.get_json(url, params)
            try:
                records = self.records_from_body(body)
            except InvalidItem as bad:
                raise PlatformUnavailable(
                    f"{self.platform.name}: GET {urlsplit(self.client.url_for(url)).path} page {number}: "
                    f"{bad.detail}; the next run resumes from the stored position"
                ) from None
            watermark = self._advance(watermark, records)
            follow, keep = self.next_state(state, body, headers, records, self.client.url_for(url))
            content = canonical_json(records) if records else None
            if content is not None and content == previous:
                raise self._stalled(number, f"page {number} has the same records as page {number - 1} "
                                            f"(the API ignores the {self._position_word()})")
            previous = content
            if follow is not None:
                self._check_progress(state, follow, run_since, number, visited)
            position = {
                "since": iso_utc(watermark) if watermark else None,
                "run_since": iso_utc(run_since) if (keep is not None and run_since) else None,
                "next": keep,
            }
            log.debug("%s: page %d, %d records", self.platform.name, number, len(records))
            yield Page(records, position, number)
            if follow is None:
                return
            state = follow

    def request_for(self, state: dict[str, Any] | None, run_since: datetime | None) -> tuple[str, dict[str, Any]]:
        """URL (or path) and query parameters of the request for `state` (None = first page)."""
        pag = self.platform.pagination
        if state and "url" in state:
            return state["url"], {}            # a next link carries the whole query
        params: dict[str, Any] = dict(self.platform.request.params)
        if self.platform.since and run_since is not None:
            params[self.platform.since.param] = self.platform.since.render(run_since)
        if pag.type == "cursor" and state and state.get("cursor") is not None:
            params[_set(pag.cursor_param, "cursor_param")] = state["cursor"]
        elif pag.type == "page_number":
            params[_set(pag.page_param, "page_param")] = state["page"] if state else pag.start_page
            if pag.size_param:
                params[pag.size_param] = pag.page_size
        elif pag.type == "offset":
            params[_set(pag.offset_param, "offset_param")] = state["offset"] if state else 0
            if pag.limit_param:
                params[pag.limit_param] = pag.limit
        return self.platform.request.path, params

    def next_state(self, state: dict[str, Any] | None, body: Any, headers: httpx.Headers,
                   records: list[Any], url: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(state of the next request in this run or None at the last page, `next` to store with this page)."""
        pag = self.platform.pagination
        if pag.type == "cursor":
            return self._next_cursor(state, body, records)
        if pag.type == "next_link":
            link = self._search(pag.next_path, body) if pag.next_path else link_header_next(headers)
            if link in (None, ""):
                return None, None
            if not isinstance(link, str):
                raise self._page_error(f"next_path gave {_kind(link)}, expected a URL")
            target = urljoin(url, link.strip())
            if target == url:
                if records:
                    raise self._stalled(None, "the next link points at the page it came with")
                log.warning("%s: an empty page links to itself; treating it as the last", self.platform.name)
                return None, None
            return {"url": target}, {"url": target}
        if pag.type == "page_number":
            page = state["page"] if state else pag.start_page
            last = not records or (pag.page_size is not None and len(records) < pag.page_size)
            return (None, None) if last else ({"page": page + 1}, {"page": page + 1})
        if pag.type == "offset":
            offset = state["offset"] if state else 0
            last = len(records) < (pag.limit or 1)
            return (None, None) if last else ({"offset": offset + len(records)}, {"offset": offset + len(records)})
        return None, None

    def _next_cursor(self, state: dict[str, Any] | None, body: Any,
                     records: list[Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        pag = self.platform.pagination
        current = state.get("cursor") if state else None
        cursor = self._search(_set(pag.cursor_path, "cursor_path"), body)
        if cursor is not None and (isinstance(cursor, bool) or not isinstance(cursor, str | int)):
            raise self._page_error(f"cursor_path gave {_kind(cursor)}, expected text or a number")
        if cursor == "":
            cursor = None
        stop = bool(self._search(pag.stop_path, body)) if pag.stop_path else False
        if cursor is not None and cursor == current and not stop:
            if records:
                raise self._stalled(None, "the next cursor is the one this page was asked with")
            log.warning("%s: an empty page repeats its cursor; treating it as the last", self.platform.name)
            stop = True
        if cursor is not None and not stop:
            return {"cursor": cursor}, {"cursor": cursor}
        if self.platform.since is not None:
            return None, None                   # the next run starts a new traversal from the watermark
        resume = cursor if cursor is not None else current
        return None, ({"cursor": resume} if resume is not None else None)

    def _search(self, expression: str, body: Any) -> Any:
        try:
            return compiled(expression).search(body)
        except jmespath_errors.JMESPathError as exc:
            raise self._page_error(f"{expression!r} cannot be evaluated ({type(exc).__name__})") from None

    def _check_progress(self, state: dict[str, Any] | None, follow: dict[str, Any], run_since: datetime | None,
                        number: int, visited: dict[str, int]) -> None:
        """Refuse a next state that does not move on: a page number or offset that does not grow, or a
        request (next link, cursor) already made in this run. Names no cursor or URL: they may carry keys."""
        pag = self.platform.pagination
        for key, start in (("page", pag.start_page), ("offset", 0)):
            if key in follow and isinstance(follow[key], int):
                current = state.get(key, start) if state else start
                if isinstance(current, int) and follow[key] <= current:
                    raise self._stalled(number, f"the next {key} ({follow[key]}) does not come after this one "
                                                f"({current})")
        url, params = self.request_for(follow, run_since)
        seen = visited.get(_request_key(self.client.url_for(url), params))
        if seen is not None:
            what = "next link" if "url" in follow else f"next {self._position_word()}"
            raise self._stalled(number, f"the {what} of page {number} leads back to page {seen} of this run")

    def _position_word(self) -> str:
        return {"cursor": "cursor", "next_link": "next link", "page_number": "page number",
                "offset": "offset"}.get(self.platform.pagination.type, "position")

    def _stalled(self, number: int | None, detail: str) -> PagerStalled:
        where = f" at page {number}" if number else ""
        return PagerStalled(
            f"{self.platform.name}: paging makes no progress{where}: {detail}; stopped without storing that "
            "page, so nothing is skipped (the stored position is the last good page). If the next run stops "
            f"the same way, check the pagination of platform {self.platform.name} in channels.yaml or the API"
        )

    def _page_error(self, detail: str) -> PlatformUnavailable:
        return PlatformUnavailable(f"{self.platform.name}: unexpected response: {detail}; "
                                   "the next run resumes from the stored position")

    # --- position -------------------------------------------------------------------------------

    def _stored_watermark(self, position: dict[str, Any] | None) -> datetime | None:
        if not self.platform.since or not isinstance(position, dict) or not position.get("since"):
            return None
        try:
            return parse_timestamp(position["since"])
        except ValueError:
            log.warning("%s: stored watermark is not a time; starting from since.initial", self.platform.name)
            return None

    def _resume(self, position: dict[str, Any] | None,
                watermark: datetime | None) -> tuple[dict[str, Any] | None, datetime | None]:
        """(state to continue from or None, lower bound of the traversal)."""
        since = self.platform.since
        state = position.get("next") if isinstance(position, dict) else None
        if state is not None and self._usable(state):
            run_since = None
            if since and position is not None and position.get("run_since"):
                try:
                    run_since = parse_timestamp(position["run_since"])
                except ValueError:
                    state = None
            if state is not None:
                return dict(state), run_since
        elif state is not None:
            log.warning("%s: stored position does not fit pagination %s; starting a new traversal",
                        self.platform.name, self.platform.pagination.type)
        if not since:
            return None, None
        if watermark is not None:
            return None, watermark - timedelta(seconds=since.overlap_seconds)
        return None, since.initial

    def _usable(self, state: Any) -> bool:
        if not isinstance(state, dict):
            return False
        kind = self.platform.pagination.type
        if kind == "cursor":
            return isinstance(state.get("cursor"), str | int)
        if kind == "next_link":
            url = state.get("url")
            return isinstance(url, str) and _origin(url) == _origin(self.platform.base_url)
        if kind == "page_number":
            return isinstance(state.get("page"), int)
        if kind == "offset":
            return isinstance(state.get("offset"), int)
        return False

    def _advance(self, watermark: datetime | None, records: list[Any]) -> datetime | None:
        """The watermark after these records: the latest change time among them, never backwards."""
        since = self.platform.since
        if since is None:
            return None
        expression = compiled(since.field)
        for record in records:
            try:
                moment = parse_timestamp(expression.search(record))
            except (ValueError, jmespath_errors.JMESPathError):
                continue                         # to_item quarantines it if it matters
            if watermark is None or moment > watermark:
                watermark = moment
        return watermark

    # --- records --------------------------------------------------------------------------------

    def records_from_body(self, body: Any) -> list[dict[str, Any]]:
        """The page's records (spec `records`); a body without a list there is not a page we understand."""
        expression = self.platform.records
        try:
            records = compiled(expression).search(body)
        except jmespath_errors.JMESPathError as exc:
            raise InvalidItem("bad_page", f"records {expression!r} cannot be evaluated ({type(exc).__name__})"
                              ) from None
        if records is None:
            raise InvalidItem("bad_page", f"records {expression!r} found nothing in the response body")
        if not isinstance(records, list):
            raise InvalidItem("bad_page", f"records {expression!r} gave {_kind(records)}, expected a list")
        return records

    def raw_bytes(self, record: Any) -> bytes:
        """The record as canonical JSON, for quarantine (encrypted there) and re-runs after a fix."""
        return canonical_json(record)

    def to_item(self, record: Any) -> IntakeItem:
        """Map one record; InvalidItem (reason, detail naming the mapping key, never a value) if it does not fit."""
        if not isinstance(record, dict):
            raise InvalidItem("not_an_object", f"record is {_kind(record)}, expected an object")
        mapping = self.platform.mapping
        platform_id = self._identity(record)
        received_at = self._time(record, "received_at", mapping.received_at, required=True)
        assert received_at is not None      # required: a missing time raised InvalidItem
        updated_at = self._time(record, "updated_at", mapping.updated_at, required=False)
        body = self._text(record, "body", mapping.body)
        if body is None:
            raise InvalidItem("missing_field", f"body (expression {mapping.body}) is empty")
        content = {
            "subject": self._text(record, "subject", mapping.subject),
            "body": body,
            "rating": self._rating(record, mapping.rating),
            "contact": {
                "name": self._text(record, "contact_name", mapping.contact_name),
                "phone": self._text(record, "contact_phone", mapping.contact_phone),
                "email": self._text(record, "contact_email", mapping.contact_email),
            },
        }
        payload = {
            "platform": self.platform.name,
            "platform_id": platform_id,
            **content,
            "locale": self._text(record, "locale", mapping.locale),
            "url": self._text(record, "url", mapping.url),
            "updated_at": iso_utc(updated_at) if updated_at else None,
            "extra": {name: self._value(record, f"extra.{name}", expr) for name, expr in mapping.extra.items()},
            "content_key": hashlib.sha256(canonical_json(content)).hexdigest(),
        }
        return IntakeItem(self.channel, self.platform.name, f"{self.platform.name}:{platform_id}", received_at,
                          payload)

    def _value(self, record: dict[str, Any], key: str, expression: str | None) -> Any:
        if expression is None:
            return None
        try:
            return compiled(expression).search(record)
        except jmespath_errors.JMESPathError as exc:
            raise InvalidItem("bad_field", f"{key} (expression {expression}) cannot be evaluated on this record "
                                           f"({type(exc).__name__})") from None

    def _identity(self, record: dict[str, Any]) -> str:
        expression = self.platform.mapping.external_id
        value = self._value(record, "external_id", expression)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        # to_string(id) of a missing id is the text "null" (JMESPath's to_string): no platform uses that as an id.
        if value is None or (isinstance(value, str) and value.strip() in ("", "null")):
            raise InvalidItem("missing_field", f"external_id (expression {expression}) is empty")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidItem("bad_field", f"external_id (expression {expression}) gave {_kind(value)}, "
                                           "expected text or a whole number")
        return str(value).strip()

    def _time(self, record: dict[str, Any], key: str, expression: str | None, *, required: bool) -> datetime | None:
        value = self._value(record, key, expression)
        if value is None or value == "":
            if required:
                raise InvalidItem("missing_field", f"{key} (expression {expression}) is empty")
            return None
        try:
            return parse_timestamp(value)
        except ValueError:
            raise InvalidItem("bad_timestamp", f"{key} (expression {expression}) gave {_kind(value)} that is "
                                               "not an ISO 8601 date-time or epoch seconds/milliseconds") from None

    def _text(self, record: dict[str, Any], key: str, expression: str | None) -> str | None:
        value = self._value(record, key, expression)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidItem("bad_field", f"{key} (expression {expression}) gave {_kind(value)}, expected text")
        return str(value).strip() or None

    def _rating(self, record: dict[str, Any], expression: str | None) -> int | float | str | None:
        value = self._value(record, "rating", expression)
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return value
        if isinstance(value, str):
            return value.strip() or None
        raise InvalidItem("bad_field", f"rating (expression {expression}) gave {_kind(value)}, "
                                       "expected a number or text")


def _request_key(url: str, params: dict[str, Any]) -> str:
    """One spelling per request: the URL without fragment, its query and `params` merged and sorted."""
    parts = urlsplit(url)
    query = sorted([*parse_qsl(parts.query, keep_blank_values=True), *((k, str(v)) for k, v in params.items())])
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", urlencode(query), ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def load_source(platform: Platform, credentials: ConnectionValue | None = None, client: RestClient | None = None,
                channel: str = "platform") -> RestSource:
    """The entry's engine: its python_class (a RestSource subclass) when set, else the generic one."""
    if not platform.python_class:
        return RestSource(platform, client=client, credentials=credentials, channel=channel)
    module_name, _, class_name = platform.python_class.partition(":")
    where = f"platform {platform.name}: python_class {platform.python_class!r}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where}: module {module_name} cannot be imported ({type(exc).__name__}: {exc})") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigError(f"{where}: module {module_name} has no {class_name}")
    if not (isinstance(cls, type) and issubclass(cls, RestSource)):
        raise ConfigError(f"{where}: {class_name} is not a subclass of feedback.channels.rest.source.RestSource")
    return cls(platform, client=client, credentials=credentials, channel=channel)
