"""The platform simulators on their own: paging, filters, auth, errors and faults as documented.

Tests of the REST engine against these simulators trust them; these tests make sure a
failure there is the engine's, not a simulator that pages wrongly. Plain httpx, no engine.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest

from feedback_dev.platform_api import (
    TRUSTPILOT_TOKEN_PATH,
    ZENDESK_EXPORT_PATH,
    TrustpilotSim,
    TypeformSim,
    ZendeskSim,
    serve,
    trustpilot_review,
    typeform_response,
    zendesk_ticket,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ZD_AUTH = ("agent@example.com/token", "zendesk-api-token")


class FakeNow:
    """The simulators' clock, moved by hand."""

    def __init__(self, start: datetime):
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def now():
    return FakeNow(datetime(2026, 6, 1, tzinfo=UTC))


# --- Zendesk ----------------------------------------------------------------------------------------


def _tickets(n: int) -> list[dict]:
    """n tickets created in id order but changed in a shuffled order (the export follows changes)."""
    changes = list(range(n))
    random.Random(3).shuffle(changes)
    return [zendesk_ticket(100 + i, T0 + timedelta(hours=i), f"subject {i}", f"text {i}",
                           updated_at=T0 + timedelta(days=2, minutes=changes[i])) for i in range(n)]


def _zd_walk(client: httpx.Client, url: str, first: dict) -> list[dict]:
    bodies = [client.get(url + ZENDESK_EXPORT_PATH, params=first).json()]
    while not bodies[-1]["end_of_stream"]:
        bodies.append(client.get(url + ZENDESK_EXPORT_PATH,
                                 params={"cursor": bodies[-1]["after_cursor"], "per_page": first["per_page"]}).json())
    return bodies


def test_zendesk_export_pages_every_ticket_once_in_change_order(now):
    sim = ZendeskSim(now=now)
    sim.add(_tickets(25))
    with serve(sim) as url, httpx.Client(auth=ZD_AUTH) as client:
        bodies = _zd_walk(client, url, {"start_time": int(T0.timestamp()), "per_page": 10})
        assert [len(b["tickets"]) for b in bodies] == [10, 10, 5]
        assert [b["end_of_stream"] for b in bodies] == [False, False, True]
        seen = [t for b in bodies for t in b["tickets"]]
        assert sorted(t["id"] for t in seen) == list(range(100, 125))
        assert [t["updated_at"] for t in seen] == sorted(t["updated_at"] for t in seen)
        last = bodies[-1]
        assert set(last) == {"tickets", "after_url", "after_cursor", "before_url", "before_cursor", "end_of_stream"}
        assert last["after_cursor"] and last["after_url"].startswith(url + ZENDESK_EXPORT_PATH + "?")
        # Polling later from the last cursor: nothing new, then the edited ticket only.
        again = client.get(url + ZENDESK_EXPORT_PATH, params={"cursor": last["after_cursor"]}).json()
        assert again["tickets"] == [] and again["end_of_stream"] is True
        edited = sim.edit(107, subject="subject 7, edited")
        now.advance(120)
        again = client.get(url + ZENDESK_EXPORT_PATH, params={"cursor": last["after_cursor"]}).json()
        assert [(t["id"], t["subject"]) for t in again["tickets"]] == [(107, "subject 7, edited")]
        assert again["tickets"][0]["updated_at"] == edited["updated_at"] > last["tickets"][-1]["updated_at"]
        assert again["tickets"][0]["generated_timestamp"] == int(now().timestamp()) - 120


def test_zendesk_start_time_filters_on_change_time_and_is_validated(now):
    sim = ZendeskSim(now=now)
    sim.add(_tickets(20))
    middle = sorted(sim.records, key=lambda t: t["updated_at"])[12]
    start = int(datetime.fromisoformat(middle["updated_at"]).timestamp())
    with serve(sim) as url, httpx.Client(auth=ZD_AUTH) as client:
        body = client.get(url + ZENDESK_EXPORT_PATH, params={"start_time": start}).json()
        assert len(body["tickets"]) == 8 and body["tickets"][0]["id"] == middle["id"]
        missing = client.get(url + ZENDESK_EXPORT_PATH)
        assert missing.status_code == 400 and missing.json()["error"] == "InvalidValue"
        recent = client.get(url + ZENDESK_EXPORT_PATH, params={"start_time": int(now().timestamp()) - 30})
        assert recent.status_code == 400 and "Too recent start_time" in recent.json()["description"]
        assert client.get(url + ZENDESK_EXPORT_PATH, params={"cursor": "not a cursor"}).status_code == 400
        assert client.get(url + ZENDESK_EXPORT_PATH, params={"start_time": start, "per_page": "x"}).status_code == 400


