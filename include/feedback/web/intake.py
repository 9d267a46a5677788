"""POST /intake/{form}: one web-form submission in, a receipt out, or a precise refusal.

The checks run cheapest and least revealing first: an unknown form or an oversize
body is refused before anything is parsed, a request that is not from the form's
site before the rate counter or the schema tells it anything. Nothing is stored
unless every check passed, and the 202 is sent only after the landing row is
committed, so a receipt always stands for a stored submission. Answers and log
lines carry form names, receipt ids, status codes and field names, never values.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qsl

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from feedback.channels.config import WebForm
from feedback.errors import ConfigError, RegisterUnreachable
from feedback.web import landing
from feedback.web.attachments import (
    ALLOWED_TYPES,
    AttachmentRejected,
    Upload,
    check_attachments,
    store_attachments,
)
from feedback.web.runtime import IntakeRuntime
from feedback.web.schema import (
    HONEYPOT,
    LOCALE,
    SURROGATE,
    InvalidSubmission,
    validate_fields,
    validate_locale,
)
from feedback.web.verify import MAX_SKEW_SECONDS, SecretMissing, Signed, Unauthorized, verify

log = logging.getLogger(__name__)

T = TypeVar("T")

ALLOWED_REQUEST_HEADERS = "Content-Type, Idempotency-Key, Authorization, X-Feedback-Timestamp, X-Feedback-Signature"
EXPOSED_HEADERS = "Retry-After, Idempotent-Replayed"
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
FORM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_FORM_PARTS = 200
CONTENT_LENGTH = re.compile(r"^[0-9]{1,15}$")
# Remember a signature a little past its window: API-server workers' clocks differ by seconds.
SIGNATURE_MEMORY_MARGIN = timedelta(seconds=60)


class Reject(Exception):
    """A refusal: status, the JSON body to answer with, extra headers, and a short code for the log."""

    def __init__(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None):
        super().__init__(str(body.get("error", "error")))
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


@dataclass(frozen=True)
class Parsed:
    fields: dict[str, object]    # as sent: text, an Upload, or anything JSON holds; validated by web.schema
    locale: object
    uploads: list[Upload]


def shown_name(name: str) -> str:
    """A form name from the URL, safe for a log line."""
    return name if FORM_NAME.match(name) else "(not a form name)"


def find_form(runtime: IntakeRuntime, name: str) -> WebForm:
    try:
        form = runtime.forms().get(name)
    except ConfigError as exc:
        log.error("webform intake: configuration error: %s", exc)
        raise Reject(503, {"error": "unavailable", "reason": "the intake configuration is invalid"}) from None
    if form is None:
        raise Reject(404, {"error": "unknown_form"})
    return form


def cors_headers(form: WebForm | None, origin: str | None) -> dict[str, str]:
    """CORS answers only for the form's own sites; everyone else gets no Access-Control-Allow-Origin."""
    if form is None or not form.allowed_origins:
        return {}
    headers = {"Vary": "Origin"}
    if origin and origin.rstrip("/").lower() in form.allowed_origins:
        headers.update({"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSED_HEADERS})
    return headers


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` (declared or actually read)."""
    too_large = Reject(413, {"error": "too_large", "reason": f"the body is larger than {limit} bytes"})
    declared = request.headers.get("content-length")
    if declared is not None:
        if not CONTENT_LENGTH.match(declared.strip()):
            raise Reject(400, {"error": "malformed", "reason": "invalid Content-Length"})
        if int(declared) > limit:
            raise too_large
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:
        # Nothing was parsed, counted or stored yet; the answer goes nowhere but keeps the log honest.
        raise Reject(400, {"error": "incomplete", "reason": "the client disconnected before the body ended"}) from None
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _has_lone_surrogate(doc: object) -> bool:
    """Whether any key or text in the document is not Unicode text (a lone \\ud800-\\udfff escape).

    Iterative on purpose: the document may be nested as deep as the parser allowed.
    """
    pending: list[object] = [doc]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _parse_json(body: bytes) -> Parsed:
    """Strict JSON: UTF-8, no NaN/Infinity, no lone surrogates; any nesting or number size is a 400, not a crash."""
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError):  # JSONDecodeError, and int() refusing thousands of digits
        raise Reject(400, {"error": "malformed", "reason": "the body is not UTF-8 JSON"}) from None
    except RecursionError:
        raise Reject(400, {"error": "malformed", "reason": "the JSON is nested too deeply"}) from None
    if _has_lone_surrogate(doc):
        raise Reject(400, {"error": "malformed", "reason": "the JSON has a lone surrogate (not Unicode text)"})
    if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict) or set(doc) - {"fields", "locale"}:
        raise Reject(422, {"error": "invalid", "reason": 'expected {"fields": {...}, "locale": "..."}'})
    return Parsed(doc["fields"], doc.get("locale"), [])


def _split_items(items: Sequence[tuple[str, object]]) -> Parsed:
    """Form items into fields, locale and files; a field given twice is an error, not a silent pick."""
    fields: dict[str, object] = {}
    repeated: set[str] = set()
    uploads: list[Upload] = []
    locale: object = None
    for key, value in items:
        if key == "attachments" and isinstance(value, Upload):
            uploads.append(value)
        elif key == "attachments" and value == "":
            continue  # an empty file input sent without a filename
        elif key == "locale":
            locale = value
        elif key in fields:
            repeated.add(key)
        else:
            fields[key] = value
    if repeated:
        named = {k: "given more than once" for k in repeated if FORM_NAME.match(k) or k == HONEYPOT}
        raise InvalidSubmission(named or {"_unknown": "a field is given more than once"})
    return Parsed(fields, locale, uploads)


def _parse_urlencoded(body: bytes) -> Parsed:
    try:
        items = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FORM_PARTS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise Reject(400, {"error": "malformed", "reason": "the body is not a UTF-8 form"}) from None
    return _split_items(items)


class StrictMultiPartParser(MultiPartParser):
    """Starlette's parser, but text that is not UTF-8 is an error instead of a silent Latin-1 reading.

    Browsers send form fields and file names in UTF-8; anything else would be stored as
    mojibake (or with surrogates PostgreSQL refuses), so the request is refused instead.
    """

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._current_part.content_disposition)
        for key in (b"name", b"filename"):
            _strict_text(options.get(key, b""))
        super().on_headers_finished()

    def on_part_end(self) -> None:
        if self._current_part.file is None:
            _strict_text(self._current_part.data)
        super().on_part_end()


def _strict_text(data: bytes | bytearray) -> None:
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise MultiPartException("a field or file name is not UTF-8") from None


def _check_multipart_charset(request: Request) -> None:
    """Only UTF-8 (or its subset ASCII) may be declared; an unknown charset is not read as Latin-1."""
    params = request.headers.get("content-type", "").split(";")[1:]
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            try:
                codec = codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                codec = ""
            if codec not in ("utf-8", "ascii"):
                raise Reject(400, {"error": "malformed", "reason": "multipart bodies must be UTF-8"})


async def _parse_multipart(request: Request, body: bytes, form: WebForm) -> Parsed:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    _check_multipart_charset(request)
    parser = StrictMultiPartParser(request.headers, stream(), max_files=MAX_FORM_PARTS, max_fields=MAX_FORM_PARTS,
                                   max_part_size=form.max_bytes)
    try:
        data = await parser.parse()
    except MultiPartException:
        raise Reject(400, {"error": "malformed", "reason": "the multipart body cannot be read"}) from None
    items: list[tuple[str, object]] = []
    try:
        for key, value in data.multi_items():
            if isinstance(value, UploadFile):
                content = await value.read()
                if not value.filename and not content:
                    continue  # an empty file input: browsers send it when no file was chosen
                if key == "attachments":
                    items.append((key, Upload(value.filename or "", value.content_type or "", content)))
                else:
                    items.append((key, object()))  # a file where text belongs: "unknown field" / "must be text"
            else:
                items.append((key, value))
    finally:
        await data.close()
    return _split_items(items)


async def parse_body(request: Request, body: bytes, form: WebForm) -> Parsed:
    kind = media_type(request)
    if kind == "application/json":
        return _parse_json(body)
    if kind == "application/x-www-form-urlencoded":
        return _parse_urlencoded(body)
    if kind == "multipart/form-data":
        return await _parse_multipart(request, body, form)
    raise Reject(415, {"error": "unsupported_media_type",
                       "reason": "send application/json, application/x-www-form-urlencoded or multipart/form-data"})


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key.strip()):
        raise Reject(400, {"error": "malformed", "reason": "Idempotency-Key must be 1-255 printable ASCII characters"})
    return key.strip()


def register_work(work: Callable[[], T], who: str = "webform intake") -> T:
    """Run register work for an API answer: unreachable is a 503, any other refusal a 500.

    Logged by kind only: a database error may quote the statement's parameters (the customer's
    fields, a CRM's free text), which must never reach a log or a traceback.
    """
    with _register_answers(who):
        return work()


@contextmanager
def _register_answers(who: str, unavailable: tuple[type[BaseException], ...] = (),
                      refused: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """The register's failures as API answers, for both drivers: SQLAlchemy's, and asyncpg's given as
    `unavailable` (a 503, retry later) and `refused` (a 500). Logged by the error's kind only."""
    try:
        yield
    except (RegisterUnreachable, sa.exc.OperationalError, sa.exc.InterfaceError) + unavailable as exc:
        log.error("%s: the register is unavailable (%s)", who, type(exc).__name__)
        raise Reject(503, {"error": "unavailable", "reason": "the register is unavailable, retry later"}) from None
    except (sa.exc.SQLAlchemyError,) + refused as exc:
        log.error("%s: the register refused the write (%s)", who, type(exc).__name__)
        raise Reject(500, {"error": "internal"}) from None


def check_rate(runtime: IntakeRuntime, form: WebForm, client: str) -> None:
    now = runtime.now()

    def hit() -> int:
        with runtime.engine().begin() as conn:
            return landing.count_hit(conn, client, form.name, now)

    if register_work(hit) > form.rate_limit_per_minute:
        raise _rate_limited(now)


def _rate_limited(now: datetime) -> Reject:
    wait = landing.retry_after_seconds(now)
    return Reject(429, {"error": "rate_limited", "retry_after": wait}, {"Retry-After": str(wait)})


async def store_plain(runtime: IntakeRuntime, form: WebForm, parsed: Parsed, key: str | None,
                      address: str) -> tuple[str, bool]:
    """An unsigned submission without files: the rate-limit hit and the row in one statement and one commit.

    What the client sees is what the two-step path gives: every request counts once against its
    minute, and a client over its limit gets 429 whatever it sent (a refused one is counted alone).
    Runs on the event loop (asyncpg, `landing_async`): no thread hop for the usual submission.
    """
    client = landing.client_hash(address, await _hash_key(runtime))
    try:
        fields = validate_fields(form, parsed.fields)
        locale = validate_locale(parsed.locale, form)
    except InvalidSubmission:
        await _check_rate_async(runtime, form, client)
        raise
    row = landing.Landing(form.name, key, runtime.now(), locale, fields, [], client)
    landed = await register_work_async(runtime.async_landing().count_and_land(row, form.rate_limit_per_minute))
    if landed is None:
        raise _rate_limited(row.received_at)
    return landed


async def register_work_async(work: Awaitable[T], who: str = "webform intake") -> T:
    """`register_work` for the event loop's statements (asyncpg): unreachable is a 503, any other refusal a 500.

    Logged by kind only, for the same reason: a refusal may quote the customer's fields.
    """
    from feedback.web.landing_async import REFUSED, UNAVAILABLE

    with _register_answers(who, UNAVAILABLE, REFUSED):
        return await work


async def _hash_key(runtime: IntakeRuntime) -> bytes:
    """The client-hash key; read (a file, the first time) in a worker thread, then straight from memory."""
    if runtime.resolved("hash_key"):
        return runtime.hash_key()
    return await run_in_threadpool(runtime.hash_key)


async def _check_rate_async(runtime: IntakeRuntime, form: WebForm, client: str) -> None:
    now = runtime.now()
    if await register_work_async(runtime.async_landing().count_hit(client, form.name, now)) > form.rate_limit_per_minute:
        raise _rate_limited(now)


async def _count_refused(runtime: IntakeRuntime, form: WebForm, address: str) -> None:
    """A request refused before it reached the register still counts against its client's minute."""
    await _check_rate_async(runtime, form, landing.client_hash(address, await _hash_key(runtime)))


def store(runtime: IntakeRuntime, form: WebForm, parsed: Parsed, key: str | None, client: str,
          signed: Signed | None = None) -> tuple[str, bool]:
    """Validate everything, then write files and the landing row; returns (receipt id, replayed).

    A signed request is remembered by its signature until its window closes, so the same
    request sent again inside the window answers the first receipt and lands nothing.
    """
    fields = validate_fields(form, parsed.fields)
    locale = validate_locale(parsed.locale, form)
    attachments = check_attachments(form, parsed.uploads)
    stored = store_attachments(runtime.attachments_dir(), attachments) if attachments else []
    row = landing.Landing(form.name, key, runtime.now(), locale, fields, stored, client)
    if signed is not None:
        expires = datetime.fromtimestamp(signed.timestamp + MAX_SKEW_SECONDS, UTC) + SIGNATURE_MEMORY_MARGIN
        row = landing.Landing(form.name, key, row.received_at, locale, fields, stored, client,
                              signature=signed.digest, signature_expires_at=expires)

    def write() -> tuple[str, bool]:
        with runtime.engine().begin() as conn:
            return landing.land(conn, row)

    return register_work(write)


async def _accept(runtime: IntakeRuntime, form: WebForm, request: Request) -> JSONResponse:
    body = await read_body(request, form.max_request_bytes(media_type(request) == "multipart/form-data"))
    try:
        signed = verify(form, request.headers, body, runtime.connection_lookup, runtime.now().timestamp())
    except Unauthorized as bad:
        raise Reject(401, {"error": "unauthorized", "reason": bad.reason}) from None
    except SecretMissing as exc:
        log.error("webform %s: %s", form.name, exc)
        raise Reject(503, {"error": "unavailable", "reason": str(exc)}) from None
    address = request.client.host if request.client else "unknown"
    try:
        if signed is None and media_type(request) != "multipart/form-data":
            # No thread hop, one statement, one commit (store_plain).
            try:
                parsed = await parse_body(request, body, form)
                key = idempotency_key(request)
            except Reject:
                await _count_refused(runtime, form, address)
                raise
            receipt, replayed = await store_plain(runtime, form, parsed, key, address)
        else:
            client = landing.client_hash(address, await run_in_threadpool(runtime.hash_key))
            await run_in_threadpool(check_rate, runtime, form, client)
            parsed = await parse_body(request, body, form)
            key = idempotency_key(request)
            receipt, replayed = await run_in_threadpool(store, runtime, form, parsed, key, client, signed)
    except InvalidSubmission as bad:
        raise Reject(422, {"error": "invalid", "fields": bad.errors} if bad.errors else {"error": "invalid"}) from None
    except AttachmentRejected as bad:
        answer: dict[str, object] = {"error": "too_large", "reason": bad.reason} if bad.status == 413 else {
            "error": "invalid", "fields": {"attachments": bad.reason}}
        raise Reject(bad.status, answer) from None
    log.info("webform %s: 202 receipt %s%s", form.name, receipt, " (replayed: stored once)" if replayed else "")
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    # Triage mails the case number to a given address (notify.acknowledge): the page says so.
    email = parsed.fields.get("email")
    by_mail = form.acknowledge and isinstance(email, str) and bool(email.strip())
    return JSONResponse({"receipt_id": receipt, "status": "received", "case_number_by_mail": by_mail},
                        status_code=202, headers=headers)


_REFUSAL = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "reason": {"type": "string"},
    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
    "retry_after": {"type": "integer"}}}


def _refusal(description: str) -> dict[str, object]:
    return {"description": description, "content": {"application/json": {"schema": _REFUSAL}}}


_FIELDS = {"type": "object", "description": "The form's fields (channels.yaml webforms.forms[].fields), as text",
           "additionalProperties": {"type": "string", "maxLength": 100_000},
           "example": {"name": "张三", "phone": "13812345678", "message": "支付失败，扣款两次"}}
_LOCALE = {"type": "string", "pattern": LOCALE.pattern, "description": "The page's language tag, e.g. zh-CN"}
_FORM_BODY = {"type": "object", "properties": {"locale": _LOCALE}, "additionalProperties": {"type": "string"}}

# Every answer of POST /intake/{form}, for the OpenAPI schema below.
_RESPONSES: dict[str, dict[str, object]] = {
    "202": {"description": "Stored (or a replay of a stored one: header Idempotent-Replayed: true)",
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["receipt_id", "status"],
                "properties": {"receipt_id": {"type": "string", "pattern": "^wf-[0-9a-z]{26}$"},
                               "status": {"type": "string", "enum": ["received"]},
                               "case_number_by_mail": {"type": "boolean", "description":
                                                       "the case number will be mailed to the given address"}}}}}},
    "400": _refusal("Malformed: not UTF-8, not JSON, nested too deeply, a bad header, the client hung up"),
    "401": _refusal("Not from the form's site: missing/invalid token or signature, expired signature"),
    "404": _refusal("No such form"),
    "413": _refusal("Body or attachments too large"),
    "415": _refusal("Not JSON, urlencoded or multipart"),
    "422": _refusal("Fields that do not fit the form (each named, values never echoed)"),
    "429": _refusal("Too many requests from this client; see Retry-After"),
    "503": _refusal("The register or the form's secret is unavailable"),
}

# What the OpenAPI schema says about POST /intake/{form}: the three body encodings, the headers a
# site may send, and every answer. The handler reads the raw body itself (size limits before
# parsing), so FastAPI cannot infer any of this; schemathesis fuzzes the endpoint from it.
INTAKE_OPENAPI: dict[str, object] = {
    "parameters": [
        {"name": "Idempotency-Key", "in": "header", "required": False,
         "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern},
         "description": "A retry with the same key gets the same receipt and stores nothing new"},
        {"name": "Authorization", "in": "header", "required": False, "schema": {"type": "string"},
         "description": "Bearer <token> for forms with verify: token"},
        {"name": "X-Feedback-Timestamp", "in": "header", "required": False,
         "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
         "description": "Unix seconds of the signature (verify: hmac)"},
        {"name": "X-Feedback-Signature", "in": "header", "required": False,
         "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
         "description": "sha256=HMAC-SHA256(secret, '<timestamp>.<body>') (verify: hmac); a replay inside "
                        "the window gets the first receipt"},
    ],
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["fields"], "additionalProperties": False,
                                        "properties": {"fields": _FIELDS, "locale": _LOCALE}}},
        "application/x-www-form-urlencoded": {"schema": _FORM_BODY},
        "multipart/form-data": {
            "schema": {"type": "object", "additionalProperties": {"type": "string"}, "properties": {
                "locale": _LOCALE,
                "attachments": {"type": "array", "items": {"type": "string", "format": "binary"}, "maxItems": 20}}},
            "encoding": {"attachments": {"contentType": ", ".join(ALLOWED_TYPES)}}},
    }},
    "responses": _RESPONSES,
}


class RawRoute(APIRoute):
    """A route FastAPI documents (OpenAPI, hence the fuzz test) but does not solve parameters for.

    The intake's handlers take the path's form name and the request, and read the body themselves
    (size limits before parsing), so FastAPI's per-request dependency solving for those two decides
    nothing. It cost about 25 µs of CPU per submission: 0.087 against 0.060 ms for a whole request
    with its statement left out (the mounted app driven in process, without HTTP).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            response: Response = await endpoint(request=request, **request.path_params)
            return response

        return handle


def intake_router(runtime: IntakeRuntime) -> APIRouter:
    """The intake routes, bound to one runtime (register, forms, clock, secrets)."""
    router = APIRouter(route_class=RawRoute)
    loaded: list[dict[str, WebForm]] = []  # the forms, once read (runtime.forms() reads them once, in a thread)

    async def form_named(name: str) -> WebForm:
        if not loaded:
            found = await run_in_threadpool(find_form, runtime, name)
            loaded.append(runtime.forms())
            return found
        form = loaded[0].get(name)
        if form is None:
            raise Reject(404, {"error": "unknown_form"})
        return form

    @router.post("/intake/{form_name}", status_code=202, openapi_extra=INTAKE_OPENAPI,
                 responses={status: {} for status in _RESPONSES})
    async def post_submission(form_name: str, request: Request) -> Response:
        form: WebForm | None = None
        try:
            form = await form_named(form_name)
            response: Response = await _accept(runtime, form, request)
        except InvalidSubmission as bad:  # from parsing: a repeated field
            refused = Reject(422, {"error": "invalid", "fields": bad.errors})
            response = refused.response()
            log.info("webform %s: 422 invalid", shown_name(form_name))
        except Reject as refused:
            response = refused.response()
            log.info("webform %s: %d %s", shown_name(form_name), refused.status, refused.body.get("error"))
        response.headers.update(cors_headers(form, request.headers.get("origin")))
        return response

    @router.options("/intake/{form_name}")
    async def preflight(form_name: str, request: Request) -> Response:
        try:
            form = await run_in_threadpool(find_form, runtime, form_name)
        except Reject as refused:
            return refused.response()
        origin = request.headers.get("origin")
        method = request.headers.get("access-control-request-method", "POST").upper()
        allowed = cors_headers(form, origin)
        if "Access-Control-Allow-Origin" not in allowed or method != "POST":
            log.info("webform %s: 403 preflight from an origin not in allowed_origins", form.name)
            return Response(status_code=403, headers={"Vary": "Origin"})
        allowed.update({"Access-Control-Allow-Methods": "POST, OPTIONS",
                        "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS, "Access-Control-Max-Age": "600"})
        return Response(status_code=204, headers=allowed)

    return router
