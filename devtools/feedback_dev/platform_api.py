"""Local simulators of three public platform APIs, for tests, the demo and the benchmark.

The declarative REST connector (`feedback.channels.rest.source`) is only as good as
what it has been run against. These servers reproduce, from the vendors' public
documentation, the parts of each API a feedback pull touches: request parameters,
response JSON (field names, types, timestamp formats), pagination, authentication,
error bodies and rate-limit headers. Each runs as a stdlib `ThreadingHTTPServer` on
127.0.0.1 (a free port) in a daemon thread, holds its records in memory, and can be
told to misbehave the way real APIs do (429 with Retry-After, 5xx, a stalled answer,
a page that repeats the previous page's last record).

- `ZendeskSim`: Support API, *Incremental Ticket Export, Cursor Based*
  (developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
  and the guide "Using the Incremental Exports API", as of 2025).
- `TrustpilotSim`: Business Units API, *Get private reviews* (`/v1/private/business-units/
  {businessUnitId}/reviews`) and the *client credentials* grant
  (developers.trustpilot.com/business-units-api and /get-started/authentication/
  grant-type-client-credentials, as of 2025).
- `TypeformSim`: Responses API, *Retrieve responses* (developer.typeform.com/responses/
  reference/retrieve-responses/, as of 2025).

Where the public docs are silent, the choice made is stated in the class docstring.
Records are kept sorted in serving order, and a request only bisects and slices, so
100,000 records over 1,000 pages are served as fast as the JSON can be written.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import math
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = [
    "LoggedRequest", "PlatformSim", "TrustpilotSim", "TypeformSim", "ZendeskSim", "serve",
    "trustpilot_review", "typeform_response", "zendesk_ticket",
]

Now = Callable[[], datetime]
_INF = float("inf")


# --- time formats --------------------------------------------------------------------------------


def _utc(value: datetime | str) -> datetime:
    """A timezone-aware UTC datetime from a datetime (naive = UTC) or ISO 8601 text (with Z or offset)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso_z(value: datetime | str) -> str:
    """The `2026-10-01T08:30:00Z` form Zendesk, Trustpilot and Typeform all use (whole seconds)."""
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(value: datetime | str) -> int:
    return int(_utc(value).timestamp())


def _http_date(value: datetime) -> str:
    return format_datetime(_utc(value), usegmt=True)


def _real_now() -> datetime:
    return datetime.now(UTC)


# --- requests, replies, faults -------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the simulator saw it, for assertions (never printed: queries may hold e-mails)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    auth: str | None = None        # "basic" / "bearer" / None: which scheme the request carried
    stalled: bool = False          # answered only after a stall_next() delay


