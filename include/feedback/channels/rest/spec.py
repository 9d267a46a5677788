"""The declarative spec of a REST source: one YAML entry describes how to page and map an API.

A data engineer adds a platform by writing data, not code, so every mistake in
that data has to surface when the configuration loads (with the key path), not
on the first night the DAG runs: unknown keys are errors, JMESPath expressions
are compiled (and their function names checked), and the keys each pagination
or auth type needs are required by name.

The models here are embedded in `feedback.channels.config.Platform` (which adds
name, base_url, connection, enabled, python_class); like every configuration
model they are `feedback.configfile.Strict`.
"""

from __future__ import annotations

import collections.abc
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.functions import Functions
from jmespath.parser import ParsedResult
from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from feedback.configfile import Strict

_KNOWN_FUNCTIONS = frozenset(Functions.FUNCTION_TABLE)
# Headers that carry credentials: they come from the Airflow connection, never from YAML.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "apikey"})


# --- JMESPath -----------------------------------------------------------------------------------


_Node = collections.abc.Mapping[str, Any]   # a node of jmespath's syntax tree


class FieldPath:
    """A JMESPath expression that only names fields (`subject`, `via.source.from.name`), looked up directly.

    Most mapping keys are such paths and run on every record of every page; JMESPath's tree
    interpreter spends ten times a dictionary lookup on each (issue 17). Same results: a
    field of anything but an object, or of a missing value, is null.
    """

    __slots__ = ("expression", "keys", "parsed")

    def __init__(self, expression: str, keys: tuple[str, ...], parsed: _Node) -> None:
        self.expression = expression
        self.keys = keys
        self.parsed = parsed   # the syntax tree, as jmespath's ParsedResult has it

    def search(self, value: Any) -> Any:
        for key in self.keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value


def _field_keys(node: _Node) -> tuple[str, ...] | None:
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] == "subexpression":
        keys: list[str] = []
        for child in node["children"]:
            part = _field_keys(child)
            if part is None:
                return None
            keys.extend(part)
        return tuple(keys)
    return None


@lru_cache(maxsize=1024)
def compiled(expression: str) -> ParsedResult | FieldPath:
    """The compiled expression, cached: the same few expressions run on every record of every page."""
    parsed = jmespath.compile(expression)
    keys = _field_keys(parsed.parsed)
    return FieldPath(expression, keys, parsed.parsed) if keys else parsed


def _function_names(node: Any) -> set[str]:
    if isinstance(node, dict):
        names = {node["value"]} if node.get("type") == "function_expression" else set()
        for child in node.get("children", ()):
            names |= _function_names(child)
        return names
    if isinstance(node, list):
        return set().union(*(_function_names(child) for child in node)) if node else set()
    return set()


def check_jmespath(expression: str) -> str:
    """Validator: the expression compiles and calls only known functions (jmespath checks those late)."""
    if not expression.strip():
        raise ValueError("expected a JMESPath expression, got an empty text")
    try:
        parsed = compiled(expression)
    except jmespath_errors.IncompleteExpressionError:
        raise ValueError(f"not a valid JMESPath expression: it is incomplete in {expression!r}") from None
    except jmespath_errors.LexerError as exc:
        raise ValueError(
            f"not a valid JMESPath expression: {exc.message.lower()} at column {exc.lexer_position} in {expression!r}"
        ) from None
    except jmespath_errors.ParseError as exc:
        raise ValueError(
            f"not a valid JMESPath expression: {exc.msg.lower()} at column {exc.lex_position} in {expression!r}"
        ) from None
    unknown = sorted(_function_names(parsed.parsed) - _KNOWN_FUNCTIONS)
    if unknown:
        raise ValueError(f"unknown JMESPath function {unknown[0]}() in {expression!r}")
    return expression


JmesPath = Annotated[str, AfterValidator(check_jmespath)]