def test_zendesk_leaves_out_the_last_minute(now):
    sim = ZendeskSim(now=now)
    sim.add([zendesk_ticket(1, now() - timedelta(hours=1), "old", "a"),
             zendesk_ticket(2, now() - timedelta(seconds=30), "fresh", "b")])
    with serve(sim) as url, httpx.Client(auth=ZD_AUTH) as client:
        params = {"start_time": int((now() - timedelta(days=1)).timestamp())}
        body = client.get(url + ZENDESK_EXPORT_PATH, params=params).json()
        assert [t["id"] for t in body["tickets"]] == [1] and body["end_of_stream"] is True
        now.advance(60)
        body = client.get(url + ZENDESK_EXPORT_PATH, params={"cursor": body["after_cursor"]}).json()
        assert [t["id"] for t in body["tickets"]] == [2]


def test_zendesk_authentication(now):
    sim = ZendeskSim(now=now, oauth_token="oauth-token-1")
    sim.add(_tickets(2))
    params = {"start_time": int(T0.timestamp())}
    with serve(sim) as url:
        assert httpx.get(url + ZENDESK_EXPORT_PATH, params=params, auth=ZD_AUTH).status_code == 200
        bearer = httpx.get(url + ZENDESK_EXPORT_PATH, params=params, headers={"Authorization": "Bearer oauth-token-1"})
        assert bearer.status_code == 200
        for auth in (("agent@example.com/token", "wrong"), ("agent@example.com", "zendesk-api-token"), None):
            denied = httpx.get(url + ZENDESK_EXPORT_PATH, params=params, auth=auth)
            assert denied.status_code == 401
            assert denied.json() == {"error": "Couldn't authenticate you"}
    assert [r.auth for r in sim.requests][:2] == ["basic", "bearer"]


def test_zendesk_rate_limits_and_headers(now):
    sim = ZendeskSim(now=now, rate_limit_per_minute=2, account_rate_limit=700)
    sim.add(_tickets(3))
    params = {"start_time": int(T0.timestamp())}
    with serve(sim) as url, httpx.Client(auth=ZD_AUTH) as client:
        first = client.get(url + ZENDESK_EXPORT_PATH, params=params)
        assert first.headers["x-rate-limit"] == "700" and first.headers["ratelimit-remaining"] == "699"
        assert first.headers["ratelimit-reset"] == "60"
        now.advance(10)
        assert client.get(url + ZENDESK_EXPORT_PATH, params=params).status_code == 200
        limited = client.get(url + ZENDESK_EXPORT_PATH, params=params)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "50"
        assert limited.json()["error"] == "APIRateLimitExceeded"
        now.advance(50)
        assert client.get(url + ZENDESK_EXPORT_PATH, params=params).status_code == 200
    account = ZendeskSim(now=now, account_rate_limit=2)
    account.add(_tickets(1))
    with serve(account) as url, httpx.Client(auth=ZD_AUTH) as client:
        client.get(url + ZENDESK_EXPORT_PATH, params=params)
        second = client.get(url + ZENDESK_EXPORT_PATH, params=params)
        assert second.headers["ratelimit-remaining"] == "0"
        assert client.get(url + ZENDESK_EXPORT_PATH, params=params).status_code == 429


# --- faults (shared base) -----------------------------------------------------------------------------


