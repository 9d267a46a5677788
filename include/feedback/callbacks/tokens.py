"""Signed survey links: the token names a task and an expiry, and only our key can make one.

A token is `<task id>.<expiry, unix seconds>.<HMAC-SHA256 signature, base64url>` over
a domain-separated message (`feedback-survey:v1:<task>:<expiry>`). Nothing secret is
inside (an id and a time); what makes it unforgeable is the key. Verification
recomputes the signature and compares in constant time (`hmac.compare_digest`)
before it looks at the expiry, so a tampered token is always "invalid" (HTTP 403)
and only a genuine one can be "expired" (HTTP 410).

The key, first found wins:
1. `FEEDBACK_SURVEY_KEY` (at least 16 characters);
2. the password of the `feedback_survey` connection (`AIRFLOW_CONN_FEEDBACK_SURVEY`,
   e.g. `generic://:<secret>@`);
3. derived from `FEEDBACK_HASH_KEY` (the identity-hash key) as
   HMAC-SHA256(hash key, "feedback/survey-link/v1"): a separate key for a separate
   purpose, so a survey link says nothing about identity hashes and vice versa.
The DAG that writes the links and the web app that checks them must see the same
setting; rotating the key invalidates links already sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from feedback import connections
from feedback.errors import ConfigError, FeedbackError
from feedback.privacy.keys import hash_key

KEY_ENV = "FEEDBACK_SURVEY_KEY"
CONN_ENV = "AIRFLOW_CONN_FEEDBACK_SURVEY"
DERIVATION_LABEL = b"feedback/survey-link/v1"
_TOKEN_RE = re.compile(r"^([1-9][0-9]{0,18})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


class TokenInvalid(FeedbackError):
    """Not a link we made (malformed or tampered): HTTP 403."""


class TokenExpired(FeedbackError):
    """A genuine link past its expiry: HTTP 410."""


@dataclass(frozen=True)
class SurveyToken:
    task_id: int
    expires_at: datetime


def survey_key(connection_uri: str | None = None) -> bytes:
    """The signing key (see the module docstring for the order); never logged."""
    value = os.environ.get(KEY_ENV, "").strip()
    if value:
        if len(value) < 16:
            raise ConfigError(f"{KEY_ENV}: too short; use at least 16 random characters")
        return value.encode()
    uri = connection_uri or connections.value("feedback_survey")
    if uri:
        conn = connections.parse(uri, "the feedback_survey connection", {"generic", "http", "https", "secret"},
                                 "generic://:<secret>@")
        if not conn.password or len(conn.password) < 16:
            raise ConfigError("the feedback_survey connection: put a secret of at least 16 characters in its "
                              "password, e.g. generic://:<secret>@")
        return conn.password.encode()

    return hmac.new(hash_key(), DERIVATION_LABEL, hashlib.sha256).digest()


def _signature(key: bytes, task_id: int, expiry: int) -> str:
    mac = hmac.new(key, f"feedback-survey:v1:{task_id}:{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_token(task_id: int, expires_at: datetime, key: bytes | None = None) -> str:
    """The token for a task's survey link, valid until `expires_at`."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    expiry = int(expires_at.timestamp())
    return f"{task_id}.{expiry}.{_signature(key or survey_key(), task_id, expiry)}"


def verify_token(token: str, now: datetime, key: bytes | None = None) -> SurveyToken:
    """The task a token names, if we signed it and it has not expired at `now`.

    Raises TokenInvalid (malformed or tampered) or TokenExpired; the messages carry
    no part of the token.
    """
    match = _TOKEN_RE.match(token or "")
    if not match:
        raise TokenInvalid("survey link: not a valid link")
    task_id, expiry, given = int(match[1]), int(match[2]), match[3]
    expected = _signature(key or survey_key(), task_id, expiry)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise TokenInvalid("survey link: signature does not match")
    expires_at = datetime.fromtimestamp(expiry, UTC)
    if now >= expires_at:
        raise TokenExpired(f"survey link of task {task_id} expired")
    return SurveyToken(task_id, expires_at)