@dataclass(frozen=True)
class SimRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes

    @property
    def authorization(self) -> tuple[str, str] | None:
        """(scheme lower-cased, credentials) from the Authorization header, or None."""
        value = self.headers.get("Authorization")
        if not value or " " not in value.strip():
            return None
        scheme, _, rest = value.strip().partition(" ")
        return scheme.lower(), rest.strip()

    def basic_credentials(self) -> tuple[str, str] | None:
        auth = self.authorization
        if not auth or auth[0] != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(auth[1], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

    def bearer_token(self) -> str | None:
        auth = self.authorization
        return auth[1] if auth and auth[0] == "bearer" else None


class Encoded(list):
    """A list of records already encoded as JSON, spliced into a reply without encoding them again."""


_SPLICE = "\u0000splice:"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        """The body as JSON; `Encoded` lists (records encoded when added) are spliced in as they are."""
        if not isinstance(self.body, dict):
            return _dumps(self.body)
        spliced = {k: v for k, v in self.body.items() if isinstance(v, Encoded)}
        data = _dumps({k: _SPLICE + k if k in spliced else v for k, v in self.body.items()})
        for key, blobs in spliced.items():
            data = data.replace(_dumps(_SPLICE + key), b"[" + b",".join(blobs) + b"]", 1)
        return data


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int | float | str | datetime | None


class _BadRequest(Exception):
    """Raised inside a handler: answer with this reply (an API's 400/404 body)."""

    def __init__(self, reply: Reply):
        super().__init__(reply.status)
        self.reply = reply


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive, as the real APIs; every answer has a Content-Length
    disable_nagle_algorithm = True    # headers and body are two writes: no 40 ms delayed-ACK stall between
    sim: PlatformSim

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server API
        """Silent: request lines carry query strings, which may hold e-mail addresses."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header on the simulator's clock, so Retry-After dates and resets agree with it."""
        return _http_date(self.sim.now()) if timestamp is None else super().date_time_string(timestamp)

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = SimRequest(method, parts.path, query, self.headers, body)
        reply, stall = self.sim._dispatch(request)
        if stall and self.sim._stopping.wait(stall):
            self.close_connection = True
            return
        data = reply.encoded()
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True   # the client gave up (timeout) while we stalled


class _Server(ThreadingHTTPServer):
    daemon_threads = True


# --- the common base -----------------------------------------------------------------------------


class PlatformSim:
    """What the three simulators share: storage in serving order, the server, faults and the request log.

    Subclasses define the record identity and order (`record_id`, `sort_key`), how an edit
    marks a record as changed (`_touch`), which requests are "data" requests (`_is_data`,
    the ones faults apply to) and `handle`. Faults never hit token endpoints: a test of a
    5xx burst on the data endpoint should not be decided by the token request before it.
    """

    name = "platform"

    def __init__(self, *, now: Now | None = None):
        self.now: Now = now or _real_now
        self.requests: list[LoggedRequest] = []
        # Set to True: the next continuation page (not the first of a traversal) starts one record
        # early, repeating the previous page's last record, as APIs do when data shifts under a reader.
        self.repeat_on_next_page = False
        self._records: list[dict[str, Any]] = []
        self._keys: list[tuple] = []
        self._position: dict[str, int] = {}
        self._blobs: dict[str, bytes] = {}           # record id -> its JSON, encoded once when stored
        self._encoded: list[bytes] = []               # parallel to _records
        self._faults: deque[_Fault] = deque()
        self._stalls: deque[float] = deque()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> PlatformSim:
        if self._server is not None:
            return self
        handler = type(f"{type(self).__name__}Handler", (_Handler,), {"sim": self})
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()     # releases stalled answers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> PlatformSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started (use serve(sim) or sim.start())")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- records ----------------------------------------------------------------------------------

    def record_id(self, record: dict[str, Any]) -> str:
        raise NotImplementedError

    def sort_key(self, record: dict[str, Any]) -> tuple:
        raise NotImplementedError

    def _touch(self, record: dict[str, Any], at: datetime) -> None:
        raise NotImplementedError

    def _latest_change(self) -> datetime | None:
        """The newest change time held (edits are stamped after it so incremental reads see them)."""
        return None

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        """Store records (a record whose id is already held replaces it) and keep serving order.

        Each record is encoded as JSON once, here, so serving a page is slicing and joining;
        change a stored record through `edit()` (or `add()` again), never in place.
        """
        with self._lock:
            by_id = {self.record_id(r): i for i, r in enumerate(self._records)}
            for record in records:
                rid = self.record_id(record)
                self._blobs.pop(rid, None)
                if rid in by_id:
                    self._records[by_id[rid]] = record
                else:
                    by_id[rid] = len(self._records)
                    self._records.append(record)
            self._reindex()

    def edit(self, record_id: str | int, *, at: datetime | None = None, **changes: Any) -> dict[str, Any]:
        """Change a record's fields and stamp it as changed, so an incremental query returns it again.

        `at` defaults to the later of the simulator's now and one second after the newest change
        held, so the edit is always past any watermark a reader took from earlier records.
        """
        with self._lock:
            key = str(record_id)
            if key not in self._position:
                raise KeyError(f"{self.name}: no record {key}")
            record = dict(self._records[self._position[key]])
            record.update(changes)
            if at is None:
                latest = self._latest_change()
                at = self.now()
                if latest is not None and at <= latest:
                    at = latest + timedelta(seconds=1)
            self._touch(record, _utc(at))
            self._blobs.pop(key, None)
            self._records[self._position[key]] = record
            self._reindex()
            return record

    def get(self, record_id: str | int) -> dict[str, Any]:
        with self._lock:
            return self._records[self._position[str(record_id)]]

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record held, in serving order."""
        with self._lock:
            return list(self._records)

    def _reindex(self) -> None:
        keyed = sorted((self.sort_key(r), i) for i, r in enumerate(self._records))
        self._records = [self._records[i] for _, i in keyed]
        self._keys = [key for key, _ in keyed]
        self._position = {self.record_id(r): i for i, r in enumerate(self._records)}
        blobs = self._blobs
        for rid, record in zip(self._position, self._records, strict=True):
            if rid not in blobs:
                blobs[rid] = _dumps(record)
        self._encoded = [blobs[rid] for rid in self._position]

    # --- faults -----------------------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1,
                  retry_after: int | float | str | datetime | None = None) -> None:
        """The next `times` data requests answer `status` (429 with Retry-After: seconds or an HTTP date)."""
        with self._lock:
            self._faults.extend(_Fault(status, retry_after) for _ in range(times))

    def stall_next(self, seconds: float, times: int = 1) -> None:
        """The next `times` data requests are answered only after `seconds` (a client timeout)."""
        with self._lock:
            self._stalls.extend(float(seconds) for _ in range(times))

    def clear_faults(self) -> None:
        """End an injected outage: pending failures and stalls are dropped."""
        with self._lock:
            self._faults.clear()
            self._stalls.clear()

    def _fault_reply(self, fault: _Fault) -> Reply:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            value = fault.retry_after
            if isinstance(value, datetime):
                value = _http_date(value)
            elif isinstance(value, int | float):
                value = str(int(math.ceil(value)))
            headers["Retry-After"] = value
        return Reply(fault.status, self.error_body(fault.status), headers)

    def error_body(self, status: int) -> Any:
        """The API's error body for an injected failure."""
        return {"error": {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway",
                          503: "ServiceUnavailable"}.get(status, "Error")}

    # --- dispatch ---------------------------------------------------------------------------------

    def _is_data(self, request: SimRequest) -> bool:
        raise NotImplementedError

    def handle(self, request: SimRequest) -> Reply:
        raise NotImplementedError

    def _dispatch(self, request: SimRequest) -> tuple[Reply, float]:
        """Answer under the lock (a consistent snapshot); a stall is served by the caller, outside it."""
        with self._lock:
            stall = 0.0
            fault = None
            if self._is_data(request):
                stall = self._stalls.popleft() if self._stalls else 0.0
                fault = self._faults.popleft() if self._faults else None
            if fault is not None:
                reply = self._fault_reply(fault)
            else:
                try:
                    reply = self.handle(request)
                except _BadRequest as bad:
                    reply = bad.reply
            auth = request.authorization
            self.requests.append(LoggedRequest(request.method, request.path, dict(request.query), reply.status,
                                               auth[0] if auth else None, stall > 0))
            return reply, stall

    def requests_to(self, path: str, method: str = "GET") -> list[LoggedRequest]:
        """The logged requests to one path, in order."""
        with self._lock:
            return [r for r in self.requests if r.path == path and r.method == method]

    def _consume_repeat(self, continuation: bool) -> bool:
        if continuation and self.repeat_on_next_page:
            self.repeat_on_next_page = False
            return True
        return False


@contextmanager
def serve(sim: PlatformSim) -> Iterator[str]:
    """Run a simulator for the block; yields its base_url."""
    sim.start()
    try:
        yield sim.base_url
    finally:
        sim.stop()


def _int_param(query: Mapping[str, str], name: str, default: int | None, bad: Callable[[str], Reply]) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise _BadRequest(bad(f"{name} must be an integer")) from None


# --- Zendesk -------------------------------------------------------------------------------------

ZENDESK_EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"


def _zendesk_cursor(updated: int, ticket_id: int) -> str:
    """Zendesk's cursors are base64 of `<epoch>.0||<ticket id>|` (e.g. MTU3NjYxMzUzOS4wfHw0Njd8)."""
    return base64.b64encode(f"{updated}.0||{ticket_id}|".encode()).decode("ascii").rstrip("=")


def _zendesk_position(cursor: str) -> tuple[int, int] | None:
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), validate=True).decode("ascii")
        stamp, ticket = text.split("||", 1)
        return int(float(stamp)), int(ticket.rstrip("|"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class ZendeskSim(PlatformSim):
    """Zendesk Support: `GET /api/v2/incremental/tickets/cursor.json` (incremental export, cursor based).

    As documented: the first request carries `start_time` (epoch seconds, required, at least a
    minute in the past), later ones `cursor=<after_cursor>`; `per_page` up to 1000 (the default;
    larger values are capped); tickets in the order they changed (updated_at, then id); items
    changed within the minute before the request are left out; the body is `{"tickets",
    "after_url", "after_cursor", "before_url", "before_cursor", "end_of_stream"}` and the last
    page still carries an `after_cursor` to poll from later. Auth: basic `{email}/token:{api
    token}` or an OAuth `Bearer` token; otherwise 401 `{"error": "Couldn't authenticate you"}`.
    Every answer carries the account-wide limit headers (`X-Rate-Limit`, `X-Rate-Limit-Remaining`,
    `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` in seconds; `account_rate_limit`,
    700 a minute by default); past it, or past the incremental export's own limit of 10 requests
    a minute (`rate_limit_per_minute=10`, off by default), the answer is 429 with Retry-After.
    Assumed where the docs are silent: `cursor` wins when both it and `start_time` are sent;
    error codes of 400s (`InvalidValue`, `InvalidCursor`). Sideloads (`include=`) are not simulated.
    """

    name = "zendesk"
    max_page_size = 1000

    def __init__(self, *, email: str = "agent@example.com", api_token: str = "zendesk-api-token",
                 oauth_token: str | None = None, rate_limit_per_minute: int | None = None,
                 account_rate_limit: int = 700, hide_last_minute: bool = True, now: Now | None = None):
        super().__init__(now=now)
        self.email = email
        self.api_token = api_token
        self.oauth_token = oauth_token
        self.rate_limit_per_minute = rate_limit_per_minute
        self.account_rate_limit = account_rate_limit
        self.hide_last_minute = hide_last_minute
        self._hits: deque[float] = deque()

    def record_id(self, record: dict[str, Any]) -> str:
        return str(record["id"])

    def sort_key(self, record: dict[str, Any]) -> tuple:
        return (_epoch(record["updated_at"]), int(record["id"]))

    def _touch(self, record: dict[str, Any], at: datetime) -> None:
        record["updated_at"] = _iso_z(at)
        record["generated_timestamp"] = _epoch(at)

    def _latest_change(self) -> datetime | None:
        return datetime.fromtimestamp(self._keys[-1][0], UTC) if self._keys else None

    def _is_data(self, request: SimRequest) -> bool:
        return request.path in (ZENDESK_EXPORT_PATH, ZENDESK_EXPORT_PATH.removesuffix(".json"))

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"error": "APIRateLimitExceeded",
                    "description": "Number of allowed incremental export API requests per minute exceeded"}
        if status >= 500:
            return {"error": "InternalError", "description": "Something went wrong, please try again"}
        return {"error": "Error"}

    @staticmethod
    def _invalid(description: str) -> Reply:
        return Reply(400, {"error": "InvalidValue", "description": description})

    def _authenticated(self, request: SimRequest) -> bool:
        basic = request.basic_credentials()
        if basic is not None:
            return basic == (f"{self.email}/token", self.api_token)
        token = request.bearer_token()
        return bool(token) and token == self.oauth_token

    def _rate_window(self) -> tuple[int | None, dict[str, str]]:
        """(seconds to wait when a limit is reached, headers); counts this request when it is let through.

        Zendesk reports the account-wide limit on every answer (`X-Rate-Limit`, `ratelimit-*`);
        the incremental export's own 10 a minute shows only as a 429 with Retry-After.
        """
        now = self.now().timestamp()
        while self._hits and self._hits[0] <= now - 60:
            self._hits.popleft()
        limits = [n for n in (self.rate_limit_per_minute, self.account_rate_limit) if n]
        over = any(len(self._hits) >= n for n in limits)
        if not over:
            self._hits.append(now)
        reset = max(1, math.ceil(self._hits[0] + 60 - now)) if self._hits else 60
        remaining = str(max(0, self.account_rate_limit - len(self._hits)))
        headers = {"X-Rate-Limit": str(self.account_rate_limit), "X-Rate-Limit-Remaining": remaining,
                   "ratelimit-limit": str(self.account_rate_limit), "ratelimit-remaining": remaining,
                   "ratelimit-reset": str(reset)}
        return (reset if over else None), headers

    def handle(self, request: SimRequest) -> Reply:
        if request.method != "GET" or not self._is_data(request):
            return Reply(404, {"error": "InvalidEndpoint", "description": "Not found"})
        if not self._authenticated(request):
            return Reply(401, {"error": "Couldn't authenticate you"},
                         {"WWW-Authenticate": 'Basic realm="Web Password"'})
        wait, limit_headers = self._rate_window()
        if wait is not None:
            return Reply(429, self.error_body(429), {"Retry-After": str(wait), **limit_headers})
        reply = self._page(request)
        reply.headers.update(limit_headers)
        return reply

    def _page(self, request: SimRequest) -> Reply:
        query = request.query
        per_page = _int_param(query, "per_page", self.max_page_size, self._invalid)
        if per_page is None or per_page < 1:
            raise _BadRequest(self._invalid("per_page must be a positive integer"))
        per_page = min(per_page, self.max_page_size)
        now = _epoch(self.now())
        cursor = query.get("cursor")
        if cursor:
            position = _zendesk_position(cursor)
            if position is None:
                return Reply(400, {"error": "InvalidCursor", "description": "The cursor is not valid"})
            start = bisect.bisect_right(self._keys, position)
        else:
            start_time = _int_param(query, "start_time", None, self._invalid)
            if start_time is None:
                return self._invalid("start_time is required for the first request of an export")
            if start_time > now - 60:
                return self._invalid("Too recent start_time. Use a start_time older than 1 minute")
            position = (start_time, 0)
            start = bisect.bisect_left(self._keys, (start_time, -1))
        if self._consume_repeat(bool(cursor)) and start > 0:
            start -= 1
        end = bisect.bisect_right(self._keys, (now - 60, _INF)) if self.hide_last_minute else len(self._keys)
        tickets = Encoded(self._encoded[start:min(start + per_page, end)] if start < end else [])
        after = _zendesk_cursor(*self._keys[start + len(tickets) - 1]) if tickets else _zendesk_cursor(*position)
        before = _zendesk_cursor(*self._keys[start - 1]) if tickets and start > 0 and cursor else None
        page_query = {"per_page": per_page} if "per_page" in query else {}
        url = self.base_url + ZENDESK_EXPORT_PATH + "?"
        return Reply(200, {
            "tickets": tickets,
            "after_url": url + urlencode({**page_query, "cursor": after}),
            "after_cursor": after,
            "before_url": url + urlencode({**page_query, "cursor": before}) if before else None,
            "before_cursor": before,
            "end_of_stream": start + len(tickets) >= end,
        })


def zendesk_ticket(
    id: int,  # noqa: A002 - Zendesk's field name
    created_at: datetime | str,
    subject: str,
    description: str,
    requester_name: str | None = None,
    *,
    requester_email: str | None = None,
    requester_phone: str | None = None,
    updated_at: datetime | str | None = None,
    status: str = "new",
    priority: str | None = None,
    ticket_type: str | None = None,
    tags: Iterable[str] = (),
    custom_fields: list[dict[str, Any]] | None = None,
    requester_id: int | None = None,
    channel: str | None = None,
    base_url: str = "https://example.zendesk.com",
) -> dict[str, Any]:
    """A ticket as the incremental export returns it (fields of the Tickets API ticket object).

    The requester's contact is where Zendesk puts it on the ticket itself: `via.source.from`
    (`address` + `name` for e-mail tickets, `phone` + `name` for voice); web tickets carry none.
    """
    created = _utc(created_at)
    updated = _utc(updated_at) if updated_at is not None else created
    requester = requester_id if requester_id is not None else 381_000_000_000 + id * 7
    kind = channel or ("email" if requester_email else "voice" if requester_phone else "web")
    if kind == "email":
        source = {"from": {"address": requester_email, "name": requester_name},
                  "to": {"name": "Example Support", "address": "support@example.zendesk.com"}, "rel": None}
    elif kind == "voice":
        source = {"from": {"formatted_phone": requester_phone, "phone": requester_phone, "name": requester_name},
                  "to": {"formatted_phone": "+86 400 800 8000", "phone": "+864008008000"}, "rel": "inbound"}
    else:
        source = {"from": {}, "to": {}, "rel": None}
    fields = custom_fields if custom_fields is not None else [{"id": 360_001_234_567, "value": None}]
    return {
        "url": f"{base_url}/api/v2/tickets/{id}.json",
        "id": id,
        "external_id": None,
        "via": {"channel": kind, "source": source},
        "created_at": _iso_z(created),
        "updated_at": _iso_z(updated),
        "generated_timestamp": _epoch(updated),
        "type": ticket_type,
        "subject": subject,
        "raw_subject": subject,
        "description": description,
        "priority": priority,
        "status": status,
        "recipient": "support@example.zendesk.com" if kind == "email" else None,
        "requester_id": requester,
        "submitter_id": requester,
        "assignee_id": None,
        "organization_id": None,
        "group_id": 360_000_111_222,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": list(tags),
        "custom_fields": fields,
        "fields": fields,
        "satisfaction_rating": None,
        "sharing_agreement_ids": [],
        "custom_status_id": 360_000_000_001,
        "followup_ids": [],
        "ticket_form_id": 360_000_000_010,
        "brand_id": 360_000_000_100,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
    }


# --- Trustpilot ----------------------------------------------------------------------------------

TRUSTPILOT_TOKEN_PATH = "/v1/oauth/oauth-business-users-for-applications/accesstoken"


class TrustpilotSim(PlatformSim):
    """Trustpilot Business Units API: private reviews, behind a client-credentials OAuth token.

    Token: `POST /v1/oauth/oauth-business-users-for-applications/accesstoken`, HTTP basic
    `api key:api secret`, form `grant_type=client_credentials` → `{"access_token", "expires_in"
    (a string, "359999": 100 hours), "token_type": "BearerToken", …}` (the Apigee answer; an
    OAuth client must send it as `Bearer`). Reviews: `GET /v1/private/business-units/{id}/
    reviews` with `startDateTime`/`endDateTime` (ISO 8601, compared with `createdAt`),
    `orderBy` (`createdat.asc` | `createdat.desc`, the default), `page` (from 1), `perPage`
    (1-100, default 20), `language`, `stars`; body `{"reviews": [...], "links": [{"href",
    "method": "GET", "rel": "page-self" | "next-page" | "prev-page"}]}`, `next-page` only when
    more reviews follow. A missing, unknown or expired token is a 401 with Apigee's `fault`
    body. There is no filter on `updatedAt`: an edited review keeps its `createdAt` place, so
    an incremental reader sees an edit only while the review is inside its overlap window.
    `repeat_on_next_page` shifts the pages after the current one back by one record for the
    rest of the traversal (a review inserted before the reader's window), losing nothing.
    """

    name = "trustpilot"
    max_page_size = 100

    def __init__(self, *, business_unit_id: str = "46d6a890000064000500e0c3", client_id: str = "tp-api-key",
                 client_secret: str = "tp-api-secret", token_lifetime_seconds: int = 359_999,
                 now: Now | None = None):
        super().__init__(now=now)
        self.business_unit_id = business_unit_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime_seconds = token_lifetime_seconds
        self._tokens: dict[str, float] = {}          # token -> expiry (epoch seconds on the sim clock)
        self._shift_from_page: int | None = None

    @property
    def reviews_path(self) -> str:
        return f"/v1/private/business-units/{self.business_unit_id}/reviews"

    @property
    def tokens_issued(self) -> int:
        return len(self._tokens)

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (as after 100 hours)."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = -_INF

    def record_id(self, record: dict[str, Any]) -> str:
        return str(record["id"])

    def sort_key(self, record: dict[str, Any]) -> tuple:
        return (_epoch(record["createdAt"]), str(record["id"]))

    def _touch(self, record: dict[str, Any], at: datetime) -> None:
        record["updatedAt"] = _iso_z(at)

    def _latest_change(self) -> datetime | None:
        stamps = [_utc(r.get("updatedAt") or r["createdAt"]) for r in self._records]
        return max(stamps, default=None)

    def _is_data(self, request: SimRequest) -> bool:
        return request.method == "GET" and request.path == self.reviews_path

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"fault": {"faultstring": "Rate limit quota violation. Quota limit exceeded.",
                              "detail": {"errorcode": "policies.ratelimit.QuotaViolation"}}}
        return {"fault": {"faultstring": "The service is temporarily unavailable",
                          "detail": {"errorcode": "messaging.adaptors.http.flow.ServiceUnavailable"}}}

    @staticmethod
    def _invalid(message: str) -> Reply:
        return Reply(400, {"message": message, "errorCode": 400})

    def handle(self, request: SimRequest) -> Reply:
        if request.path == TRUSTPILOT_TOKEN_PATH and request.method == "POST":
            return self._token(request)
        if request.path == self.reviews_path and request.method == "GET":
            problem = self._token_problem(request.bearer_token())
            if problem:
                return Reply(401, {"fault": {"faultstring": problem[0], "detail": {"errorcode": problem[1]}}})
            return self._reviews(request)
        return Reply(404, {"message": "Not found", "errorCode": 404})

    def _token(self, request: SimRequest) -> Reply:
        if request.basic_credentials() != (self.client_id, self.client_secret):
            return Reply(401, {"ErrorCode": "invalid_client", "Error": "ClientId is Invalid"})
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            return Reply(400, {"ErrorCode": "invalid_request", "Error": f"Unsupported grant type : {grant}"})
        token = secrets.token_urlsafe(24)
        issued = self.now()
        self._tokens[token] = issued.timestamp() + self.token_lifetime_seconds
        return Reply(200, {
            "access_token": token,
            "expires_in": str(self.token_lifetime_seconds),
            "token_type": "BearerToken",
            "issued_at": str(int(issued.timestamp() * 1000)),
            "client_id": self.client_id,
            "application_name": "feedback-pipeline",
            "scope": "",
            "status": "approved",
            "refresh_token": "",
            "refresh_token_expires_in": "0",
            "refresh_count": "0",
        })

    def _token_problem(self, token: str | None) -> tuple[str, str] | None:
        if not token or token not in self._tokens:
            return "Invalid access token", "oauth.v2.InvalidAccessToken"
        if self.now().timestamp() >= self._tokens[token]:
            return "Access Token expired", "keymanagement.service.access_token_expired"
        return None

    def _instant(self, query: Mapping[str, str], name: str) -> int | None:
        value = query.get(name)
        if not value:
            return None
        try:
            return _epoch(value)
        except ValueError:
            raise _BadRequest(self._invalid(f"{name} must be an ISO 8601 date-time")) from None

    def _reviews(self, request: SimRequest) -> Reply:
        query = request.query
        page = _int_param(query, "page", 1, self._invalid)
        per_page = _int_param(query, "perPage", 20, self._invalid)
        if page is None or page < 1:
            return self._invalid("page must be 1 or more")
        if per_page is None or not 1 <= per_page <= self.max_page_size:
            return self._invalid(f"perPage must be between 1 and {self.max_page_size}")
        order = query.get("orderBy", "createdat.desc").lower()
        if order not in ("createdat.asc", "createdat.desc"):
            return self._invalid("orderBy must be createdat.asc or createdat.desc")
        start, end = self._instant(query, "startDateTime"), self._instant(query, "endDateTime")
        lo = bisect.bisect_left(self._keys, (start, "")) if start is not None else 0
        hi = bisect.bisect_right(self._keys, (end, "\uffff")) if end is not None else len(self._keys)
        selected: list[int] | None = None        # positions passing the language / stars filters
        if query.get("language") or query.get("stars"):
            stars = {int(s) for s in query.get("stars", "").split(",") if s.strip().isdigit()}
            selected = [i for i in range(lo, hi)
                        if (not query.get("language") or self._records[i].get("language") == query["language"])
                        and (not stars or self._records[i].get("stars") in stars)]
        total = len(selected) if selected is not None else max(0, hi - lo)
        if page == 1:
            self._shift_from_page = None
        elif self._consume_repeat(True):
            self._shift_from_page = page
        offset = (page - 1) * per_page
        if self._shift_from_page is not None and page >= self._shift_from_page:
            offset -= 1
        first, last = offset, min(offset + per_page, total)
        if order == "createdat.asc":
            window = range(first, last)
        else:
            window = range(total - 1 - first, total - 1 - last, -1)
        positions = selected if selected is not None else range(lo, hi)
        reviews = Encoded(self._encoded[positions[i]] for i in window) if first < total else Encoded()
        links = [self._link(query, page, "page-self")]
        if page > 1:
            links.append(self._link(query, page - 1, "prev-page"))
        if last < total:
            links.append(self._link(query, page + 1, "next-page"))
        return Reply(200, {"reviews": reviews, "links": links})

    def _link(self, query: Mapping[str, str], page: int, rel: str) -> dict[str, str]:
        params = {**query, "page": str(page)}
        return {"href": f"{self.base_url}{self.reviews_path}?{urlencode(params)}", "method": "GET", "rel": rel}


