"""HTTP for REST sources: auth, pacing, retries with backoff, and the servers' rate-limit signals.

Third-party APIs fail in ordinary ways (429s, 5xx bursts, slow responses), and a
nightly pull must ride those out without hammering the server, then fail with one
clear line when it cannot. Whatever happens, nothing we say (logs, errors) carries
a token, a key in a query string or a response body: messages name the platform,
the path, the attempt count and the status.

Waiting goes through injectable `sleep`/`clock` so tests assert the waits that were
requested instead of spending them.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from feedback.channels.config import Platform
from feedback.errors import ConfigError, FeedbackError

if TYPE_CHECKING:
    from feedback.connections import ConnectionValue

log = logging.getLogger(__name__)
USER_AGENT = "feedback-pipeline/0.1 (+rest source)"
# A reset header value at least this large is an epoch timestamp, below it a number of seconds.
_EPOCH_THRESHOLD = 1_000_000_000
# Refresh a cached OAuth token this long before the server says it expires.
_TOKEN_MARGIN_SECONDS = 30.0


class PlatformUnavailable(FeedbackError):
    """The platform did not give a usable answer; the run stops and the next one resumes."""


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    http_seconds: float = 0.0


@dataclass
class _Token:
    value: str
    expires_at: float   # on the client's clock


class _Failure(Exception):
    """Internal: one attempt failed; `retry_after` is set when the server said how long to wait."""

    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


def _server_now(headers: httpx.Headers) -> float:
    """The server's clock (Date header) when it sent one: resets and dates are on its clock, not ours."""
    try:
        return parsedate_to_datetime(headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return time.time()


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - _server_now(headers))


def reset_seconds(value: str, headers: httpx.Headers) -> float | None:
    """X-RateLimit-Reset style value as seconds to wait: small numbers are seconds, large ones epoch times."""
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number >= _EPOCH_THRESHOLD:
        return max(0.0, number - _server_now(headers))
    return max(0.0, number)


