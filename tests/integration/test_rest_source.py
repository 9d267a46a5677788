"""RestSource over real HTTP: every pagination type, incremental `since`, resumable positions, mapping.

The fake APIs below filter by their `since` parameter and page the way real ones
do; resuming from any stored page position must yield exactly what was left.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from rest_server import Reply, RestServer, Seen, records

from feedback.channels.base import InvalidItem
from feedback.channels.config import Platform
from feedback.channels.rest.client import PlatformUnavailable
from feedback.channels.rest.source import PagerStalled, RestSource, load_source
from feedback.errors import ConfigError, FeedbackError

BASE = 1_790_812_800          # 2026-10-01T00:00:00Z, records(i) change at BASE + 60 i
MAPPING = {"external_id": "to_string(id)", "received_at": "created_at", "updated_at": "updated_at",
           "body": "body", "extra": {"status": "status"}}
SINCE = {"param": "start_time", "format": "epoch", "field": "updated_at", "overlap_seconds": 300,
         "initial": "2026-10-01T00:00:00Z"}


@pytest.fixture
def server():
    srv = RestServer().start()
    yield srv
    srv.stop()


def spec(server: RestServer, path: str, records_at: str, pagination: dict, **changes) -> Platform:
    data = {"name": "acme", "base_url": server.url, "request": {"path": path}, "records": records_at,
            "pagination": pagination, "mapping": MAPPING, **changes}
    return Platform.model_validate(data)


def run(platform: Platform, position=None, max_pages=None):
    with RestSource(platform) as source:
        return list(source.pages(position, max_pages=max_pages))


def ids(pages) -> list[int]:
    return [r["id"] for page in pages for r in page.records]


def _lower_bound(seen: Seen) -> int:
    return int(seen.query.get("start_time", 0))


def _rows(data: list[dict], seen: Seen) -> list[dict]:
    return sorted((r for r in data if r["updated_at"] >= _lower_bound(seen)), key=lambda r: (r["updated_at"], r["id"]))


# --- fake APIs, one per pagination style ---------------------------------------------------------------


def cursor_api(data: list[dict], per_page: int = 3, cursor_at_end: bool = False):
    """Zendesk-like: opaque after_cursor, end_of_stream; with cursor_at_end it hands a cursor out at the end too."""

    def handle(seen: Seen) -> Reply:
        rows = _rows(data, seen)
        start = int(seen.query["cursor"][1:]) if "cursor" in seen.query else 0
        chunk = rows[start:start + per_page]
        end = start + len(chunk) >= len(rows)
        after = f"c{start + len(chunk)}" if (cursor_at_end or not end) else None
        return Reply(200, {"tickets": chunk, "after_cursor": after, "end_of_stream": end})

    return handle


def page_api(data: list[dict]):
    def handle(seen: Seen) -> Reply:
        page, size = int(seen.query["page"]), int(seen.query.get("size", 3))
        return Reply(200, {"data": _rows(data, seen)[(page - 1) * size: page * size]})

    return handle


def offset_api(data: list[dict]):
    def handle(seen: Seen) -> Reply:
        offset, limit = int(seen.query["offset"]), int(seen.query.get("limit", 3))
        return Reply(200, {"results": _rows(data, seen)[offset:offset + limit]})

    return handle


def link_api(data: list[dict], server: RestServer, in_header: bool = False):
    """Next links in three spellings: absolute path, relative path, absolute URL (and in a Link header)."""

    def link(page: int, seen: Seen) -> str:
        query = f"page={page}&start_time={_lower_bound(seen)}"
        return [f"/v1/reviews?{query}", f"reviews?{query}", f"{server.url}/v1/reviews?{query}"][page % 3]

    def handle(seen: Seen) -> Reply:
        page = int(seen.query.get("page", 1))
        rows = _rows(data, seen)
        chunk = rows[(page - 1) * 3: page * 3]
        more = page * 3 < len(rows)
        target = link(page + 1, seen) if more else None
        if in_header:
            headers = {"Link": f'<{server.url}/v1/reviews?page=1>; rel="first", <{target}>; rel="next"'} if more else {}
            return Reply(200, chunk, headers=headers)
        return Reply(200, {"items": chunk, "links": {"self": "x", "next": target}})

    return handle


def cursor_spec(server, data, **changes):
    server.route("/tickets", cursor_api(data, cursor_at_end=changes.pop("cursor_at_end", False)))
    pagination = {"type": "cursor", "cursor_param": "cursor", "cursor_path": "after_cursor",
                  "stop_path": "end_of_stream"}
    return spec(server, "/tickets", "tickets", pagination, **{"since": SINCE, **changes})


def page_spec(server, data, **changes):
    server.route("/complaints", page_api(data))
    pagination = changes.pop("pagination", {"type": "page_number", "page_param": "page", "size_param": "size",
                                            "page_size": 3})
    return spec(server, "/complaints", "data", pagination, **changes)


def offset_spec(server, data, **changes):
    server.route("/responses", offset_api(data))
    pagination = {"type": "offset", "offset_param": "offset", "limit_param": "limit", "limit": 3}
    return spec(server, "/responses", "results", pagination, **changes)


def link_spec(server, data, in_header=False, **changes):
    server.route("/v1/reviews", link_api(data, server, in_header))
    pagination = {"type": "next_link", "next_path": None if in_header else "links.next"}
    return spec(server, "/reviews", "@" if in_header else "items", pagination,
                **{"base_url": server.url + "/v1", **changes})


BUILDERS = {"cursor": cursor_spec, "page_number": page_spec, "offset": offset_spec, "next_link": link_spec,
            "link_header": lambda server, data, **c: link_spec(server, data, in_header=True, **c)}


# --- pagination ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_every_pagination_type_reads_all_pages(server, kind):
    data = records(0, 10)
    pages = run(BUILDERS[kind](server, data))
    assert ids(pages) == list(range(10))
    assert [len(p.records) for p in pages][:4] == [3, 3, 3, 1]
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert pages[-1].position["next"] is None
    for page in pages:
        json.dumps(page.position)              # storable as JSON


def test_page_number_stops_on_an_empty_page_when_the_last_one_is_full(server):
    pages = run(page_spec(server, records(0, 9)))
    assert [len(p.records) for p in pages] == [3, 3, 3, 0]
    assert [s.query["page"] for s in server.seen] == ["1", "2", "3", "4"]
    assert server.seen[0].query["size"] == "3"


def test_offset_advances_by_records_received(server):
    run(offset_spec(server, records(0, 7)))
    assert [(s.query["offset"], s.query["limit"]) for s in server.seen] == [("0", "3"), ("3", "3"), ("6", "3")]


def test_next_links_relative_and_absolute_are_followed(server):
    run(link_spec(server, records(0, 10)))
    assert [s.path for s in server.seen] == ["/v1/reviews"] * 4
    assert [s.query.get("page") for s in server.seen] == [None, "2", "3", "4"]


def test_link_header_next_is_followed(server):
    pages = run(link_spec(server, records(0, 7), in_header=True))
    assert ids(pages) == list(range(7))
    assert [s.query.get("page") for s in server.seen] == [None, "2", "3"]


def test_cursor_requests_carry_the_cursor_and_the_same_lower_bound(server):
    run(cursor_spec(server, records(0, 10)))
    assert [s.query.get("cursor") for s in server.seen] == [None, "c3", "c6", "c9"]
    assert {s.query["start_time"] for s in server.seen} == {str(BASE)}


def test_a_body_without_the_records_list_stops_the_run_clearly(server):
    server.route("/tickets", Reply(200, {"error": "nope"}))
    platform = spec(server, "/tickets", "tickets", {"type": "none"})
    with pytest.raises(PlatformUnavailable, match="acme: GET /tickets page 1: records 'tickets' found nothing"):
        run(platform)


def test_link_to_another_host_is_refused(server):
    server.route("/v1/reviews", Reply(200, {"items": records(0, 1), "links": {"next": "http://evil.example/x"}}))
    platform = spec(server, "/reviews", "items", {"type": "next_link", "next_path": "links.next"},
                    base_url=server.url + "/v1")
    with RestSource(platform) as source, pytest.raises(PlatformUnavailable, match="another host"):
        for _page in source.pages(None):
            pass


# --- paging that stops making progress fails loudly ---------------------------------------------------


def _pull(platform: Platform, position=None) -> tuple[list, PagerStalled | None]:
    """Pages yielded before the run ended, and the stall that ended it (None if it finished)."""
    pages = []
    with RestSource(platform) as source:
        try:
            for page in source.pages(position):
                pages.append(page)
        except PagerStalled as stalled:
            return pages, stalled
    return pages, None


def test_a_next_link_cycle_fails_naming_the_platform_and_stores_nothing_past_the_last_good_page(server):
    pages_by_number = {1: (records(0, 3), "/v1/reviews?page=2"), 2: (records(3, 6), "/v1/reviews?page=3"),
                       3: (records(6, 9), "/v1/reviews?page=2")}    # page 3 leads back to page 2

    def handle(seen: Seen) -> Reply:
        chunk, link = pages_by_number[int(seen.query.get("page", 1))]
        return Reply(200, {"items": chunk, "links": {"next": link}})

    server.route("/v1/reviews", handle)
    platform = spec(server, "/reviews", "items", {"type": "next_link", "next_path": "links.next"},
                    base_url=server.url + "/v1")
    pages, stalled = _pull(platform)
    assert isinstance(stalled, FeedbackError)
    assert str(stalled).startswith("acme: paging makes no progress at page 3: the next link of page 3 leads "
                                   "back to page 2 of this run")
    assert ids(pages) == list(range(6))       # page 3 is not stored: its position would go backwards
    assert pages[-1].position["next"] == {"url": f"{server.url}/v1/reviews?page=3"}
    assert [s.query.get("page") for s in server.seen] == [None, "2", "3"]   # no page read twice


def test_a_next_link_to_the_same_page_fails_unless_the_page_is_empty(server):
    server.route("/v1/reviews", Reply(200, {"items": records(0, 2), "links": {"next": "/v1/reviews"}}))
    platform = spec(server, "/reviews", "items", {"type": "next_link", "next_path": "links.next"},
                    base_url=server.url + "/v1")
    pages, stalled = _pull(platform)
    assert pages == [] and "the next link points at the page it came with" in str(stalled)
    server.route("/v1/reviews", Reply(200, {"items": [], "links": {"next": "/v1/reviews"}}))
    pages, stalled = _pull(platform)
    assert stalled is None and [len(p.records) for p in pages] == [0]


def test_a_cursor_that_comes_back_fails(server):
    answers = {None: (records(0, 3), "a"), "a": (records(3, 6), "b"), "b": (records(6, 9), "a")}

    def handle(seen: Seen) -> Reply:
        chunk, after = answers[seen.query.get("cursor")]
        return Reply(200, {"tickets": chunk, "after_cursor": after, "end_of_stream": False})

    server.route("/tickets", handle)
    platform = spec(server, "/tickets", "tickets", {"type": "cursor", "cursor_param": "cursor",
                                                    "cursor_path": "after_cursor", "stop_path": "end_of_stream"})
    pages, stalled = _pull(platform)
    assert "acme: paging makes no progress at page 3: the next cursor of page 3 leads back to page 2" in str(stalled)
    assert ids(pages) == list(range(6)) and pages[-1].position["next"] == {"cursor": "b"}
    assert len(server.seen) == 3


def test_a_cursor_that_does_not_advance_fails_unless_the_page_is_empty(server):
    server.route("/tickets", [Reply(200, {"tickets": records(0, 3), "after_cursor": "a"}),
                              Reply(200, {"tickets": records(3, 6), "after_cursor": "a"})])
    platform = spec(server, "/tickets", "tickets", {"type": "cursor", "cursor_param": "cursor",
                                                    "cursor_path": "after_cursor"})
    pages, stalled = _pull(platform)
    assert "acme: paging makes no progress: the next cursor is the one this page was asked with" in str(stalled)
    assert ids(pages) == [0, 1, 2] and pages[-1].position["next"] == {"cursor": "a"}
    # An empty page handing back its own cursor is how some APIs say "nothing new": the last page.
    server.route("/tickets", Reply(200, {"tickets": [], "after_cursor": "a"}))
    pages, stalled = _pull(platform, {"since": None, "run_since": None, "next": {"cursor": "a"}})
    assert stalled is None and pages[-1].position["next"] == {"cursor": "a"}


@pytest.mark.parametrize("kind", ["page_number", "offset"])
def test_a_server_ignoring_the_page_or_offset_fails(server, kind):
    server.route("/complaints", Reply(200, {"data": records(0, 3)}))   # the same first page, whatever is asked
    pagination = ({"type": "page_number", "page_param": "page", "page_size": 3} if kind == "page_number" else
                  {"type": "offset", "offset_param": "offset", "limit": 3})
    pages, stalled = _pull(spec(server, "/complaints", "data", pagination))
    word = "page number" if kind == "page_number" else "offset"
    assert f"acme: paging makes no progress at page 2: page 2 has the same records as page 1 (the API ignores " \
           f"the {word})" in str(stalled)
    assert ids(pages) == [0, 1, 2] and len(server.seen) == 2


def test_a_custom_pager_going_backwards_fails(server, tmp_path, monkeypatch):
    """A python_class overriding next_state is held to the same rule: the page number must grow."""
    (tmp_path / "backwards_pager.py").write_text(
        "from feedback.channels.rest.source import RestSource\n"
        "class Backwards(RestSource):\n"
        "    def next_state(self, state, body, headers, records, url):\n"
        "        page = state['page'] if state else 1\n"
        "        nxt = {'page': page + 1 if page < 3 else 2}\n"
        "        return nxt, nxt\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    server.route("/complaints", lambda seen: Reply(200, {"data": records(int(seen.query["page"]) * 3,
                                                                         int(seen.query["page"]) * 3 + 3)}))
    platform = spec(server, "/complaints", "data", {"type": "page_number", "page_param": "page"},
                    python_class="backwards_pager:Backwards")
    with load_source(platform) as source, pytest.raises(PagerStalled) as stalled:
        list(source.pages(None))
    assert "acme: paging makes no progress at page 3: the next page (2) does not come after this one (3)" \
        in str(stalled.value)
    assert [s.query["page"] for s in server.seen] == ["1", "2", "3"]


# --- since --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "expected"), [("epoch", str(BASE)), ("epoch_ms", str(BASE * 1000)),
                                               ("iso8601", "2026-10-01T00:00:00Z")])
def test_since_param_formats(server, fmt, expected):
    server.route("/feed", Reply(200, []))
    run(spec(server, "/feed", "@", {"type": "none"}, since={**SINCE, "param": "since", "format": fmt}))
    assert server.seen[0].query["since"] == expected


def test_no_initial_means_no_lower_bound_on_the_first_run(server):
    server.route("/feed", Reply(200, records(0, 2)))
    pages = run(spec(server, "/feed", "@", {"type": "none"}, since={**SINCE, "initial": None}))
    assert "start_time" not in server.seen[0].query
    assert pages[0].position["since"] == "2026-10-01T00:01:00Z"


def test_next_run_asks_from_watermark_minus_overlap(server):
    data = records(0, 10)
    platform = cursor_spec(server, data)
    first = run(platform)
    watermark = BASE + 9 * 60
    assert first[-1].position == {"since": "2026-10-01T00:09:00Z", "run_since": None, "next": None}
    server.seen.clear()
    second = run(platform, first[-1].position)
    assert server.seen[0].query["start_time"] == str(watermark - 300)
    assert ids(second) == [4, 5, 6, 7, 8, 9]   # 300 s of overlap re-read, the ingest loop deduplicates


def test_watermark_is_the_max_and_never_moves_back(server):
    shuffled = [records(0, 10)[i] for i in (4, 9, 1)]
    server.route("/feed", [Reply(200, shuffled), Reply(200, records(2, 3))])
    platform = spec(server, "/feed", "@", {"type": "none"}, since=SINCE)
    first = run(platform)
    assert first[0].position["since"] == "2026-10-01T00:09:00Z"
    second = run(platform, first[0].position)
    assert second[0].position["since"] == "2026-10-01T00:09:00Z"


def test_records_without_a_usable_change_time_do_not_move_the_watermark(server):
    odd = [{"id": 1, "body": "x", "created_at": BASE, "updated_at": "garbage"}, {"id": 2, "body": "y",
                                                                                "created_at": BASE}]
    server.route("/feed", Reply(200, odd))
    pages = run(spec(server, "/feed", "@", {"type": "none"}, since=SINCE))
    assert pages[0].position["since"] is None


# --- resuming -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(BUILDERS))
@pytest.mark.parametrize("with_since", [True, False])
def test_resume_from_every_page_yields_exactly_the_rest(server, kind, with_since):
    data = records(0, 11)
    changes = {"since": SINCE if with_since else None}
    platform = BUILDERS[kind](server, data, **changes)
    full = run(platform)
    assert len(full) >= 4
    for k, page in enumerate(full[:-1]):
        stored = json.loads(json.dumps(page.position))          # what the register gives back
        rest = run(platform, stored)
        assert ids(rest) == ids(full[k + 1:]), f"resume after page {k + 1}"
        assert [p.number for p in rest] == list(range(1, len(rest) + 1))
        if with_since:
            assert rest[-1].position["since"] == full[-1].position["since"]


def test_resume_keeps_the_lower_bound_of_the_interrupted_traversal(server):
    data = records(0, 10)
    platform = cursor_spec(server, data)
    first_two = run(platform, None, max_pages=2)
    position = first_two[-1].position
    assert position == {"since": "2026-10-01T00:05:00Z", "run_since": "2026-10-01T00:00:00Z",
                        "next": {"cursor": "c6"}}
    server.seen.clear()
    rest = run(platform, position)
    assert {s.query["start_time"] for s in server.seen} == {str(BASE)}   # not watermark - overlap
    assert ids(rest) == [6, 7, 8, 9]


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_max_pages_stops_and_the_next_run_resumes(server, kind):
    data = records(0, 10)
    platform = BUILDERS[kind](server, data, since=SINCE)
    head = run(platform, None, max_pages=2)
    assert len(head) == 2 and head[-1].position["next"] is not None
    tail = run(platform, head[-1].position)
    assert ids(head) + ids(tail) == list(range(10))


def test_max_pages_per_run_is_the_default_limit(server):
    platform = page_spec(server, records(0, 10), pagination={"type": "page_number", "page_param": "page",
                                                             "size_param": "size", "page_size": 3,
                                                             "max_pages_per_run": 2})
    assert len(run(platform)) == 2


def test_cursor_without_since_keeps_its_cursor_for_the_next_run(server):
    data = records(0, 7)
    platform = cursor_spec(server, data, since=None, cursor_at_end=True,
                           request={"path": "/tickets", "params": {"per_page": 3}})
    first = run(platform)
    assert ids(first) == list(range(7))
    assert first[-1].position["next"] == {"cursor": "c7"}
    data.extend(records(7, 9))
    server.seen.clear()
    second = run(platform, first[-1].position)
    assert ids(second) == [7, 8]
    assert server.seen[0].query == {"per_page": "3", "cursor": "c7"}


def test_cursor_without_since_and_no_cursor_at_the_end_rereads_its_last_page(server):
    data = records(0, 7)
    platform = cursor_spec(server, data, since=None)
    first = run(platform)
    assert first[-1].position["next"] == {"cursor": "c6"}
    data.extend(records(7, 8))
    assert ids(run(platform, first[-1].position)) == [6, 7]


def test_a_position_of_another_pagination_type_starts_over(server):
    platform = page_spec(server, records(0, 4), since=SINCE)
    pages = run(platform, {"since": None, "run_since": None, "next": {"cursor": "abc"}})
    assert ids(pages) == [0, 1, 2, 3]
    assert server.seen[0].query["page"] == "1"


def test_a_stored_next_link_to_another_host_starts_over(server):
    platform = link_spec(server, records(0, 4))
    pages = run(platform, {"since": None, "run_since": None, "next": {"url": "http://old-region.example/v1/x"}})
    assert ids(pages) == [0, 1, 2, 3]


# --- mapping ------------------------------------------------------------------------------------


def source(server=None, channel="platform", **mapping) -> RestSource:
    platform = Platform.model_validate({
        "name": "zendesk", "base_url": "https://example.zendesk.com", "request": {"path": "/t"}, "records": "@",
        "mapping": {"external_id": "to_string(id)", "received_at": "created_at", "updated_at": "updated_at",
                    "subject": "subject", "body": "description", "contact_name": "requester.name",
                    "contact_email": "requester.email", "contact_phone": "requester.phone", "locale": "locale",
                    "rating": "score", "url": "url", "extra": {"status": "status", "tags": "tags"}, **mapping},
    })
    return RestSource(platform, channel=channel)


TICKET = {
    "id": 42, "created_at": "2026-10-01T08:00:00Z", "updated_at": 1_790_841_600_000, "subject": "  Refund  ",
    "description": " The refund never arrived. \n", "requester": {"name": "Li Lei", "email": "li@example.com",
                                                                  "phone": 13812345678},
    "locale": "zh-CN", "score": 2, "url": "", "status": "open", "tags": ["refund"],
}


def test_record_maps_to_an_intake_item():
    item = source().to_item(TICKET)
    assert (item.channel, item.source, item.external_id) == ("platform", "zendesk", "zendesk:42")
    assert item.received_at == datetime(2026, 10, 1, 8, tzinfo=UTC)
    assert item.raw_ref is None
    payload = dict(item.payload)
    content_key = payload.pop("content_key")
    assert payload == {
        "platform": "zendesk", "platform_id": "42", "subject": "Refund", "body": "The refund never arrived.",
        "contact": {"name": "Li Lei", "phone": "13812345678", "email": "li@example.com"}, "locale": "zh-CN",
        "rating": 2, "url": None, "updated_at": "2026-10-01T08:00:00Z",
        "extra": {"status": "open", "tags": ["refund"]},
    }
    assert len(content_key) == 64


def test_channel_is_the_sources_channel():
    assert source(channel="webform").to_item(TICKET).channel == "webform"


@pytest.mark.parametrize(("value", "expected"), [
    (1_790_841_600_000, datetime(2026, 10, 1, 8, tzinfo=UTC)),          # epoch ms
    (1_790_841_600, datetime(2026, 10, 1, 8, tzinfo=UTC)),              # epoch s
    ("1790841600", datetime(2026, 10, 1, 8, tzinfo=UTC)),               # epoch in text
    ("2026-10-01T08:00:00", datetime(2026, 10, 1, 8, tzinfo=UTC)),      # naive = UTC
    ("2026-10-01 16:00:00+08:00", datetime(2026, 10, 1, 8, tzinfo=UTC)),
    ("2026-10-01T08:00:00.250Z", datetime(2026, 10, 1, 8, 0, 0, 250_000, tzinfo=UTC)),
])
def test_received_at_forms(value, expected):
    item = source().to_item({**TICKET, "created_at": value})
    assert item.received_at == expected and item.received_at.tzinfo is not None


@pytest.mark.parametrize(("record", "reason", "detail"), [
    ({**TICKET, "description": None}, "missing_field", "body (expression description) is empty"),
    ({k: v for k, v in TICKET.items() if k != "description"}, "missing_field", "body (expression description) is "
                                                                               "empty"),
    ({**TICKET, "description": "   "}, "missing_field", "body (expression description) is empty"),
    ({**TICKET, "id": None}, "missing_field", "external_id (expression to_string(id)) is empty"),
    ({**TICKET, "created_at": None}, "missing_field", "received_at (expression created_at) is empty"),
    ({**TICKET, "created_at": "yesterday at noon"}, "bad_timestamp", "received_at (expression created_at) gave"),
    ({**TICKET, "updated_at": True}, "bad_timestamp", "updated_at (expression updated_at) gave true/false"),
    ({**TICKET, "subject": {"text": "Li Lei 13812345678"}}, "bad_field", "subject (expression subject) gave an "
                                                                         "object, expected text"),
    ({**TICKET, "score": ["bad"]}, "bad_field", "rating (expression score) gave a list"),
])
def test_records_that_break_the_mapping(record, reason, detail):
    with pytest.raises(InvalidItem) as err:
        source().to_item(record)
    assert err.value.reason == reason
    assert err.value.detail.startswith(detail)
    for secret in ("Li Lei", "13812345678", "li@example.com", "yesterday", "refund"):
        assert secret not in err.value.detail


@pytest.mark.parametrize("record", [["a", "list"], "text", 7, None])
def test_non_object_record(record):
    with pytest.raises(InvalidItem) as err:
        source().to_item(record)
    assert err.value.reason == "not_an_object"


def test_expression_failing_on_a_record_is_a_bad_field():
    with pytest.raises(InvalidItem) as err:
        source(body="join(', ', description)").to_item(TICKET)
    assert (err.value.reason, err.value.detail) == (
        "bad_field", "body (expression join(', ', description)) cannot be evaluated on this record "
                     "(JMESPathTypeError)")


def test_content_key_tracks_only_what_the_customer_wrote():
    src = source()
    key = src.to_item(TICKET).payload["content_key"]
    same = [{**TICKET, "status": "solved"}, {**TICKET, "updated_at": "2026-12-01T00:00:00Z"},
            {**TICKET, "tags": ["vip"]}, {**TICKET, "locale": "en", "url": "https://x/1"},
            {**TICKET, "description": "The refund never arrived."}]          # whitespace only
    assert {src.to_item(r).payload["content_key"] for r in same} == {key}
    changed = [{**TICKET, "description": "The refund arrived, thanks."}, {**TICKET, "subject": "Refund!"},
               {**TICKET, "score": 5}, {**TICKET, "requester": {**TICKET["requester"], "phone": "139"}}]
    keys = [src.to_item(r).payload["content_key"] for r in changed]
    assert key not in keys and len(set(keys)) == len(keys)


def test_raw_bytes_are_canonical_json():
    assert source().raw_bytes({"b": "é", "a": [1, 2]}) == '{"a":[1,2],"b":"é"}'.encode()


def test_records_from_body_rejects_non_lists():
    src = source()
    assert src.records_from_body([{"id": 1}]) == [{"id": 1}]
    with pytest.raises(InvalidItem) as err:
        src.records_from_body({"tickets": []})
    assert err.value.reason == "bad_page" and "gave an object, expected a list" in err.value.detail


# --- custom classes -------------------------------------------------------------------------------


def test_python_class_is_loaded_and_must_subclass(tmp_path, monkeypatch):
    (tmp_path / "custom_sources.py").write_text(
        "from feedback.channels.rest.source import RestSource\n"
        "class Shouting(RestSource):\n"
        "    def to_item(self, record):\n"
        "        return super().to_item({**record, 'description': record['description'].upper()})\n"
        "class NotASource:\n"
        "    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    base = source().platform
    custom = load_source(base.model_copy(update={"python_class": "custom_sources:Shouting"}), channel="webform")
    assert type(custom).__name__ == "Shouting" and custom.channel == "webform"
    assert custom.to_item(TICKET).payload["body"] == "THE REFUND NEVER ARRIVED."
    assert type(load_source(base)) is RestSource
    with pytest.raises(ConfigError, match="zendesk: python_class 'custom_sources:NotASource': NotASource is not a "
                                          "subclass of feedback.channels.rest.source.RestSource"):
        load_source(base.model_copy(update={"python_class": "custom_sources:NotASource"}))
    with pytest.raises(ConfigError, match="module custom_sources has no Missing"):
        load_source(base.model_copy(update={"python_class": "custom_sources:Missing"}))
    with pytest.raises(ConfigError, match="module no_such_module cannot be imported"):
        load_source(base.model_copy(update={"python_class": "no_such_module:X"}))
