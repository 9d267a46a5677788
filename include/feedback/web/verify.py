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
import os
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from feedback import connections
from feedback.config import WebForm
from feedback.errors import ConfigError, FeedbackError

MAX_SKEW_SECONDS = 300
SIGNATURE_PREFIX = "sha256="

ConnectionLookup = Callable[[str], str | None]


class Unauthorized(Exception):
    """The request is not from the form's site; `reason` is safe to answer with."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SecretMissing(FeedbackError):
    """The form asks for verification but its secret connection is not set up."""


def env_connection(conn_id: str) -> str | None:
    """A connection's value from its `AIRFLOW_CONN_<ID>` variable, as Airflow itself would read it."""
    return os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}") or None


def form_secret(form: WebForm, lookup: ConnectionLookup) -> str:
    """The form's token / HMAC secret: its connection's password; SecretMissing says what to create."""
    conn_id = form.secret_connection_id
    how = (f"create the Airflow connection {conn_id} (e.g. AIRFLOW_CONN_{conn_id.upper()}="
           f"'generic://:<secret>@') with the secret as its password")
    value = lookup(conn_id)
    if not value:
        raise SecretMissing(f"form {form.name} uses verify: {form.verify} but connection {conn_id} is missing; {how}")
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


def check_signature(headers: Mapping[str, str], body: bytes, secret: str, now_unix: float) -> None:
    """HMAC-SHA256 over `<timestamp>.<body>`; authentic but older than MAX_SKEW_SECONDS is a replay."""
    timestamp = headers.get("x-feedback-timestamp")
    given = headers.get("x-feedback-signature")
    if not timestamp or not given:
        raise Unauthorized("missing signature")
    timestamp = timestamp.strip()
    if not timestamp.isdigit() or not given.startswith(SIGNATURE_PREFIX):
        raise Unauthorized("invalid signature")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise Unauthorized("invalid signature")
    if abs(now_unix - int(timestamp)) > MAX_SKEW_SECONDS:
        raise Unauthorized("expired signature")


def verify(form: WebForm, headers: Mapping[str, str], body: bytes, lookup: ConnectionLookup,
           now_unix: float) -> None:
    """Apply the form's `verify` setting; raises Unauthorized or SecretMissing."""
    if form.verify == "none":
        return
    secret = form_secret(form, lookup)
    if form.verify == "token":
        check_token(headers, secret)
    else:
        check_signature(headers, body, secret, now_unix)
