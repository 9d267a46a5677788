"""The shipped platform entries (Zendesk, Trustpilot, Typeform) pulled by the real engine from simulators.

Each entry is loaded from include/config/channels.yaml as shipped, with base_url (and the
placeholder id in its path) pointed at a local simulator of the vendor's API. What a data
engineer relies on is checked end to end over real HTTP: every record arrives once with the
right identity, time, text and contact; 429s, 5xx bursts and stalls are ridden out; an outage
fails with one clear line and the stored position resumes without loss; tokens are fetched
once and refreshed; wrong credentials fail at once. Waits go through a fake clock, so the
tests assert the waits asked for, never real time.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ROOT

from feedback.channels.base import IntakeItem, InvalidItem
from feedback.channels.config import Platform, load_channels
from feedback.channels.rest.client import PlatformUnavailable, RestClient
from feedback.channels.rest.source import RestSource
from feedback.connections import ConnectionValue
from feedback_dev.platform_api import (
    TRUSTPILOT_TOKEN_PATH,
    ZENDESK_EXPORT_PATH,
    PlatformSim,
    TrustpilotSim,
    TypeformSim,
    ZendeskSim,
    trustpilot_review,
    typeform_response,
    zendesk_ticket,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SAMPLES = ROOT / "tests" / "data" / "platforms"


class FakeClock:
    """One clock for the simulator (now), the client (monotonic) and the waits (sleep)."""

    def __init__(self, start: datetime):
        self.moment = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.moment.timestamp()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


# --- the three platforms as cases ----------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    external_id: str
    received_at: datetime
    subject: str | None
    body: str
    contact: dict[str, str | None]


def _zendesk_records(n: int, start: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + n):
        when = T0 + timedelta(minutes=10 * i)
        if i % 3 == 0:
            out.append(zendesk_ticket(1000 + i, when, f"退款未到账 {i}", f"申请退款两周了还没有到账，订单 {i}。",
                                      f"张伟{i}", requester_email=f"zw{i}@example.com"))
        elif i % 3 == 1:
            out.append(zendesk_ticket(1000 + i, when, f"物流延迟 {i}", f"快递五天没有更新 {i}。", f"李娜{i}",
                                      requester_phone=f"+86138{i:08d}"))
        else:
            out.append(zendesk_ticket(1000 + i, when, f"App crash {i}", f"The app closes on upload, case {i}.",
                                      status="open", priority="high"))
    return out


def _zendesk_expected(t: dict) -> Expected:
    source = t["via"]["source"]["from"]
    return Expected(f"zendesk:{t['id']}", datetime.fromisoformat(t["created_at"]), t["subject"], t["description"],
                    {"name": source.get("name"), "phone": source.get("phone"), "email": source.get("address")})


def _trustpilot_records(n: int, start: int = 0, step: timedelta = timedelta(minutes=10)) -> list[dict]:
    out = []
    for i in range(start, start + n):
        zh = i % 2 == 0
        out.append(trustpilot_review(
            i + 1, T0 + step * i, f"退款太慢 {i}" if zh else f"Late parcel {i}",
            f"退货寄回三周了还没退款 {i}。" if zh else f"My parcel arrived four days late ({i}).",
            stars=1 + i % 5, consumer_name=f"王先生{i}" if zh else f"Emma {i}",
            referral_email=f"r{i}@example.com" if i % 4 != 3 else None,
        ))
    return out


def _trustpilot_expected(r: dict) -> Expected:
    return Expected(f"trustpilot:{r['id']}", datetime.fromisoformat(r["createdAt"]), r["title"], r["text"],
                    {"name": r["consumer"]["displayName"], "phone": None, "email": r["referralEmail"]})


def _typeform_records(n: int, start: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + n):
        zh = i % 2 == 0
        out.append(typeform_response(
            i, T0 + timedelta(minutes=10 * i),
            message=f"小程序下单一直转圈 {i}" if zh else f"Please add delivery slots ({i})",
            name=f"陈静{i}" if zh else None, phone=f"139{i:08d}" if zh else None,
            email=None if zh else f"o{i}@example.com", category="功能问题" if zh else "Feature request",
            hidden={"locale": "zh-CN" if zh else "en"},
        ))
    return out


def _answer(response: dict, ref: str, kind: str) -> Any:
    return next((a[kind] for a in response["answers"] if a["field"]["ref"] == ref), None)


def _typeform_expected(r: dict) -> Expected:
    return Expected(f"typeform:{r['response_id']}", datetime.fromisoformat(r["submitted_at"]), None,
                    _answer(r, "message", "text"),
                    {"name": _answer(r, "name", "text"), "phone": _answer(r, "phone", "phone_number"),
                     "email": _answer(r, "email", "email")})


@dataclass(frozen=True)
class Case:
    name: str
    channel: str
    size_param: str
    sim: Callable[[FakeClock], PlatformSim]
    credentials: Callable[[PlatformSim], ConnectionValue]
    records: Callable[[int], list[dict]]
    expected: Callable[[dict], Expected]
    path: Callable[[PlatformSim], str]

    def __str__(self) -> str:
        return self.name


def _conn(login: str | None, password: str) -> ConnectionValue:
    return ConnectionValue("https", None, None, login, password, None, {})


CASES = [
    Case("zendesk", "platform", "per_page", lambda c: ZendeskSim(now=c.now),
         lambda s: _conn(f"{s.email}/token", s.api_token), _zendesk_records, _zendesk_expected,
         lambda s: ZENDESK_EXPORT_PATH),
    Case("trustpilot", "platform", "perPage", lambda c: TrustpilotSim(now=c.now),
         lambda s: _conn(s.client_id, s.client_secret), _trustpilot_records, _trustpilot_expected,
         lambda s: s.reviews_path),
    Case("typeform", "webform", "page_size", lambda c: TypeformSim(now=c.now),
         lambda s: _conn(None, s.token), _typeform_records, _typeform_expected,
         lambda s: s.responses_path),
]


def shipped(name: str) -> Platform:
    """The entry exactly as include/config/channels.yaml ships it (platforms or webforms.providers)."""
    channels = load_channels()
    return next(p for p in [*channels.platforms, *channels.webforms.providers] if p.name == name)


def pointed(case: Case, sim: PlatformSim, page_size: int | None = None, **request: Any) -> Platform:
    """The shipped entry aimed at the simulator; optionally smaller pages or other request settings."""
    platform = shipped(case.name)
    params = dict(platform.request.params)
    if page_size is not None:
        params[case.size_param] = page_size
    req = platform.request.model_copy(update={"path": case.path(sim), "params": params, **request})
    return platform.model_copy(update={"base_url": sim.base_url, "request": req})


@dataclass
class Run:
    items: list[IntakeItem]
    position: dict | None
    client: RestClient

    @property
    def ids(self) -> list[str]:
        return [i.external_id for i in self.items]


def client_for(case: Case, platform: Platform, sim: PlatformSim, clock: FakeClock,
               credentials: ConnectionValue | None = None) -> RestClient:
    return RestClient(platform, credentials or case.credentials(sim), sleep=clock.sleep, clock=clock.monotonic,
                      rng=random.Random(5))


def pull(case: Case, platform: Platform, sim: PlatformSim, clock: FakeClock, position: dict | None = None,
         client: RestClient | None = None) -> Run:
    client = client or client_for(case, platform, sim, clock)
    source = RestSource(platform, client=client, channel=case.channel)
    items: list[IntakeItem] = []
    for page in source.pages(position):
        items += [source.to_item(record) for record in page.records]
        position = page.position
    return Run(items, position, client)


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture(params=CASES, ids=str)
def case(request):
    return request.param


@pytest.fixture
def sim(case, clock):
    simulator = case.sim(clock)
    simulator.start()
    yield simulator
    simulator.stop()


def data_requests(case: Case, sim: PlatformSim) -> list:
    return sim.requests_to(case.path(sim))


# --- every record, once, mapped right ------------------------------------------------------------


def test_multi_page_pull_with_the_shipped_page_size_maps_every_record_once(case, sim, clock):
    page = shipped(case.name).request.params[case.size_param]
    records = case.records(int(page * 2.5))
    sim.add(records)
    run = pull(case, pointed(case, sim), sim, clock)
    assert len(data_requests(case, sim)) == 3
    assert sorted(run.ids) == sorted(case.expected(r).external_id for r in records)
    by_id = {i.external_id: i for i in run.items}
    for record in records:
        want = case.expected(record)
        item = by_id[want.external_id]
        assert (item.channel, item.source) == (case.channel, case.name)
        assert item.received_at == want.received_at
        assert (item.payload["subject"], item.payload["body"]) == (want.subject, want.body)
        assert item.payload["contact"] == want.contact


def test_shipped_entries_carry_placeholders_and_name_their_connections():
    """Nothing ships pointed at a real account: the data engineer puts in the subdomain or id."""
    for name, placeholder in [("zendesk", "yourcompany"), ("trustpilot", "{business_unit_id}"),
                              ("typeform", "{form_id}")]:
        platform = shipped(name)
        assert placeholder in platform.base_url + platform.request.path
        assert platform.connection_id == f"feedback_platform_{name}"
    assert shipped("typeform") in load_channels().webforms.providers


# --- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["seconds", "http-date"])
def test_429_waits_as_long_as_retry_after_says(case, sim, clock, retry_after):
    sim.add(case.records(7))
    platform = pointed(case, sim, page_size=3)
    sim.fail_next(429, retry_after=7 if retry_after == "seconds" else clock.now() + timedelta(seconds=30))
    run = pull(case, platform, sim, clock)
    assert (7.0 if retry_after == "seconds" else 30.0) in clock.sleeps
    assert run.client.stats.retries == 1
    assert [r.status for r in data_requests(case, sim)] == [429, 200, 200, 200]
    assert sorted(run.ids) == sorted(case.expected(r).external_id for r in sim.records)


def test_server_errors_then_success(case, sim, clock):
    sim.add(case.records(5))
    sim.fail_next(500, times=2)
    sim.fail_next(503)
    run = pull(case, pointed(case, sim, page_size=2), sim, clock)
    assert [r.status for r in data_requests(case, sim)][:4] == [500, 500, 503, 200]
    assert run.client.stats.retries == 3
    assert sorted(run.ids) == sorted(case.expected(r).external_id for r in sim.records)


def test_a_stall_longer_than_the_timeout_is_retried(case, sim, clock):
    sim.add(case.records(4))
    sim.stall_next(5)
    run = pull(case, pointed(case, sim, page_size=3, timeout_seconds=0.3), sim, clock)
    logged = data_requests(case, sim)
    assert logged[0].stalled and not any(r.stalled for r in logged[1:])
    assert run.client.stats.retries == 1
    assert sorted(run.ids) == sorted(case.expected(r).external_id for r in sim.records)


def test_a_repeated_record_maps_to_the_same_external_id(case, sim, clock):
    sim.add(case.records(8))
    sim.repeat_on_next_page = True
    run = pull(case, pointed(case, sim, page_size=3), sim, clock)
    repeated = [i for i in set(run.ids) if run.ids.count(i) > 1]
    assert len(repeated) == 1 and len(run.ids) == 9
    assert set(run.ids) == {case.expected(r).external_id for r in sim.records}
    first, second = [i for i in run.items if i.external_id == repeated[0]]
    assert first.payload["content_key"] == second.payload["content_key"]


def test_an_outage_fails_clearly_and_the_stored_position_resumes_without_loss(case, sim, clock):
    sim.add(case.records(10))
    platform = pointed(case, sim, page_size=3)
    client = client_for(case, platform, sim, clock)
    source = RestSource(platform, client=client, channel=case.channel)
    before: list[str] = []
    stored = None
    with pytest.raises(PlatformUnavailable) as failure:
        for page in source.pages(None):
            before += [source.to_item(r).external_id for r in page.records]
            stored = page.position
            if page.number == 2:
                sim.fail_next(500, times=1000)
    message = str(failure.value)
    assert message.startswith(f"{case.name}: GET {case.path(sim)} failed after 6 attempts: HTTP 500")
    assert "resumes from the stored position" in message and "\n" not in message
    secret = case.credentials(sim).password
    assert secret not in message and "@" not in message and "?" not in message
    assert len(before) == 6
    sim.clear_faults()
    after = pull(case, platform, sim, clock, position=json.loads(json.dumps(stored)))
    assert not set(before) & set(after.ids)
    assert sorted(before + after.ids) == sorted(case.expected(r).external_id for r in sim.records)


def test_wrong_credentials_fail_at_once_with_a_clear_line(case, sim, clock):
    sim.add(case.records(2))
    platform = pointed(case, sim)
    good = case.credentials(sim)
    wrong = _conn(good.login, "not-the-secret")
    with pytest.raises(PlatformUnavailable) as failure:
        pull(case, platform, sim, clock, client=client_for(case, platform, sim, clock, credentials=wrong))
    message = str(failure.value)
    assert "HTTP 401" in message and f"check the credentials in connection feedback_platform_{case.name}" in message
    assert "not-the-secret" not in message
    assert len(sim.requests) == 1 and clock.sleeps == []


# --- incremental runs ----------------------------------------------------------------------------


def _zendesk(clock: FakeClock) -> tuple[Case, ZendeskSim]:
    return CASES[0], ZendeskSim(now=clock.now)


def test_zendesk_edit_reappears_with_a_new_content_key_and_a_status_change_does_not(clock):
    case, sim = _zendesk(clock)
    sim.add(case.records(12))
    with sim:
        platform = pointed(case, sim, page_size=5)
        first = pull(case, platform, sim, clock)
        keys = {i.external_id: i.payload["content_key"] for i in first.items}
        clock.advance(600)
        edited_at = clock.now()
        sim.edit(1003, subject="退款未到账 3（补充：已经三周）")
        sim.edit(1004, status="solved")
        clock.advance(120)          # Zendesk holds back the last minute
        second = pull(case, platform, sim, clock, position=first.position)
    changed = {i.external_id: i for i in second.items}
    # The two edited tickets, and the newest one again: it is inside the 300 s overlap, unchanged.
    assert set(changed) == {"zendesk:1003", "zendesk:1004", "zendesk:1011"}
    assert changed["zendesk:1011"].payload["content_key"] == keys["zendesk:1011"]
    assert changed["zendesk:1003"].payload["content_key"] != keys["zendesk:1003"]
    assert changed["zendesk:1004"].payload["content_key"] == keys["zendesk:1004"]
    assert changed["zendesk:1004"].payload["extra"]["status"] == "solved"
    assert changed["zendesk:1003"].payload["updated_at"] == edited_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_zendesk_paces_itself_under_the_incremental_export_limit(clock):
    case, sim = _zendesk(clock)
    sim.rate_limit_per_minute = 10
    sim.add(case.records(36))
    with sim:
        run = pull(case, pointed(case, sim, page_size=3), sim, clock)
    assert [r.status for r in sim.requests] == [200] * 12
    assert len(clock.sleeps) == 11 and all(w == pytest.approx(6.0) for w in clock.sleeps)
    assert len(set(run.ids)) == 36


def test_zendesk_without_pacing_is_told_to_wait_and_does(clock):
    case, sim = _zendesk(clock)
    sim.rate_limit_per_minute = 10
    sim.add(case.records(36))
    with sim:
        platform = pointed(case, sim, page_size=3)
        platform = platform.model_copy(update={"rate_limit": platform.rate_limit.model_copy(
            update={"requests_per_minute": None})})
        run = pull(case, platform, sim, clock)
    statuses = [r.status for r in sim.requests]
    assert statuses.count(429) == 1 and statuses.index(429) == 10
    assert clock.sleeps == [60.0]
    assert len(set(run.ids)) == 36


def test_zendesk_account_limit_headers_hold_the_next_request(clock):
    case, sim = _zendesk(clock)
    sim.account_rate_limit = 3
    sim.add(case.records(15))
    with sim:
        platform = pointed(case, sim, page_size=3)
        platform = platform.model_copy(update={"rate_limit": platform.rate_limit.model_copy(
            update={"requests_per_minute": None})})
        run = pull(case, platform, sim, clock)
    assert 429 not in [r.status for r in sim.requests]
    assert clock.sleeps == [60.0]
    assert len(set(run.ids)) == 15


def test_trustpilot_token_is_fetched_once_and_refreshed_after_expiry(clock):
    case = CASES[1]
    sim = TrustpilotSim(now=clock.now, token_lifetime_seconds=3600)
    sim.add(case.records(10))
    with sim:
        platform = pointed(case, sim, page_size=3)
        client = client_for(case, platform, sim, clock)
        first = pull(case, platform, sim, clock, client=client)
        assert len(sim.requests_to(TRUSTPILOT_TOKEN_PATH, "POST")) == 1
        assert len(data_requests(case, sim)) == 4
        # Past its lifetime the client asks for a new token before using the old one.
        clock.advance(3600)
        pull(case, platform, sim, clock, position=first.position, client=client)
        assert len(sim.requests_to(TRUSTPILOT_TOKEN_PATH, "POST")) == 2
        assert 401 not in [r.status for r in sim.requests]
        # Revoked early (the server says expired): one 401, one new token, the page again.
        sim.expire_tokens()
        third = pull(case, platform, sim, clock, position=first.position, client=client)
    assert len(sim.requests_to(TRUSTPILOT_TOKEN_PATH, "POST")) == 3
    assert [r.status for r in data_requests(case, sim)].count(401) == 1
    assert third.ids and clock.sleeps == []


def test_trustpilot_edits_are_seen_inside_the_overlap_week_only(clock):
    """The API filters on createdAt; the shipped week of overlap catches edits of recent reviews."""
    case = CASES[1]
    sim = TrustpilotSim(now=clock.now)
    sim.add(_trustpilot_records(12, step=timedelta(days=1)))
    with sim:
        platform = pointed(case, sim, page_size=5)
        first = pull(case, platform, sim, clock)
        keys = {i.external_id: i.payload["content_key"] for i in first.items}
        newest, oldest = sim.records[-1]["id"], sim.records[0]["id"]
        sim.edit(newest, text="Updated: refund arrived today.", stars=4)
        sim.edit(oldest, text="Updated: never mind.")
        second = pull(case, platform, sim, clock, position=first.position)
    seen = {i.external_id: i for i in second.items}
    assert f"trustpilot:{newest}" in seen and f"trustpilot:{oldest}" not in seen
    assert seen[f"trustpilot:{newest}"].payload["content_key"] != keys[f"trustpilot:{newest}"]
    assert seen[f"trustpilot:{newest}"].payload["rating"] == 4
    assert len(seen) == 8      # the reviews created within a week of the newest one


def test_typeform_next_run_brings_the_new_responses_and_overlap_rereads_unchanged(clock):
    case = CASES[2]
    sim = TypeformSim(now=clock.now)
    sim.add(case.records(10))
    with sim:
        platform = pointed(case, sim, page_size=4)
        first = pull(case, platform, sim, clock)
        keys = {i.external_id: i.payload["content_key"] for i in first.items}
        sim.add(_typeform_records(3, start=10))
        second = pull(case, platform, sim, clock, position=first.position)
    new = {case.expected(r).external_id for r in _typeform_records(3, start=10)}
    assert new <= set(second.ids)
    for item in second.items:
        if item.external_id not in new:
            assert item.payload["content_key"] == keys[item.external_id]
    assert all(i.channel == "webform" for i in second.items)
    with pytest.raises(NotImplementedError):
        sim.edit(sim.records[0]["token"], hidden={})


# --- recorded responses for `feedback channel check <name> --replay FILE` ------------------------


@pytest.mark.parametrize(("name", "file", "channel"), [
    ("zendesk", "zendesk-tickets.json", "platform"),
    ("trustpilot", "trustpilot-reviews.json", "platform"),
    ("typeform", "typeform-responses.json", "webform"),
])
def test_recorded_responses_map_with_one_quarantine_reason(name, file, channel):
    body = json.loads((SAMPLES / file).read_text(encoding="utf-8"))
    with RestSource(shipped(name), channel=channel) as source:
        records = source.records_from_body(body)
        items, rejects = [], []
        for record in records:
            try:
                items.append(source.to_item(record))
            except InvalidItem as bad:
                rejects.append(bad)
    assert 3 <= len(records) <= 5 and len(items) == len(records) - 1
    assert [(r.reason, r.detail.split(" ")[0]) for r in rejects] == [("missing_field", "body")]
    bodies = [i.payload["body"] for i in items]
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in b) for b in bodies)
    assert any(b.isascii() for b in bodies)
    assert all(i.external_id.startswith(f"{name}:") and i.received_at.tzinfo for i in items)