def test_injected_failures_carry_retry_after_and_then_stop(now):
    sim = ZendeskSim(now=now)
    sim.add(_tickets(3))
    params = {"start_time": int(T0.timestamp())}
    with serve(sim) as url, httpx.Client(auth=ZD_AUTH) as client:
        sim.fail_next(503, times=2, retry_after=5)
        assert [client.get(url + ZENDESK_EXPORT_PATH, params=params).headers.get("retry-after")
                for _ in range(2)] == ["5", "5"]
        sim.fail_next(429, retry_after=now() + timedelta(seconds=30))
        limited = client.get(url + ZENDESK_EXPORT_PATH, params=params)
        assert limited.status_code == 429
        waited = parsedate_to_datetime(limited.headers["retry-after"]) - parsedate_to_datetime(limited.headers["date"])
        assert waited == timedelta(seconds=30)
        sim.fail_next(500)
        assert client.get(url + ZENDESK_EXPORT_PATH, params=params).status_code == 500
        assert client.get(url + ZENDESK_EXPORT_PATH, params=params).status_code == 200
        sim.fail_next(502, times=10)
        sim.clear_faults()
        assert client.get(url + ZENDESK_EXPORT_PATH, params=params).status_code == 200
    assert [r.status for r in sim.requests] == [503, 503, 429, 500, 200, 200]


def test_a_stalled_answer_times_the_client_out_once(now):
    sim = ZendeskSim(now=now)
    sim.add(_tickets(3))
    params = {"start_time": int(T0.timestamp())}
    with serve(sim) as url, httpx.Client(auth=ZD_AUTH) as client:
        sim.stall_next(5)
        with pytest.raises(httpx.ReadTimeout):
            client.get(url + ZENDESK_EXPORT_PATH, params=params, timeout=0.2)
        assert len(client.get(url + ZENDESK_EXPORT_PATH, params=params, timeout=5).json()["tickets"]) == 3
    assert [r.stalled for r in sim.requests] == [True, False]


def test_repeat_on_next_page_repeats_the_previous_last_record(now):
    sim = ZendeskSim(now=now)
    sim.add(_tickets(12))
    sim.repeat_on_next_page = True
    with serve(sim) as url, httpx.Client(auth=ZD_AUTH) as client:
        bodies = _zd_walk(client, url, {"start_time": int(T0.timestamp()), "per_page": 5})
    ids = [[t["id"] for t in b["tickets"]] for b in bodies]
    assert ids[1][0] == ids[0][-1]
    flat = [i for page in ids for i in page]
    assert len(flat) == 13 and set(flat) == set(range(100, 112))


def test_request_log_has_method_path_query_status(now):
    sim = ZendeskSim(now=now)
    with serve(sim) as url:
        httpx.get(url + ZENDESK_EXPORT_PATH, params={"start_time": int(T0.timestamp()), "per_page": 3}, auth=ZD_AUTH)
        httpx.get(url + "/api/v2/tickets.json", auth=ZD_AUTH)
    first, second = sim.requests
    assert (first.method, first.path, first.query, first.status) == (
        "GET", ZENDESK_EXPORT_PATH, {"start_time": str(int(T0.timestamp())), "per_page": "3"}, 200)
    assert (second.path, second.status) == ("/api/v2/tickets.json", 404)


# --- Trustpilot -----------------------------------------------------------------------------------------


def _reviews(n: int) -> list[dict]:
    return [trustpilot_review(i + 1, T0 + timedelta(hours=i), f"title {i}", f"text {i}", stars=1 + i % 5,
                              consumer_name=f"C{i}", language="zh" if i % 2 else "en") for i in range(n)]


def _token(client: httpx.Client, url: str, auth=("tp-api-key", "tp-api-secret")) -> httpx.Response:
    return client.post(url + TRUSTPILOT_TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=auth)


def _tp_walk(client: httpx.Client, url: str, sim: TrustpilotSim, params: dict, token: str) -> list[dict]:
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [client.get(url + sim.reviews_path, params=params, headers=headers).json()]
    while nxt := [link["href"] for link in bodies[-1]["links"] if link["rel"] == "next-page"]:
        bodies.append(client.get(nxt[0], headers=headers).json())
    return bodies


