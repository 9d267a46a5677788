"""The declarative REST spec: a good entry loads; each mistake is one line naming its key path."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from feedback.channels.config import Channels, load_channels
from feedback.channels.rest.spec import RestSpec, Since
from feedback.configfile import parse_model
from feedback.errors import ConfigError

FULL_ENTRY = """\
platforms:
  - name: zendesk
    base_url: https://example.zendesk.com
    enabled: true
    connection: null
    python_class: null
    auth:
      type: bearer
    request:
      path: /api/v2/incremental/tickets/cursor.json
      params: {per_page: 100, include_deleted: false}
      headers: {X-Client: feedback}
      timeout_seconds: 30
    records: tickets
    pagination:
      type: cursor
      cursor_param: cursor
      cursor_path: after_cursor
      stop_path: end_of_stream
      max_pages_per_run: 1000
    since:
      param: start_time
      format: epoch
      field: updated_at
      overlap_seconds: 300
      initial: 2026-01-01T00:00:00Z
    retry:
      max_attempts: 6
      backoff_seconds: 1.0
      max_backoff_seconds: 60
      retry_statuses: [429, 500, 502, 503, 504]
    rate_limit:
      requests_per_minute: null
      remaining_header: X-RateLimit-Remaining
      reset_header: X-RateLimit-Reset
      max_wait_seconds: 300
    mapping:
      external_id: to_string(id)
      received_at: created_at
      updated_at: updated_at
      subject: subject
      body: description
      contact_name: requester.name
      contact_email: requester.email
      contact_phone: null
      locale: null
      rating: satisfaction_rating.score
      url: url
      extra: {status: status, tags: tags}
webforms:
  providers:
    - name: typeform
      base_url: https://api.typeform.com
      auth: {type: bearer}
      request: {path: /forms/abc/responses}
      records: items
      pagination: {type: cursor, cursor_param: before, cursor_path: "items[-1].token"}
      mapping: {external_id: response_id, received_at: submitted_at, body: "answers[0].text"}