def _object_id(created: datetime, n: int) -> str:
    """A MongoDB-style id as Trustpilot uses: 4 bytes of creation time, then 8 more bytes."""
    return f"{int(created.timestamp()):08x}{n:016x}"


def trustpilot_review(
    id: str | int,  # noqa: A002 - Trustpilot's field name
    created_at: datetime | str,
    title: str,
    text: str,
    *,
    stars: int = 1,
    consumer_name: str = "Anonymous",
    consumer_location: str | None = None,
    referral_email: str | None = None,
    reference_id: str | None = None,
    language: str | None = None,
    updated_at: datetime | str | None = None,
    company_reply: str | None = None,
    status: str = "active",
    location_name: str | None = None,
    business_unit_id: str = "46d6a890000064000500e0c3",
) -> dict[str, Any]:
    """A review as the private reviews endpoint returns it; an int id becomes a 24-hex object id.

    Invited reviews (a `referral_email`) carry the invitation and `source` "InvitationApi";
    `language` defaults to "zh" for Chinese text, else "en".
    """
    created = _utc(created_at)
    review_id = _object_id(created, id) if isinstance(id, int) else id
    consumer_id = hashlib.sha1(f"consumer:{consumer_name}:{referral_email}".encode()).hexdigest()[:24]
    lang = language or ("zh" if any("\u4e00" <= ch <= "\u9fff" for ch in title + text) else "en")
    api = "https://api.trustpilot.com/v1"
    return {
        "links": [{"href": f"{api}/reviews/{review_id}", "method": "GET", "rel": "reviews"}],
        "id": review_id,
        "consumer": {
            "links": [{"href": f"{api}/consumers/{consumer_id}", "method": "GET", "rel": "consumers"}],
            "id": consumer_id,
            "displayName": consumer_name,
            "displayLocation": consumer_location,
            "numberOfReviews": 1,
        },
        "businessUnit": {"links": [], "id": business_unit_id, "identifyingName": "www.example.com",
                         "displayName": "Example"},
        "location": ({"id": hashlib.sha1(location_name.encode()).hexdigest()[:24], "name": location_name,
                      "urlFormattedName": location_name.lower().replace(" ", "-")} if location_name else None),
        "stars": stars,
        "title": title,
        "text": text,
        "language": lang,
        "createdAt": _iso_z(created),
        "experiencedAt": _iso_z(created - timedelta(days=2)),
        "updatedAt": _iso_z(updated_at) if updated_at is not None else None,
        "referralEmail": referral_email,
        "referenceId": reference_id,
        "source": "InvitationApi" if referral_email else "Organic",
        "companyReply": ({"text": company_reply, "authorBusinessUserId": "5a3b9c2e0000ff0001a2b3c4",
                          "authorBusinessUserName": "Example Care", "createdAt": _iso_z(created + timedelta(hours=3)),
                          "updatedAt": None} if company_reply else None),
        "tags": [],
        "status": status,
        "isVerified": bool(referral_email),
        "numberOfLikes": 0,
        "reportData": None,
        "complianceLabels": [],
        "countsTowardsTrustScore": True,
        "countsTowardsLocationTrustScore": None,
        "invitation": {"businessUnitId": business_unit_id} if referral_email else None,
        "businessUnitHistory": [],
        "reviewVerificationLevel": "invited" if referral_email else "not-verified",
    }