def test_trustpilot_client_credentials_token(now):
    sim = TrustpilotSim(now=now, token_lifetime_seconds=3600)
    sim.add(_reviews(2))
    with serve(sim) as url, httpx.Client() as client:
        assert _token(client, url, ("tp-api-key", "wrong")).json() == {
            "ErrorCode": "invalid_client", "Error": "ClientId is Invalid"}
        bad_grant = client.post(url + TRUSTPILOT_TOKEN_PATH, data={"grant_type": "password"},
                                auth=("tp-api-key", "tp-api-secret"))
        assert bad_grant.status_code == 400
        answer = _token(client, url).json()
        assert answer["expires_in"] == "3600" and answer["token_type"] == "BearerToken"
        headers = {"Authorization": f"Bearer {answer['access_token']}"}
        assert client.get(url + sim.reviews_path, headers=headers).status_code == 200
        anonymous = client.get(url + sim.reviews_path)
        assert anonymous.status_code == 401
        assert anonymous.json()["fault"]["detail"]["errorcode"] == "oauth.v2.InvalidAccessToken"
        now.advance(3600)
        expired = client.get(url + sim.reviews_path, headers=headers)
        assert expired.status_code == 401
        assert expired.json()["fault"]["faultstring"] == "Access Token expired"
        fresh = {"Authorization": f"Bearer {_token(client, url).json()['access_token']}"}
        assert client.get(url + sim.reviews_path, headers=fresh).status_code == 200
        sim.expire_tokens()
        assert client.get(url + sim.reviews_path, headers=fresh).status_code == 401
    assert sim.tokens_issued == 2


def test_trustpilot_pages_by_next_link_in_created_order(now):
    sim = TrustpilotSim(now=now)
    sim.add(list(reversed(_reviews(25))))
    with serve(sim) as url, httpx.Client() as client:
        token = _token(client, url).json()["access_token"]
        params = {"orderBy": "createdat.asc", "perPage": 10, "startDateTime": "2026-03-01T02:00:00Z"}
        bodies = _tp_walk(client, url, sim, params, token)
        assert [len(b["reviews"]) for b in bodies] == [10, 10, 3]
        seen = [r["title"] for b in bodies for r in b["reviews"]]
        assert seen == [f"title {i}" for i in range(2, 25)]
        assert {link["rel"] for link in bodies[1]["links"]} == {"page-self", "prev-page", "next-page"}
        assert all(link["method"] == "GET" for b in bodies for link in b["links"])
        newest_first = client.get(url + sim.reviews_path, params={"perPage": 3},
                                  headers={"Authorization": f"Bearer {token}"}).json()
        assert [r["title"] for r in newest_first["reviews"]] == ["title 24", "title 23", "title 22"]
        only_zh = client.get(url + sim.reviews_path, params={"language": "zh", "perPage": 100},
                             headers={"Authorization": f"Bearer {token}"}).json()
        assert len(only_zh["reviews"]) == 12 and {r["language"] for r in only_zh["reviews"]} == {"zh"}
        too_big = client.get(url + sim.reviews_path, params={"perPage": 101}, headers={"Authorization": f"Bearer {token}"})
        assert too_big.status_code == 400


def test_trustpilot_shifted_pages_repeat_one_review_and_lose_none(now):
    sim = TrustpilotSim(now=now)
    sim.add(_reviews(23))
    with serve(sim) as url, httpx.Client() as client:
        token = _token(client, url).json()["access_token"]
        sim.repeat_on_next_page = True
        bodies = _tp_walk(client, url, sim, {"orderBy": "createdat.asc", "perPage": 10}, token)
    ids = [[r["id"] for r in b["reviews"]] for b in bodies]
    assert ids[1][0] == ids[0][-1]
    flat = [i for page in ids for i in page]
    assert len(flat) == 24 and set(flat) == {r["id"] for r in sim.records}


def test_trustpilot_edit_keeps_the_created_place(now):
    sim = TrustpilotSim(now=now)
    sim.add(_reviews(5))
    first_id = sim.records[0]["id"]
    edited = sim.edit(first_id, text="changed my mind", stars=4)
    assert edited["createdAt"] == "2026-03-01T00:00:00Z" and edited["updatedAt"] == "2026-06-01T00:00:00Z"
    assert sim.records[0]["id"] == first_id and sim.records[0]["text"] == "changed my mind"


# --- Typeform -------------------------------------------------------------------------------------------

TF_AUTH = {"Authorization": "Bearer tfp_test_personal_access_token"}


def _responses(n: int) -> list[dict]:
    return [typeform_response(i, T0 + timedelta(minutes=10 * i), message=f"message {i}", name=f"N{i}",
                              email=f"p{i}@example.com") for i in range(n)]