"""

MINIMAL = {
    "name": "plain",
    "base_url": "https://api.example.com/v1",
    "request": {"path": "/reviews"},
    "records": "@",
    "mapping": {"external_id": "id", "received_at": "created", "body": "text"},
}


def load_text(tmp_path, text: str) -> Channels:
    (tmp_path / "channels.yaml").write_text(text)
    return load_channels(tmp_path)


def entry(**changes) -> dict:
    """MINIMAL with nested changes: entry(pagination={...}) or entry(**{"request.path": "x"})."""
    data = copy.deepcopy(MINIMAL)
    for key, value in changes.items():
        *parents, last = key.split(".")
        target = data
        for part in parents:
            target = target.setdefault(part, {})
        if value is ...:
            target.pop(last, None)
        else:
            target[last] = value
    return data


def problem(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_model({"platforms": [data]}, Channels, "channels.yaml")
    message = str(err.value)
    assert "\n" not in message
    return message


def test_full_entry_loads_with_every_key(tmp_path):
    channels = load_text(tmp_path, FULL_ENTRY)
    zendesk = channels.platforms[0]
    assert isinstance(zendesk, RestSpec)
    assert zendesk.connection_id == "feedback_platform_zendesk"
    assert zendesk.auth.type == "bearer"
    assert zendesk.request.params == {"per_page": 100, "include_deleted": False}
    assert zendesk.pagination.cursor_path == "after_cursor"
    assert zendesk.since.initial == datetime(2026, 1, 1, tzinfo=UTC)
    assert zendesk.mapping.extra == {"status": "status", "tags": "tags"}
    assert zendesk.python_class is None
    typeform = channels.webforms.providers[0]
    assert typeform.pagination.type == "cursor" and typeform.retry.max_attempts == 6


def test_defaults_of_a_minimal_entry():
    plain = parse_model({"platforms": [MINIMAL]}, Channels, "channels.yaml").platforms[0]
    assert plain.auth.type == "none"
    assert plain.pagination.type == "none" and plain.pagination.max_pages_per_run == 1000
    assert plain.since is None
    assert plain.retry.retry_statuses == [429, 500, 502, 503, 504]
    assert plain.rate_limit.remaining_header == "X-RateLimit-Remaining"
    assert plain.rate_limit.max_wait_seconds == 300
    assert plain.request.timeout_seconds == 30


def test_api_key_and_oauth_and_pagination_types_load():
    good = [
        entry(auth={"type": "api_key", "in": "query", "name": "apikey"}),
        entry(auth={"type": "oauth2_client_credentials", "token_url": "/oauth/token", "scope": "read"}),
        entry(pagination={"type": "next_link"}),
        entry(pagination={"type": "next_link", "next_path": "links.next"}),
        entry(pagination={"type": "page_number", "page_param": "page", "size_param": "per_page", "page_size": 50}),
        entry(pagination={"type": "offset", "offset_param": "offset", "limit_param": "limit", "limit": 100}),
        entry(since={"param": "since", "format": "iso8601", "field": "updated", "initial": "2026-01-01"}),
        entry(python_class="my_pkg.sources:Special"),
    ]
    for data in good:
        parse_model({"platforms": [data]}, Channels, "channels.yaml")
    key = parse_model({"platforms": [good[0]]}, Channels, "x").platforms[0].auth
    assert (key.in_, key.name) == ("query", "apikey")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (entry(pagnation={"type": "cursor"}), "channels.yaml: platforms[0].pagnation: unknown key"),
        (entry(kind="rest"), "platforms[0].kind: unknown key"),
        (entry(**{"request.timeout": 5}), "platforms[0].request.timeout: unknown key"),
        (entry(**{"mapping.descripton": "x"}), "platforms[0].mapping.descripton: unknown key"),
        (entry(**{"mapping.body": ...}), "platforms[0].mapping.body: a value is required"),
        (entry(records=...), "platforms[0].records: a value is required"),
        (entry(**{"mapping.body": "description["}),
         "platforms[0].mapping.body: not a valid JMESPath expression: it is incomplete in 'description['"),
        (entry(records="data..items"), "platforms[0].records: not a valid JMESPath expression"),
        (entry(**{"mapping.external_id": "to_strng(id)"}),
         "platforms[0].mapping.external_id: unknown JMESPath function to_strng() in 'to_strng(id)'"),
        (entry(**{"mapping.extra": {"status": "`open"}}),
         "platforms[0].mapping.extra.status: not a valid JMESPath expression: unclosed ` delimiter"),
        (entry(**{"mapping.extra": {"bad name": "x"}}), "platforms[0].mapping.extra: extra name 'bad name'"),
        (entry(pagination={"type": "cursor", "cursor_param": "cursor"}),
         "platforms[0].pagination: pagination type cursor needs cursor_path"),
        (entry(pagination={"type": "cursor"}),
         "platforms[0].pagination: pagination type cursor needs cursor_param and cursor_path"),
        (entry(pagination={"type": "cursor", "cursor_param": "c", "cursor_path": "next", "page_param": "p"}),
         "platforms[0].pagination: page_param applies to pagination type page_number, not cursor"),
        (entry(pagination={"type": "cursor", "cursor_param": "c", "cursor_path": "next["}),
         "platforms[0].pagination.cursor_path: not a valid JMESPath expression"),
        (entry(pagination={"type": "page_number"}), "platforms[0].pagination: pagination type page_number needs"
                                                    " page_param"),
        (entry(pagination={"type": "page_number", "page_param": "p", "size_param": "n"}),
         "platforms[0].pagination: pagination size_param needs page_size"),
        (entry(pagination={"type": "offset", "offset_param": "o"}),
         "platforms[0].pagination: pagination type offset needs limit"),
        (entry(pagination={"type": "scroll"}), "platforms[0].pagination.type: expected one of"),
        (entry(pagination={"type": "none", "max_pages_per_run": 0}),
         "platforms[0].pagination.max_pages_per_run: input should be greater than or equal to 1, got 0"),
        (entry(auth={"type": "token"}), "platforms[0].auth.type: expected one of"),
        (entry(auth={"type": "api_key"}), "platforms[0].auth: auth type api_key needs name"),
        (entry(auth={"type": "api_key", "name": "k", "in": "cookie"}), "platforms[0].auth.in: expected one of"),
        (entry(auth={"type": "oauth2_client_credentials"}),
         "platforms[0].auth: auth type oauth2_client_credentials needs token_url"),
        (entry(auth={"type": "bearer", "token_url": "/t"}),
         "platforms[0].auth: token_url does not apply to auth type bearer"),
        (entry(auth={"type": "bearer", "token": "abc"}), "platforms[0].auth.token: unknown key"),
        (entry(**{"request.path": "reviews"}), "platforms[0].request.path: expected a path starting with /"),
        (entry(**{"request.headers": {"Authorization": "Bearer x"}}),
         "platforms[0].request.headers: header 'Authorization' carries a secret"),
        (entry(**{"request.timeout_seconds": 0}), "platforms[0].request.timeout_seconds: input should be greater"),
        (entry(since={"param": "since", "field": "updated", "format": "unix"}),
         "platforms[0].since.format: expected one of"),
        (entry(since={"param": "since", "field": "updated", "initial": "yesterday"}),
         "platforms[0].since.initial: expected an ISO 8601 date-time"),
        (entry(since={"param": "since"}), "platforms[0].since.field: a value is required"),
        (entry(since={"param": "start_time", "field": "u"}, **{"request.params": {"start_time": 0}}),
         "platforms[0]: request.params.start_time is set by since.param; remove it from params"),
        (entry(pagination={"type": "offset", "offset_param": "offset", "limit": 10},
               **{"request.params": {"offset": 5}}),
         "platforms[0]: request.params.offset is set by pagination"),
        (entry(**{"retry.retry_statuses": [200]}), "platforms[0].retry.retry_statuses: expected HTTP error statuses"),
        (entry(**{"retry.max_attempts": 0}), "platforms[0].retry.max_attempts: input should be greater"),
        (entry(**{"rate_limit.requests_per_minute": -1}),
         "platforms[0].rate_limit.requests_per_minute: input should be greater than 0"),
        (entry(python_class="not a class"), "platforms[0].python_class: expected 'package.module:ClassName'"),
        (entry(base_url="ftp://x"), "platforms[0].base_url: expected an http:// or https:// URL"),
    ],
)
def test_each_mistake_names_its_key(data, message):
    assert message in problem(data)


def test_form_providers_use_the_same_spec():
    with pytest.raises(ConfigError, match=r"webforms.providers\[0\].pagination: pagination type cursor needs "):
        parse_model({"webforms": {"providers": [entry(pagination={"type": "cursor"})]}}, Channels,
                           "channels.yaml")


def test_bad_jmespath_in_yaml_file_names_file_and_key(tmp_path):
    text = FULL_ENTRY.replace("body: description", "body: description[0")
    with pytest.raises(ConfigError, match=r"channels.yaml: platforms\[0\].mapping.body: not a valid JMESPath"):
        load_text(tmp_path, text)


def test_since_renders_each_format():
    moment = datetime(2026, 10, 1, 8, 30, 15, 900_000, tzinfo=UTC)
    render = {fmt: Since(param="s", field="u", format=fmt).render(moment) for fmt in ("epoch", "epoch_ms", "iso8601")}
    assert render == {"epoch": 1_790_843_415, "epoch_ms": 1_790_843_415_900, "iso8601": "2026-10-01T08:30:15Z"}