# --- Typeform ------------------------------------------------------------------------------------

# The sample contact form's fields: ref -> (field id, field type, answer type).
TYPEFORM_FIELDS: dict[str, tuple[str, str, str]] = {
    "name": ("Wv5dN0Ye8Tq1", "short_text", "text"),
    "email": ("Jr2Qh7XcPb4s", "email", "email"),
    "phone": ("Hk8Ls3VnMz6d", "phone_number", "phone_number"),
    "category": ("Ty4Gf9WqRe2a", "multiple_choice", "choice"),
    "message": ("Px7Cd1KuJi5o", "long_text", "text"),
}


class TypeformSim(PlatformSim):
    """Typeform Responses API: `GET /forms/{form_id}/responses`, personal access token as Bearer.

    Parameters as documented: `page_size` (1-1000, default 25), `since`/`until` (ISO 8601 UTC
    or epoch seconds, on `submitted_at`, inclusive), `after`/`before` (a response token),
    `sort` (`submitted_at,desc` by default, or `submitted_at,asc`). With `after` the responses
    come in the order Typeform processed them, so passing the last item's token as the next
    `after` walks every response once. Body `{"total_items", "page_count", "items": [...]}`
    where `total_items` counts the responses matching the filters. Errors are `{"code",
    "description"}` (401 AUTHENTICATION_FAILED, 400 VALIDATION_ERROR, 404 FORM_NOT_FOUND).
    Responses are immutable once submitted, so `edit()` is refused. Assumed where the docs
    are silent: processing order is submission order; an unknown `after`/`before` token is a
    400; `before` returns the responses just before the token, newest first.
    """

    name = "typeform"
    max_page_size = 1000

    def __init__(self, *, form_id: str = "lT4Z3j", token: str = "tfp_test_personal_access_token",
                 now: Now | None = None):
        super().__init__(now=now)
        self.form_id = form_id
        self.token = token

    @property
    def responses_path(self) -> str:
        return f"/forms/{self.form_id}/responses"

    def record_id(self, record: dict[str, Any]) -> str:
        return str(record["token"])

    def sort_key(self, record: dict[str, Any]) -> tuple:
        return (_epoch(record["submitted_at"]), str(record["token"]))

    def edit(self, record_id: str | int, *, at: datetime | None = None, **changes: Any) -> dict[str, Any]:
        raise NotImplementedError("Typeform responses are immutable once submitted; add a new response instead")

    def _is_data(self, request: SimRequest) -> bool:
        return request.method == "GET" and request.path == self.responses_path

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"code": "RATE_LIMIT_EXCEEDED", "description": "Too many requests"}
        return {"code": "INTERNAL_SERVER_ERROR", "description": "Something went wrong"}

    @staticmethod
    def _invalid(description: str) -> Reply:
        return Reply(400, {"code": "VALIDATION_ERROR", "description": description})

    def handle(self, request: SimRequest) -> Reply:
        if request.method == "GET" and request.path.startswith("/forms/") and request.path.endswith("/responses"):
            if request.bearer_token() is None:
                return Reply(401, {"code": "AUTHENTICATION_FAILED",
                                   "description": "Authentication credentials not found on the Request Headers"})
            if request.bearer_token() != self.token:
                return Reply(401, {"code": "AUTHENTICATION_FAILED", "description": "Invalid token"})
            if request.path != self.responses_path:
                form = request.path.split("/")[2]
                return Reply(404, {"code": "FORM_NOT_FOUND", "description": f"Non existing form with uid {form}"})
            return self._responses(request.query)
        return Reply(404, {"code": "NOT_FOUND", "description": "Endpoint not found"})

    def _instant(self, query: Mapping[str, str], name: str) -> int | None:
        value = query.get(name)
        if not value:
            return None
        if value.isdigit():
            return int(value)
        try:
            return _epoch(value)
        except ValueError:
            raise _BadRequest(self._invalid(f"{name}: must be a date-time in ISO 8601 or a timestamp")) from None

    def _token_index(self, query: Mapping[str, str], name: str) -> int | None:
        token = query.get(name)
        if not token:
            return None
        if token not in self._position:
            raise _BadRequest(self._invalid(f"{name}: unknown response token"))
        return self._position[token]

    def _responses(self, query: Mapping[str, str]) -> Reply:
        size = _int_param(query, "page_size", 25, self._invalid)
        if size is None or not 1 <= size <= self.max_page_size:
            return self._invalid(f"page_size: must be between 1 and {self.max_page_size}")
        sort = query.get("sort", "submitted_at,desc").replace(" ", "")
        if sort not in ("submitted_at,desc", "submitted_at,asc"):
            return self._invalid("sort: expected submitted_at,asc or submitted_at,desc")
        since, until = self._instant(query, "since"), self._instant(query, "until")
        after, before = self._token_index(query, "after"), self._token_index(query, "before")
        lo = bisect.bisect_left(self._keys, (since, "")) if since is not None else 0
        hi = bisect.bisect_right(self._keys, (until, "\uffff")) if until is not None else len(self._keys)
        repeat = self._consume_repeat(after is not None or before is not None)
        if after is not None:
            lo = max(lo, after if repeat else after + 1)
        if before is not None:
            hi = min(hi, before + 1 if repeat else before)
        total = max(0, hi - lo)
        if after is not None or (before is None and sort == "submitted_at,asc"):
            items = Encoded(self._encoded[lo:min(hi, lo + size)] if total else [])
        else:
            items = Encoded(self._encoded[max(lo, hi - size):hi][::-1] if total else [])
        return Reply(200, {"total_items": total, "page_count": math.ceil(total / size), "items": items})