def test_typeform_after_token_walks_every_response_once(now):
    sim = TypeformSim(now=now)
    sim.add(list(reversed(_responses(25))))
    with serve(sim) as url, httpx.Client(headers=TF_AUTH) as client:
        path = url + sim.responses_path
        first = client.get(path, params={"page_size": 10, "sort": "submitted_at,asc"}).json()
        assert (first["total_items"], first["page_count"]) == (25, 3)
        bodies = [first]
        while bodies[-1]["items"]:
            bodies.append(client.get(path, params={"page_size": 10, "after": bodies[-1]["items"][-1]["token"]}).json())
        assert [len(b["items"]) for b in bodies] == [10, 10, 5, 0]
        assert [(b["total_items"], b["page_count"]) for b in bodies[1:]] == [(15, 2), (5, 1), (0, 0)]
        messages = [a["text"] for b in bodies for item in b["items"] for a in item["answers"]
                    if a["field"]["ref"] == "message"]
        assert messages == [f"message {i}" for i in range(25)]
        newest = client.get(path, params={"page_size": 2}).json()["items"]
        assert [i["submitted_at"] for i in newest] == ["2026-03-01T04:00:00Z", "2026-03-01T03:50:00Z"]
        before = client.get(path, params={"page_size": 3, "before": first["items"][5]["token"]}).json()["items"]
        assert [i["token"] for i in before] == [first["items"][k]["token"] for k in (4, 3, 2)]


def test_typeform_since_until_filters_and_errors(now):
    sim = TypeformSim(now=now)
    sim.add(_responses(10))
    with serve(sim) as url, httpx.Client(headers=TF_AUTH) as client:
        path = url + sim.responses_path
        iso = client.get(path, params={"since": "2026-03-01T00:30:00", "until": "2026-03-01T01:00:00Z"}).json()
        assert sorted(i["submitted_at"] for i in iso["items"]) == [
            "2026-03-01T00:30:00Z", "2026-03-01T00:40:00Z", "2026-03-01T00:50:00Z", "2026-03-01T01:00:00Z"]
        epoch = client.get(path, params={"since": int((T0 + timedelta(minutes=80)).timestamp())}).json()
        assert epoch["total_items"] == 2
        assert client.get(path, params={"page_size": 1001}).json()["code"] == "VALIDATION_ERROR"
        assert client.get(path, params={"after": "nope"}).status_code == 400
        assert client.get(path, params={"since": "yesterday"}).status_code == 400
        assert client.get(url + "/forms/other/responses").json()["code"] == "FORM_NOT_FOUND"
    with serve(sim) as url:
        missing = httpx.get(url + sim.responses_path)
        assert missing.status_code == 401 and missing.json()["code"] == "AUTHENTICATION_FAILED"
        assert httpx.get(url + sim.responses_path, headers={"Authorization": "Bearer x"}).status_code == 401


def test_typeform_responses_are_immutable():
    sim = TypeformSim()
    sim.add(_responses(1))
    with pytest.raises(NotImplementedError, match="immutable"):
        sim.edit(sim.records[0]["token"], hidden={"x": "y"})


def test_typeform_factory_keys_answers_by_ref_and_omits_unanswered():
    response = typeform_response("abc", T0, message="你好", phone="13900001234", category="功能问题")
    assert {a["field"]["ref"]: a["type"] for a in response["answers"]} == {
        "phone": "phone_number", "category": "choice", "message": "text"}
    assert response["token"] == response["response_id"] == response["landing_id"] == "abc"
    choice = next(a for a in response["answers"] if a["type"] == "choice")["choice"]
    assert choice["label"] == "功能问题" and set(choice) == {"id", "ref", "label"}
    assert len(typeform_response(7, T0, message="x")["token"]) == 32


def test_records_are_served_as_stored_after_replacing(now):
    """add() with a known id replaces the record (and what is served), never duplicates it."""
    sim = ZendeskSim(now=now)
    sim.add([zendesk_ticket(1, T0, "a", "first")])
    sim.add([zendesk_ticket(1, T0, "a", "second")])
    with serve(sim) as url:
        body = httpx.get(url + ZENDESK_EXPORT_PATH, params={"start_time": int(T0.timestamp())}, auth=ZD_AUTH).json()
    assert [t["description"] for t in body["tickets"]] == ["second"]