class RestClient:
    """One platform's HTTP session: every request goes through auth, pacing and the retry loop."""

    def __init__(
        self,
        platform: Platform,
        credentials: ConnectionValue | None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        http: httpx.Client | None = None,
    ):
        self.platform = platform
        self.credentials = credentials
        self.stats = ClientStats()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._own_http = http is None
        self._http = http or httpx.Client()
        self._attempts = 0                          # attempts the last request took
        self._token: _Token | None = None
        self._last_request_at: float | None = None
        self._not_before: float | None = None      # from a server's "remaining: 0" signal
        self._origin = _origin(platform.base_url)

    # --- public ---------------------------------------------------------------------------------

    def url_for(self, url_or_path: str) -> str:
        """An absolute URL: a path is appended to base_url (which may itself carry a path prefix)."""
        if url_or_path.startswith(("http://", "https://")):
            return url_or_path
        return self.platform.base_url.rstrip("/") + "/" + url_or_path.lstrip("/")

    def get_json(self, url_or_path: str, params: dict[str, Any] | None = None) -> tuple[Any, httpx.Headers]:
        """GET and decode JSON, riding out rate limits and transient failures within the retry budget.

        A URL on another host than base_url is refused: following it would hand our credentials over.
        """
        url = self.url_for(url_or_path)
        if _origin(url) != self._origin:
            raise PlatformUnavailable(
                f"{self.platform.name}: refusing to follow a link to another host ({urlsplit(url).hostname}); "
                "the next run resumes from the stored position"
            )
        response = self._with_retries("GET", url, params=dict(params or {}), authorised=True)
        try:
            return response.json(), response.headers
        except (json.JSONDecodeError, UnicodeDecodeError):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise PlatformUnavailable(
                self._message("GET", url, self._attempts, f"the response is not JSON ({kind})")) from None

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the retry loop -------------------------------------------------------------------------

    def _with_retries(self, method: str, url: str, *, params: dict[str, Any] | None = None,
                      data: dict[str, str] | None = None, authorised: bool,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        retry = self.platform.retry
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._attempt(method, url, params=params, data=data, authorised=authorised,
                                         extra_headers=headers)
                self._attempts = attempt
                return response
            except _Failure as failure:
                if (failure.status == 401 and authorised and not refreshed
                        and self.platform.auth.type == "oauth2_client_credentials"):
                    # The token may have been revoked early: get a new one, once.
                    refreshed = True
                    self._token = None
                    self.stats.retries += 1
                    attempt -= 1
                    continue
                if not failure.retryable or attempt >= retry.max_attempts:
                    raise PlatformUnavailable(self._message(method, url, attempt, failure.reason)) from None
                wait = failure.retry_after
                if wait is None:
                    ceiling = min(retry.max_backoff_seconds, retry.backoff_seconds * 2 ** (attempt - 1))
                    wait = self._rng.uniform(0, ceiling)   # full jitter
                elif wait > self.platform.rate_limit.max_wait_seconds:
                    raise PlatformUnavailable(self._message(
                        method, url, attempt,
                        f"{failure.reason}, the server asks to wait {wait:.0f} s, more than "
                        f"rate_limit.max_wait_seconds ({self.platform.rate_limit.max_wait_seconds:.0f})",
                    )) from None
                self.stats.retries += 1
                log.warning("%s: %s %s attempt %d/%d failed (%s); retrying in %.1f s", self.platform.name, method,
                            _path(url), attempt, retry.max_attempts, failure.reason, wait)
                self._wait(wait)

    def _attempt(self, method: str, url: str, *, params: dict[str, Any] | None, data: dict[str, str] | None,
                 authorised: bool, extra_headers: dict[str, str] | None) -> httpx.Response:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.platform.request.headers,
                   **(extra_headers or {})}
        params = dict(params or {})
        if authorised:
            self._authorise(headers, params)
        self._pace()
        started = self._clock()
        self.stats.requests += 1
        self._last_request_at = started
        try:
            response = self._http.request(
                method, url, params=params or None, data=data, headers=headers,
                timeout=self.platform.request.timeout_seconds, follow_redirects=False,
            )
        except httpx.TimeoutException as exc:
            raise _Failure(f"timed out after {self.platform.request.timeout_seconds:g} s ({type(exc).__name__})",
                           retryable=True) from None
        except httpx.TransportError as exc:
            raise _Failure(f"connection error ({type(exc).__name__})", retryable=True) from None
        finally:
            self.stats.http_seconds += max(0.0, self._clock() - started)
        self._note_rate_limit(response)
        if response.is_success:
            return response
        status = response.status_code
        reason = f"HTTP {status}"
        if status in (401, 403):
            reason += f" (check the credentials in connection {self.platform.connection_id})"
        elif response.is_redirect:
            # Not followed: a custom key header would go wherever the redirect points.
            reason += " (redirects are not followed: set base_url to the final address)"
        retryable = status in self.platform.retry.retry_statuses
        retry_after = retry_after_seconds(response.headers) if retryable else None
        if retryable and retry_after is None and status == 429:
            retry_after = self._reset_wait(response.headers)
        raise _Failure(reason, retryable=retryable, retry_after=retry_after, status=status)

    # --- waiting --------------------------------------------------------------------------------

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.stats.waited_seconds += seconds
        self._sleep(seconds)

    def _pace(self) -> None:
        """Client-side pacing and a pending "remaining: 0" wait, both before the request goes out.

        A wait longer than max_wait_seconds fails this request (not the one that brought the news, whose
        page is good): the run ends cleanly and the next one resumes.
        """
        now = self._clock()
        waits = []
        if self._not_before is not None:
            pending = self._not_before - now
            limit = self.platform.rate_limit.max_wait_seconds
            if pending > limit:
                raise _Failure(f"no requests remain and the limit resets in {pending:.0f} s, more than "
                               f"rate_limit.max_wait_seconds ({limit:.0f})", retryable=False)
            waits.append(pending)
            self._not_before = None
        rpm = self.platform.rate_limit.requests_per_minute
        if rpm and self._last_request_at is not None:
            waits.append(self._last_request_at + 60.0 / rpm - now)
        self._wait(max(waits, default=0.0))

    def _reset_wait(self, headers: httpx.Headers) -> float | None:
        name = self.platform.rate_limit.reset_header
        value = headers.get(name) if name else None
        return reset_seconds(value, headers) if value is not None else None

    def _note_rate_limit(self, response: httpx.Response) -> None:
        """When the server says no requests remain, hold the next one until its reset time."""
        limits = self.platform.rate_limit
        remaining = response.headers.get(limits.remaining_header) if limits.remaining_header else None
        if remaining is None:
            return
        try:
            if float(remaining.strip()) > 0:
                return
        except ValueError:
            return
        wait = self._reset_wait(response.headers)
        if wait is not None:
            self._not_before = self._clock() + wait

    # --- auth -----------------------------------------------------------------------------------

    def _secret(self, field: str, what: str) -> str:
        value = getattr(self.credentials, field, None) if self.credentials else None
        if not value:
            raise ConfigError(
                f"{self.platform.name}: connection {self.platform.connection_id} has no {field} "
                f"({what} for auth type {self.platform.auth.type})"
            )
        return str(value)

    def _authorise(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        auth = self.platform.auth
        if auth.type == "bearer":
            headers["Authorization"] = f"Bearer {self._secret('password', 'the token')}"
        elif auth.type == "basic":
            headers["Authorization"] = _basic_header(self._secret("login", "the user"),
                                                     self._secret("password", "the password"))
        elif auth.type == "api_key":
            key, name = self._secret("password", "the API key"), auth.name
            if name is None:     # the spec requires it for api_key (validated on load)
                raise ConfigError(f"{self.platform.name}: auth.name is not set")
            if auth.in_ == "query":
                params[name] = key
            else:
                headers[name] = key
        elif auth.type == "oauth2_client_credentials":
            headers["Authorization"] = f"Bearer {self._access_token()}"

    def _access_token(self) -> str:
        """A client-credentials token, cached until shortly before it expires."""
        if self._token and self._clock() < self._token.expires_at:
            return self._token.value
        auth = self.platform.auth
        client_id = self._secret("login", "the client id")
        client_secret = self._secret("password", "the client secret")
        form = {"grant_type": "client_credentials"}
        if auth.scope:
            form["scope"] = auth.scope
        url = self.url_for(auth.token_url or "")
        # Client authentication with HTTP Basic, as RFC 6749 §2.3.1 asks servers to support.
        basic = {"Authorization": _basic_header(client_id, client_secret)}
        response = self._with_retries("POST", url, data=form, authorised=False, headers=basic)
        try:
            body = response.json()
            token = body["access_token"]
            expires_in = float(body.get("expires_in") or 3600)
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            raise PlatformUnavailable(self._message(
                "POST", url, 1, "the token response has no access_token (expected OAuth 2 JSON)")) from None
        if not isinstance(token, str) or not token:
            raise PlatformUnavailable(self._message("POST", url, 1, "the token response has an empty access_token"))
        lifetime = max(0.0, expires_in - min(_TOKEN_MARGIN_SECONDS, expires_in / 2))
        self._token = _Token(token, self._clock() + lifetime)
        return token

    # --- messages -------------------------------------------------------------------------------

    def _message(self, method: str, url: str, attempts: int, reason: str) -> str:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        return (f"{self.platform.name}: {method} {_path(url)} failed after {tries}: {reason}; "
                "the next run resumes from the stored position")


def _basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _path(url: str) -> str:
    """The URL's path only: query strings may carry keys (api_key in query) and never reach messages."""
    return urlsplit(url).path or "/"