def typeform_response(
    token: str | int,
    submitted_at: datetime | str,
    *,
    message: str | None,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    category: str | None = None,
    landed_at: datetime | str | None = None,
    hidden: dict[str, str] | None = None,
    form_id: str = "lT4Z3j",
) -> dict[str, Any]:
    """A completed response of the sample contact form; answers keyed by the fields' refs.

    Typeform leaves unanswered fields out of `answers`, so a None value adds no answer; an
    int token becomes a 32-character one, as Typeform's are.
    """
    submitted = _utc(submitted_at)
    value = hashlib.md5(f"typeform-{token}".encode()).hexdigest() if isinstance(token, int) else token
    given = {"name": name, "email": email, "phone": phone, "category": category, "message": message}
    answers = []
    for ref, (field_id, field_type, answer_type) in TYPEFORM_FIELDS.items():
        if given[ref] is None:
            continue
        answer: dict[str, Any] = {"field": {"id": field_id, "ref": ref, "type": field_type}, "type": answer_type}
        if answer_type == "choice":
            choice_ref = hashlib.md5(given[ref].encode()).hexdigest()[:12]
            answer["choice"] = {"id": choice_ref, "ref": f"choice-{choice_ref}", "label": given[ref]}
        else:
            answer[answer_type] = given[ref]
        answers.append(answer)
    landed = _utc(landed_at) if landed_at is not None else submitted - timedelta(minutes=3)
    return {
        "landing_id": value,
        "token": value,
        "response_id": value,
        "response_type": "completed",
        "landed_at": _iso_z(landed),
        "submitted_at": _iso_z(submitted),
        "metadata": {
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/126.0 Safari/537.36",
            "platform": "other",
            "referer": f"https://example.typeform.com/to/{form_id}",
            "network_id": value[:10],
            "browser": "default",
        },
        "hidden": dict(hidden or {}),
        "calculated": {"score": 0},
        "answers": answers,
        "tags": [],
    }
