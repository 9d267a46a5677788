"""Telling a form's real website from anyone else who posts to its endpoint.

`verify: token` suits a site whose server forwards submissions (it can keep a
bearer token secret); `verify: hmac` signs each body with a timestamp so a
captured request cannot be replayed after `MAX_SKEW_SECONDS`. The secret is the
password of an Airflow connection (`feedback_webform_<form>` unless the form names
another), read the way every other connection is read, so it never sits in YAML.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from feedback import connections
from feedback.channels.config import WebForm
from feedback.errors import ConfigError, FeedbackError

MAX_SKEW_SECONDS = 300
SIGNATURE_PREFIX = "sha256="
# Unix seconds as a site sends them: up to 12 ASCII digits (the year 33658 is still refused as expired).
TIMESTAMP = re.compile(r"^[0-9]{1,12}$")

# A connection's value by id: `feedback.connections.value` (the deployment's lookup), or a test's stand-in.
ConnectionGetter = Callable[[str], str | None]


class Unauthorized(Exception):
    """The request is not from the form's site; `reason` is safe to answer with."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Signed:
    """An accepted signature (canonical form) and until when a replay of it would still pass."""

    signature: str
    timestamp: int

    @property
    def expires_unix(self) -> int:
        return self.timestamp + MAX_SKEW_SECONDS

    @property
    def digest(self) -> str:
        """What the register keeps: a hash of the signature, not the signature itself."""
        return hashlib.sha256(self.signature.encode()).hexdigest()


class SecretMissing(FeedbackError):
    """The form asks for verification but its secret connection is not set up."""


def form_secret(form: WebForm, lookup: ConnectionGetter) -> str:
    """The form's token / HMAC secret: its connection's password; SecretMissing says what to create."""
    return connection_password(form.secret_connection_id, lookup,
                               f"form {form.name} uses verify: {form.verify} but ")


def connection_password(conn_id: str, lookup: ConnectionGetter, missing_prefix: str = "") -> str:
    """A secret kept as an Airflow connection's password (never in YAML); SecretMissing names what to create."""
    how = (f"create the Airflow connection {conn_id} (e.g. AIRFLOW_CONN_{conn_id.upper()}="
           f"'generic://:<secret>@') with the secret as its password")
    value = lookup(conn_id)
    if not value:
        raise SecretMissing(f"{missing_prefix}connection {conn_id} is missing; {how}")
    scheme = "generic" if value.strip().startswith("{") else urlsplit(value.strip()).scheme
    try:
        parsed = connections.parse(value, f"connection {conn_id}", {scheme}, "a connection URI")
    except ConfigError as exc:
        raise SecretMissing(f"{exc}; {how}") from None
    if not parsed.password:
        raise SecretMissing(f"connection {conn_id} has no password; {how}")
    return parsed.password


def check_token(headers: Mapping[str, str], secret: str) -> None:
    """`Authorization: Bearer <secret>`, compared in constant time."""
    header = headers.get("authorization")
    if not header:
        raise Unauthorized("missing token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), secret.encode()):
        raise Unauthorized("invalid token")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Feedback-Signature value a site sends for `body` at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def check_signature(headers: Mapping[str, str], body: bytes, secret: str, now_unix: float) -> Signed:
    """HMAC-SHA256 over `<timestamp>.<body>`; authentic but older than MAX_SKEW_SECONDS is a replay.

    Inside the window the same signed request can still be sent again: the caller remembers the
    returned signature until `Signed.expires_unix` so a replay lands nothing new.
    """
    timestamp = headers.get("x-feedback-timestamp")
    given = headers.get("x-feedback-signature")
    if not timestamp or not given:
        raise Unauthorized("missing signature")
    timestamp = timestamp.strip()
    # ASCII digits only, and few of them: str.isdigit() takes "²" and "१२३", which int() refuses or
    # reads, and 5,000 digits are more than int() converts; neither is a time anyone signs.
    if not TIMESTAMP.match(timestamp) or not given.startswith(SIGNATURE_PREFIX):
        raise Unauthorized("invalid signature")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise Unauthorized("invalid signature")
    if abs(now_unix - int(timestamp)) > MAX_SKEW_SECONDS:
        raise Unauthorized("expired signature")
    return Signed(expected, int(timestamp))


def verify(form: WebForm, headers: Mapping[str, str], body: bytes, lookup: ConnectionGetter,
           now_unix: float) -> Signed | None:
    """Apply the form's `verify` setting; the accepted signature for `verify: hmac`, else None.

    Raises Unauthorized or SecretMissing.
    """
    if form.verify == "none":
        return None
    secret = form_secret(form, lookup)
    if form.verify == "token":
        check_token(headers, secret)
        return None
    return check_signature(headers, body, secret, now_unix)