def parse_instant(value: Any) -> datetime:
    """A point in time from config: ISO 8601 text (naive means UTC) or a YAML timestamp."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected an ISO 8601 date-time such as 2026-01-01T00:00:00Z, got {value!r}") from None
    else:
        raise ValueError(f"expected an ISO 8601 date-time such as 2026-01-01T00:00:00Z, got {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _only_for(model: BaseModel, kind: str, allowed: dict[str, set[str]], all_keys: set[str], what: str) -> None:
    """Reject keys set for another type: a cursor_param under page_number is a mistake, not a no-op."""
    stray = sorted(k for k in all_keys - allowed.get(kind, set()) if k in model.model_fields_set)
    if stray:
        owners = [t for t, keys in allowed.items() if stray[0] in keys]
        raise ValueError(f"{stray[0]} applies to {what} {' / '.join(owners)}, not {kind}")


def _require(model: BaseModel, kind: str, keys: list[str], what: str, why: str) -> None:
    missing = [k for k in keys if getattr(model, k) in (None, "")]
    if missing:
        raise ValueError(f"{what} {kind} needs {' and '.join(missing)} ({why})")


# --- the spec -----------------------------------------------------------------------------------


class Auth(Strict):
    """How requests prove who we are; the secret values come from the Airflow connection."""

    type: Literal["none", "bearer", "basic", "api_key", "oauth2_client_credentials"] = "none"
    in_: Literal["header", "query"] = Field("header", alias="in")
    name: str | None = None
    token_url: str | None = None
    scope: str | None = None

    @model_validator(mode="after")
    def _keys_for_type(self) -> Auth:
        allowed = {"api_key": {"in_", "name"}, "oauth2_client_credentials": {"token_url", "scope"}}
        stray = sorted(k for k in {"in_", "name", "token_url", "scope"} - allowed.get(self.type, set())
                       if k in self.model_fields_set)
        if stray:
            key = "in" if stray[0] == "in_" else stray[0]
            raise ValueError(f"{key} does not apply to auth type {self.type}")
        if self.type == "api_key":
            _require(self, "api_key", ["name"], "auth type", "the header or query parameter carrying the key")
        if self.type == "oauth2_client_credentials":
            _require(self, "oauth2_client_credentials", ["token_url"], "auth type",
                     "the token endpoint, absolute or relative to base_url")
            if not re.match(r"^(https?://[^/\s]+|/)", self.token_url or ""):
                raise ValueError("token_url: expected an http(s):// URL or a path starting with /")
        return self


Scalar = str | int | bool


class Request(Strict):
    """The first request of a traversal; pagination and `since` add their parameters to it."""

    path: str
    params: dict[str, Scalar] = {}
    headers: dict[str, str] = {}
    timeout_seconds: float = Field(30, gt=0, le=600)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"expected a path starting with / (relative to base_url), got {value!r}")
        return value

    @field_validator("headers")
    @classmethod
    def _no_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.lower() in _SECRET_HEADERS:
                raise ValueError(f"header {name!r} carries a secret: set auth and keep the value in the connection")
        return value


_PAGINATION_KEYS = {
    "cursor": {"cursor_param", "cursor_path", "stop_path"},
    "next_link": {"next_path"},
    "page_number": {"page_param", "start_page", "size_param", "page_size"},
    "offset": {"offset_param", "limit_param", "limit"},
}


class Pagination(Strict):
    """How to get from one page to the next, and how to tell the last page."""

    type: Literal["none", "cursor", "next_link", "page_number", "offset"] = "none"
    cursor_param: str | None = None
    cursor_path: JmesPath | None = None
    stop_path: JmesPath | None = None
    next_path: JmesPath | None = None
    page_param: str | None = None
    start_page: int = Field(1, ge=0)
    size_param: str | None = None
    page_size: int | None = Field(None, ge=1)
    offset_param: str | None = None
    limit_param: str | None = None
    limit: int | None = Field(None, ge=1)
    max_pages_per_run: int = Field(1000, ge=1)

    @model_validator(mode="after")
    def _keys_for_type(self) -> Pagination:
        _only_for(self, self.type, _PAGINATION_KEYS, set().union(*_PAGINATION_KEYS.values()), "pagination type")
        if self.type == "cursor":
            _require(self, "cursor", ["cursor_param", "cursor_path"], "pagination type",
                     "the query parameter to send and where the next cursor is in the body")
        elif self.type == "page_number":
            _require(self, "page_number", ["page_param"], "pagination type", "the query parameter of the page")
            if self.size_param and not self.page_size:
                raise ValueError("pagination size_param needs page_size (the value to send)")
        elif self.type == "offset":
            _require(self, "offset", ["offset_param", "limit"], "pagination type",
                     "the query parameter of the offset and the page size the API uses")
        return self

    def query_names(self) -> set[str]:
        """Query parameters this pagination sets itself (static params must not repeat them)."""
        names = {self.cursor_param, self.page_param, self.size_param, self.offset_param, self.limit_param}
        return {n for n in names if n}


class Since(Strict):
    """Incremental pulls: ask only for records changed after a watermark kept in the position."""

    param: str
    format: Literal["epoch", "epoch_ms", "iso8601"] = "iso8601"
    field: JmesPath
    overlap_seconds: int = Field(300, ge=0)
    initial: datetime | None = None

    @field_validator("initial", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> datetime | None:
        return None if value is None else parse_instant(value)

    def render(self, moment: datetime) -> str | int:
        """The lower bound as the API wants it; whole seconds (rounded down, so never later than asked)."""
        moment = moment.astimezone(UTC)
        if self.format == "epoch":
            return int(moment.timestamp() // 1)
        if self.format == "epoch_ms":
            return int(moment.timestamp() * 1000 // 1)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Retry(Strict):
    max_attempts: int = Field(6, ge=1, le=20)
    backoff_seconds: float = Field(1.0, ge=0)
    max_backoff_seconds: float = Field(60, ge=0)
    retry_statuses: list[int] = [429, 500, 502, 503, 504]

    @field_validator("retry_statuses")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        for status in value:
            if not 400 <= status <= 599:
                raise ValueError(f"expected HTTP error statuses (400-599), got {status}")
        return value


class RateLimit(Strict):
    requests_per_minute: float | None = Field(None, gt=0)
    remaining_header: str | None = "X-RateLimit-Remaining"
    reset_header: str | None = "X-RateLimit-Reset"
    max_wait_seconds: float = Field(300, ge=0)


_TEXT_FIELDS = ("subject", "contact_name", "contact_email", "contact_phone", "locale", "url")


class Mapping(Strict):
    """JMESPath expressions evaluated on one record to fill the intake item."""

    external_id: JmesPath
    received_at: JmesPath
    updated_at: JmesPath | None = None
    subject: JmesPath | None = None
    body: JmesPath
    contact_name: JmesPath | None = None
    contact_email: JmesPath | None = None
    contact_phone: JmesPath | None = None
    locale: JmesPath | None = None
    rating: JmesPath | None = None
    url: JmesPath | None = None
    extra: dict[str, JmesPath] = {}

    @field_validator("extra")
    @classmethod
    def _extra_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", name):
                raise ValueError(f"extra name {name!r}: expected letters, digits and _")
        return value


class RestSpec(Strict):
    """Everything the generic engine needs to pull one REST API; see include/config/channels.yaml."""

    auth: Auth = Field(default_factory=Auth)
    request: Request
    records: JmesPath
    pagination: Pagination = Field(default_factory=Pagination)
    since: Since | None = None
    retry: Retry = Field(default_factory=Retry)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    mapping: Mapping

    @model_validator(mode="after")
    def _params_do_not_clash(self) -> RestSpec:
        engine_set = {name: "pagination" for name in self.pagination.query_names()}
        if self.since:
            engine_set[self.since.param] = "since.param"
        if self.auth.type == "api_key" and self.auth.in_ == "query" and self.auth.name:
            engine_set[self.auth.name] = "auth (api_key in query)"
        for name in self.request.params:
            if name in engine_set:
                raise ValueError(f"request.params.{name} is set by {engine_set[name]}; remove it from params")
        if self.since and self.since.param in self.pagination.query_names():
            raise ValueError(f"since.param {self.since.param!r} is also a pagination parameter")
        return self
