"""RestClient against a real HTTP server on 127.0.0.1: auth, retries, backoff, rate limits, clear failures.

Waits go through a fake clock/sleep pair: tests assert the waits the client asked
for, never real elapsed time.
"""

from __future__ import annotations

import base64
import random
from email.utils import parsedate_to_datetime

import pytest
from rest_server import Reply, RestServer

from feedback.channels.config import Platform
from feedback.channels.rest.client import PlatformUnavailable, RestClient
from feedback.connections import ConnectionValue
from feedback.errors import ConfigError

SERVER_DATE = "Sun, 22 Nov 2026 10:00:00 GMT"
SERVER_EPOCH = int(parsedate_to_datetime(SERVER_DATE).timestamp())
TOKEN = "tok-SECRET-123"
PATH = "/api/tickets"


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    def clock(self) -> float:
        return self.now


class TopOfJitter(random.Random):
    """Full jitter always drawing its ceiling: the backoff schedule itself becomes visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def server():
    srv = RestServer(date=SERVER_DATE).start()
    yield srv
    srv.stop()


def platform(server: RestServer, **changes) -> Platform:
    data = {
        "name": "zendesk", "base_url": server.url, "request": {"path": PATH, "timeout_seconds": 5},
        "records": "tickets", "mapping": {"external_id": "id", "received_at": "created_at", "body": "body"},
        "retry": {"max_attempts": 4, "backoff_seconds": 1.0},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Platform.model_validate(data)


def creds(login: str | None = "agent@example.com", password: str | None = TOKEN) -> ConnectionValue:
    return ConnectionValue("https", None, None, login, password, None)


def client(server: RestServer, time: FakeTime, credentials=None, rng=None, **changes) -> RestClient:
    return RestClient(platform(server, **changes), credentials, sleep=time.sleep, clock=time.clock,
                      rng=rng or TopOfJitter())


OK = Reply(200, {"tickets": []})


# --- auth ---------------------------------------------------------------------------------------


def test_bearer_token_in_authorization_header(server):
    server.route(PATH, OK)
    body, _ = client(server, FakeTime(), creds(), auth={"type": "bearer"}).get_json(PATH)
    assert body == {"tickets": []}
    assert server.seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert server.seen[0].headers["accept"] == "application/json"


def test_basic_auth_from_login_and_password(server):
    server.route(PATH, OK)
    client(server, FakeTime(), creds("agent@example.com/token", "pw"), auth={"type": "basic"}).get_json(PATH)
    expected = base64.b64encode(b"agent@example.com/token:pw").decode()
    assert server.seen[0].headers["authorization"] == f"Basic {expected}"


def test_api_key_in_header(server):
    server.route(PATH, OK)
    client(server, FakeTime(), creds(password="key-1"), auth={"type": "api_key", "name": "apikey"}).get_json(PATH)
    assert server.seen[0].headers["apikey"] == "key-1"
    assert "apikey" not in server.seen[0].query and "authorization" not in server.seen[0].headers


def test_api_key_in_query_never_reaches_the_error_message(server):
    server.route(PATH, Reply(404, {"error": "nope"}))
    rest = client(server, FakeTime(), creds(password="key-SECRET"), auth={"type": "api_key", "in": "query",
                                                                          "name": "apikey"})
    with pytest.raises(PlatformUnavailable) as err:
        rest.get_json(PATH, {"page": 2})
    assert server.seen[0].query == {"apikey": "key-SECRET", "page": "2"}
    assert "key-SECRET" not in str(err.value)
    assert str(err.value).startswith(f"zendesk: GET {PATH} failed after 1 attempt: HTTP 404")


def test_static_headers_and_params_are_sent(server):
    server.route(PATH, OK)
    client(server, FakeTime(), request={"path": PATH, "headers": {"X-Client": "feedback"}}).get_json(PATH, {"a": 1})
    assert server.seen[0].headers["x-client"] == "feedback"
    assert server.seen[0].query == {"a": "1"}


def test_missing_secret_names_the_connection(server):
    server.route(PATH, OK)
    with pytest.raises(ConfigError, match="zendesk: connection feedback_platform_zendesk has no password"):
        client(server, FakeTime(), None, auth={"type": "bearer"}).get_json(PATH)
    assert server.seen == []


def _token_endpoint(server: RestServer, expires_in: int = 3600) -> list[str]:
    issued: list[str] = []

    def token(seen):
        assert seen.method == "POST"
        issued.append(f"access-{len(issued) + 1}")
        return Reply(200, {"access_token": issued[-1], "token_type": "bearer", "expires_in": expires_in})

    server.route("/oauth/token", token)
    return issued


OAUTH = {"type": "oauth2_client_credentials", "token_url": "/oauth/token", "scope": "tickets:read"}


def test_oauth2_token_fetched_once_and_reused(server):
    issued = _token_endpoint(server)
    server.route(PATH, OK)
    rest = client(server, FakeTime(), creds("client-1", "client-secret"), auth=OAUTH)
    for _ in range(3):
        rest.get_json(PATH)
    token_calls = server.requests_to("/oauth/token")
    assert len(token_calls) == 1 and issued == ["access-1"]
    assert token_calls[0].form == {"grant_type": "client_credentials", "scope": "tickets:read"}
    assert token_calls[0].headers["authorization"] == "Basic " + base64.b64encode(b"client-1:client-secret").decode()
    assert [s.headers["authorization"] for s in server.requests_to(PATH)] == ["Bearer access-1"] * 3


def test_oauth2_token_refreshed_once_after_401(server):
    issued = _token_endpoint(server)
    server.route(PATH, lambda seen: OK if seen.headers["authorization"] == "Bearer access-2" else Reply(401, {}))
    rest = client(server, FakeTime(), creds("client-1", "client-secret"), auth=OAUTH)
    assert rest.get_json(PATH)[0] == {"tickets": []}
    assert issued == ["access-1", "access-2"]
    assert [s.headers["authorization"] for s in server.requests_to(PATH)] == ["Bearer access-1", "Bearer access-2"]


def test_oauth2_second_401_fails_without_looping(server):
    issued = _token_endpoint(server)
    server.route(PATH, Reply(401, {}))
    rest = client(server, FakeTime(), creds("client-1", "client-secret"), auth=OAUTH)
    with pytest.raises(PlatformUnavailable, match="HTTP 401 \\(check the credentials in connection "
                                                  "feedback_platform_zendesk\\)"):
        rest.get_json(PATH)
    assert issued == ["access-1", "access-2"] and len(server.requests_to(PATH)) == 2


def test_oauth2_token_renewed_when_it_expires(server):
    issued = _token_endpoint(server, expires_in=120)
    server.route(PATH, OK)
    time = FakeTime()
    rest = client(server, time, creds("client-1", "client-secret"), auth=OAUTH)
    rest.get_json(PATH)
    time.now += 60
    rest.get_json(PATH)
    time.now += 60
    rest.get_json(PATH)
    assert issued == ["access-1", "access-2"]


# --- retries and rate limits ------------------------------------------------------------------------


def test_429_honours_retry_after_seconds(server):
    server.route(PATH, [Reply(429, {}, headers={"Retry-After": "7"}), OK])
    time = FakeTime()
    rest = client(server, time)
    assert rest.get_json(PATH)[0] == {"tickets": []}
    assert time.sleeps == [7.0]
    assert (rest.stats.requests, rest.stats.retries, rest.stats.waited_seconds) == (2, 1, 7.0)


def test_429_honours_retry_after_http_date(server):
    server.route(PATH, [Reply(429, {}, headers={"Retry-After": "Sun, 22 Nov 2026 10:00:42 GMT"}), OK])
    time = FakeTime()
    client(server, time).get_json(PATH)
    assert time.sleeps == [42.0]


def test_429_asking_longer_than_max_wait_fails_at_once(server):
    server.route(PATH, Reply(429, {}, headers={"Retry-After": "3600"}))
    time = FakeTime()
    with pytest.raises(PlatformUnavailable, match="asks to wait 3600 s, more than rate_limit.max_wait_seconds"):
        client(server, time).get_json(PATH)
    assert time.sleeps == [] and len(server.seen) == 1


def test_5xx_retried_with_exponential_backoff(server):
    server.route(PATH, [Reply(500, {}), Reply(500, {}), OK])
    time = FakeTime()
    assert client(server, time).get_json(PATH)[0] == {"tickets": []}
    assert time.sleeps == [1.0, 2.0]          # ceilings backoff * 2**(attempt-1)


def test_backoff_ceiling_is_capped(server):
    server.route(PATH, [Reply(503, {})] * 5 + [OK])
    time = FakeTime()
    client(server, time, retry={"max_attempts": 6, "backoff_seconds": 10, "max_backoff_seconds": 25}).get_json(PATH)
    assert time.sleeps == [10, 20, 25, 25, 25]


def test_backoff_is_jittered_below_its_ceiling(server):
    server.route(PATH, [Reply(503, {})] * 5 + [OK])
    time = FakeTime()
    client(server, time, rng=random.Random(7), retry={"max_attempts": 6, "backoff_seconds": 10,
                                                      "max_backoff_seconds": 25}).get_json(PATH)
    ceilings = [10, 20, 25, 25, 25]
    assert len(time.sleeps) == 5
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(time.sleeps, ceilings, strict=True))
    assert len(set(time.sleeps)) == 5          # drawn, not fixed


def test_timeout_is_retried(server):
    server.route(PATH, [Reply(200, {"tickets": ["late"]}, delay=0.6), OK])
    time = FakeTime()
    rest = client(server, time, request={"path": PATH, "timeout_seconds": 0.2})
    assert rest.get_json(PATH)[0] == {"tickets": []}
    assert len(server.seen) == 2 and rest.stats.retries == 1 and time.sleeps == [1.0]


def test_connection_refused_is_retried_then_fails(server):
    server.route(PATH, OK)
    dead = RestServer().start()
    url = dead.url
    dead.stop()
    rest = RestClient(platform(server, base_url=url), None, sleep=FakeTime().sleep, rng=TopOfJitter())
    with pytest.raises(PlatformUnavailable, match=r"GET /api/tickets failed after 4 attempts: connection error"):
        rest.get_json(PATH)
    assert rest.stats.requests == 4


def test_exhausted_retries_name_path_and_attempts_not_the_token(server):
    server.route(PATH, Reply(503, {"error": "maintenance"}))
    rest = client(server, FakeTime(), creds(), auth={"type": "bearer"}, retry={"max_attempts": 3})
    with pytest.raises(PlatformUnavailable) as err:
        rest.get_json(PATH, {"start_time": 1767225600})
    assert str(err.value) == (f"zendesk: GET {PATH} failed after 3 attempts: HTTP 503; "
                              "the next run resumes from the stored position")
    assert TOKEN not in str(err.value) and "1767225600" not in str(err.value)
    assert len(server.seen) == 3


@pytest.mark.parametrize("status", [401, 403, 404, 400])
def test_client_errors_are_not_retried(server, status):
    server.route(PATH, Reply(status, {}))
    time = FakeTime()
    with pytest.raises(PlatformUnavailable, match=f"failed after 1 attempt: HTTP {status}"):
        client(server, time, creds(), auth={"type": "bearer"}).get_json(PATH)
    assert len(server.seen) == 1 and time.sleeps == []


def test_redirect_is_not_followed(server):
    server.route(PATH, Reply(301, {}, headers={"Location": "http://elsewhere.example/x"}))
    with pytest.raises(PlatformUnavailable, match="HTTP 301 \\(redirects are not followed"):
        client(server, FakeTime()).get_json(PATH)


def test_rate_limit_remaining_zero_waits_before_the_next_call(server):
    server.route(PATH, [Reply(200, {"n": 1}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}),
                        Reply(200, {"n": 2}, headers={"X-RateLimit-Remaining": "0",
                                                      "X-RateLimit-Reset": str(SERVER_EPOCH + 45)}),
                        Reply(200, {"n": 3}, headers={"X-RateLimit-Remaining": "5"})])
    time = FakeTime()
    rest = client(server, time)
    assert rest.get_json(PATH)[0] == {"n": 1}
    assert time.sleeps == []                  # the page that brought the news is used at once
    assert rest.get_json(PATH)[0] == {"n": 2}
    assert rest.get_json(PATH)[0] == {"n": 3}
    assert time.sleeps == [30.0, 45.0]        # seconds, then an epoch on the server's clock
    rest.get_json(PATH)
    assert time.sleeps == [30.0, 45.0]


def test_rate_limit_reset_beyond_max_wait_fails_the_next_call(server):
    server.route(PATH, Reply(200, {"n": 1}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "900"}))
    time = FakeTime()
    rest = client(server, time)
    assert rest.get_json(PATH)[0] == {"n": 1}
    with pytest.raises(PlatformUnavailable, match="limit resets in 900 s, more than rate_limit.max_wait_seconds"):
        rest.get_json(PATH)
    assert len(server.seen) == 1 and time.sleeps == []


def test_requests_per_minute_paces_calls(server):
    server.route(PATH, OK)
    time = FakeTime()
    rest = client(server, time, rate_limit={"requests_per_minute": 30})
    rest.get_json(PATH)
    rest.get_json(PATH)
    time.now += 0.5
    rest.get_json(PATH)
    assert time.sleeps == [2.0, 1.5]


def test_non_json_body_is_a_clear_failure(server):
    server.route(PATH, Reply(200, text="<html>maintenance</html>"))
    with pytest.raises(PlatformUnavailable, match=r"GET /api/tickets failed after 1 attempt: the response is not "
                                                  r"JSON \(text/html\)"):
        client(server, FakeTime()).get_json(PATH)


def test_links_to_another_host_are_refused(server):
    server.route(PATH, OK)
    with pytest.raises(PlatformUnavailable, match="refusing to follow a link to another host"):
        client(server, FakeTime(), creds(), auth={"type": "bearer"}).get_json("http://evil.example/api/tickets")
    assert server.seen == []


def test_base_url_path_prefix_is_kept(server):
    server.route("/v2" + PATH, OK)
    client(server, FakeTime(), base_url=server.url + "/v2/").get_json(PATH)
    assert server.seen[0].path == "/v2" + PATH
