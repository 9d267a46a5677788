"""Delivering pending `outbox` rows: mail over SMTP, chat robots over HTTP, each row once.

Why it is shaped this way:
- **Never twice.** Each row is claimed with `FOR UPDATE SKIP LOCKED` in its own
  transaction and marked sent in that transaction right after the server accepted
  it, so two senders never take the same row, a re-run skips what was sent, and a
  crash can at worst resend the one row in flight — with the same stable Message-ID,
  which mail clients use to fold the copy away.
- **Failures wait and then stop.** A failed row gets `attempts + 1`, a one-line
  `last_error` and `not_before = now + backoff` (exponential, capped); a permanent
  refusal (a webhook's 4xx other than 429, a mail server's 5xx for the recipient,
  a purged vault entry) goes straight to `attempts = max_attempts`.
- **A row that cannot be built is held, not retried forever.** A recipient whose vault
  entry cannot be decrypted, a message that cannot be built from its row (a header
  not allowed, a payload that does not render), a data error while recording it: the
  row is held (`feedback.holds`, stage `outbox`) with a reason and no values, the rest
  of the queue goes on, and the row waits for `feedback quarantine release`.
- **Personal data only at the moment of sending.** A customer recipient is stored
  as `vault:<id>` and revealed here (audited in `contact_reveal`); errors and logs
  name the row id, the kind and the server, never an address.
- **Time is given.** `now` comes from the caller (the DAG run), never the wall clock.
"""

from __future__ import annotations

import json
import logging
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from feedback import connections
from feedback.db.rows import TextRow
from feedback.errors import FeedbackError
from feedback.holds import describe_error, held_refs, hold_row, is_infrastructure_error
from feedback.notify.outbox import message_id_for
from feedback.privacy.vault import outbox_recipient

log = logging.getLogger(__name__)

CONN_ENV = "AIRFLOW_CONN_FEEDBACK_SMTP"
DEFAULT_FROM = "noreply@feedback.local"
EXAMPLE_URI = "smtp://user:pass@mail.example.com:587?disable_ssl=true&from_email=feedback@example.com"
ERROR_CHARS = 300
# Headers a row may ask for in payload["headers"] (replies to a customer's mail, list hygiene).
ALLOWED_HEADERS = {"in-reply-to", "references", "reply-to", "auto-submitted", "list-id", "precedence"}

_EMAIL_RE = re.compile(r"[^\s<>\"'(),;:@]+@[^\s<>\"'(),;:@]+")
_DIGITS_RE = re.compile(r"\+?\d[\d\s-]{5,}\d")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


# --- SMTP settings -----------------------------------------------------------------------------


def _flag(extra: Mapping[str, Any], key: str, source: str) -> bool:
    value = extra.get(key, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FeedbackError(f"{source}: {key} must be true or false, got {value!r}")


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the outgoing mail server (the `feedback_smtp` Airflow connection).

    Follows Airflow's SMTP connection: SSL unless `disable_ssl`, STARTTLS unless
    `disable_tls` (ignored under SSL), so the same connection serves Airflow's own
    e-mail too. `smtp://host:25?disable_ssl=true&disable_tls=true` is plain SMTP.
    """

    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = True
    starttls: bool = True
    from_email: str = DEFAULT_FROM
    timeout: float = 30.0
    verify: bool = True
    source: str = CONN_ENV

    @property
    def where(self) -> str:
        """`host:port`, for error lines (never the login or password)."""
        return f"{self.host}:{self.port}"

    @property
    def mode(self) -> str:
        """plain, starttls or ssl: shown in connection errors, the usual cause of a wrong port."""
        return "ssl" if self.ssl else "starttls" if self.starttls else "plain"

    @classmethod
    def from_parts(cls, host: str | None, port: int | str | None, login: str | None, password: str | None,
                   extra: Mapping[str, Any] | None, source: str = CONN_ENV) -> SmtpSettings:
        """Build from an Airflow connection's fields (host, port, login, password, extra)."""
        extra = dict(extra or {})
        if not host:
            raise FeedbackError(f"{source}: no host given; expected e.g. {EXAMPLE_URI}")
        use_ssl = not _flag(extra, "disable_ssl", source)
        starttls = not use_ssl and not _flag(extra, "disable_tls", source)
        try:
            number = int(port) if port not in (None, "") else (465 if use_ssl else 587 if starttls else 25)
        except (TypeError, ValueError):
            raise FeedbackError(f"{source}: the port must be a number, got {port!r}") from None
        try:
            timeout = float(extra.get("timeout", 30))
        except (TypeError, ValueError):
            raise FeedbackError(f"{source}: timeout must be a number of seconds, got {extra['timeout']!r}") from None
        context = str(extra.get("ssl_context", "default")).lower()
        if context not in {"default", "none"}:
            raise FeedbackError(f"{source}: ssl_context must be default or none, got {context!r}")
        sender = str(extra.get("from_email") or (login if login and "@" in login else DEFAULT_FROM))
        return cls(host=host, port=number, user=login or None, password=password or None, ssl=use_ssl,
                   starttls=starttls, from_email=sender, timeout=timeout, verify=context == "default",
                   source=source)

    @classmethod
    def from_uri(cls, uri: str, source: str = "the feedback_smtp connection") -> SmtpSettings:
        """Parse the connection value: a URI `smtp://user:pass@host:port?disable_ssl=true&from_email=…` or JSON."""
        conn = connections.parse(uri, source, {"smtp", "smtps", "email"}, f"an smtp:// URI such as {EXAMPLE_URI}")
        extra = dict(conn.extra)
        if conn.scheme == "smtps":
            extra.setdefault("disable_ssl", False)
        return cls.from_parts(conn.host, conn.port, conn.login, conn.password, extra, source)

    @classmethod
    def from_json(cls, text: str, source: str = CONN_ENV) -> SmtpSettings:
        """Airflow's JSON connection form: `{"host": …, "port": …, "login": …, "extra": {…}}`."""
        return cls.from_uri(text, source)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        """The `feedback_smtp` connection (URI or JSON) from the deployment's lookup, or from `environ`.

        Raises one FeedbackError line saying what to set when it is missing or wrong,
        instead of a socket error deep inside the sender.
        """
        found = connections.lookup() if environ is None else connections.EnvironmentConnections(environ)
        value = found.get("feedback_smtp")
        if not value:
            raise FeedbackError(
                f"the feedback_smtp connection is not configured: set {CONN_ENV}, e.g. {EXAMPLE_URI} "
                "(or add the connection feedback_smtp in Airflow)"
            )
        return cls.from_uri(value, CONN_ENV)


# --- failures ----------------------------------------------------------------------------------


class _Failed(Exception):
    def __init__(self, message: str, permanent: bool = False, retry_after: timedelta | None = None,
                 server_down: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.server_down = server_down


def _scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """One line without addresses or phone-like numbers, short enough for a log line."""
    line = " ".join(str(text).split())
    for secret in secrets:
        if secret:
            line = line.replace(secret, "<recipient>")
    line = _EMAIL_RE.sub("<address>", line)
    line = _DIGITS_RE.sub("<number>", line)
    return line[:ERROR_CHARS]


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    message = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {message}"


# --- mail --------------------------------------------------------------------------------------


class _Mailer:
    """One SMTP session per `send_pending` call, opened on first use and reused across rows."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.client: smtplib.SMTP | None = None
        self.down: str | None = None  # set when the server cannot be reached: later rows fail fast

    def _context(self) -> ssl.SSLContext:
        if self.settings.verify:
            return ssl.create_default_context()
        return ssl._create_unverified_context()  # the operator set ssl_context=none

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        hint = ""
        if s.ssl and s.port in (25, 587):
            hint = " (port 587/25 usually needs disable_ssl=true for STARTTLS or plain)"
        client: smtplib.SMTP | None = None
        try:
            if s.ssl:
                client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._context())
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            client.ehlo()
            if s.starttls:
                client.starttls(context=self._context())
                client.ehlo()
            if s.user:
                client.login(s.user, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            if client is not None:
                client.close()
            self.down = f"smtp {s.where}: login refused ({exc.smtp_code}); check the feedback_smtp login"
        except (OSError, smtplib.SMTPException) as exc:
            if client is not None:
                client.close()
            detail = _scrub(f"{type(exc).__name__}: {exc}")
            self.down = f"smtp {s.where} ({s.mode}): cannot connect: {detail}{hint}"
        else:
            return client
        raise _Failed(self.down, server_down=True)

    def send(self, message: EmailMessage, to_address: str) -> None:
        if self.down:
            raise _Failed(self.down, server_down=True)
        if self.client is None:
            self.client = self._connect()
        where = self.settings.where
        try:
            refused = self.client.send_message(message, from_addr=self.settings.from_email, to_addrs=[to_address])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise _Failed(f"smtp {where}: recipient refused ({', '.join(map(str, codes))})",
                          permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPSenderRefused as exc:
            self.close()
            raise _Failed(f"smtp {where}: sender address refused ({exc.smtp_code}); check from_email of "
                          "the feedback_smtp connection") from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise _Failed(f"smtp {where}: {_scrub(_smtp_reply(exc), [to_address])}",
                          permanent=exc.smtp_code >= 500 and isinstance(exc, smtplib.SMTPDataError)) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise _Failed(f"smtp {where}: {_scrub(f'{type(exc).__name__}: {exc}', [to_address])}") from None
        if refused:
            raise _Failed(f"smtp {where}: recipient refused", permanent=True)

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()


def build_message(row: TextRow, to_address: str, from_email: str, now: datetime) -> EmailMessage:
    """The MIME message of an outbox row: UTF-8 text (+ HTML alternative, attachments), stable Message-ID.

    Reads `payload.text` (or `body`) and `payload.html`; `attachments` is a list of
    `{"path": …, "filename": …, "content_type": "type/subtype"}`.
    """
    payload = row.payload or {}
    msg = EmailMessage()
    msg["From"] = from_email
    msg["To"] = to_address
    msg["Subject"] = row.subject or ""
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = row.message_id or message_id_for(row.dedup_key, prefix=re.sub(r"[^a-z0-9]", "-", row.kind))
    headers = {str(k): str(v) for k, v in (payload.get("headers") or {}).items()}
    if not any(k.lower() == "auto-submitted" for k in headers):
        msg["Auto-Submitted"] = "auto-generated"
    if not any(k.lower() == "x-feedback-outbox" for k in headers):
        # Marks our own mail, so the e-mail intake never takes it (or a bounce of it) for feedback.
        msg["X-Feedback-Outbox"] = row.kind
    for name, value in headers.items():
        if name.lower() not in ALLOWED_HEADERS and not name.lower().startswith("x-"):
            raise ValueError(f"header {name!r} is not allowed in an outbox row")
        msg[name] = value
    text = payload.get("text") or row.body or ""
    msg.set_content(text, subtype="plain", charset="utf-8")
    if payload.get("html"):
        msg.add_alternative(payload["html"], subtype="html", charset="utf-8")
    for i, item in enumerate(row.attachments or []):
        path = Path(item["path"])
        try:
            data = path.read_bytes()
        except OSError:
            raise _Failed(f"attachment {i} ({path.name}) cannot be read") from None
        maintype, _, subtype = (item.get("content_type") or "application/octet-stream").partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                           filename=item.get("filename") or path.name)
    return msg


# --- webhooks ----------------------------------------------------------------------------------


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("retry-after", "")
    return timedelta(seconds=int(value)) if value.isdigit() else None


def post_webhook(client: httpx.Client, url: str, payload: Mapping[str, Any], message_id: str | None) -> None:
    """POST one robot message; raises `_Failed` (permanent for a 4xx other than 429).

    WeCom and DingTalk answer HTTP 200 with a non-zero `errcode` when they refuse a
    message (rate limit, bad key), so that counts as a failure too.
    """
    host = urlsplit(url).hostname or "?"
    body = payload.get("json", {})
    fmt = payload.get("format", "generic")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if message_id:
        headers["X-Feedback-Message-Id"] = message_id
    try:
        response = client.post(url, content=json.dumps(body, ensure_ascii=False).encode("utf-8"), headers=headers)
    except httpx.TimeoutException:
        raise _Failed(f"webhook {host}: no answer within {client.timeout.read}s") from None
    except httpx.HTTPError as exc:
        raise _Failed(f"webhook {host}: {_scrub(f'{type(exc).__name__}: {exc}', [url])}") from None
    status = response.status_code
    if status == 429:
        raise _Failed(f"webhook {host}: HTTP 429 (rate limited)", retry_after=_retry_after(response))
    if 400 <= status < 500:
        raise _Failed(f"webhook {host}: HTTP {status} (permanent: check the robot URL and format {fmt})",
                      permanent=True)
    if not 200 <= status < 300:
        raise _Failed(f"webhook {host}: HTTP {status}")
    if fmt in {"wecom", "dingtalk"}:
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        code = answer.get("errcode") if isinstance(answer, dict) else None
        if code not in (None, 0):
            raise _Failed(f"webhook {host}: robot answered errcode {code}")


# --- the sender --------------------------------------------------------------------------------

_CLAIM = """
SELECT id, kind, dedup_key, recipient, subject, body, payload, attachments, message_id, attempts
FROM feedback.outbox
WHERE sent_at IS NULL AND attempts < :max_attempts AND (not_before IS NULL OR not_before <= :now) {kinds}
  AND NOT (id = ANY(:held))
ORDER BY id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""


STAGE = "outbox"
TABLE = "feedback.outbox"


class _Poison(Exception):
    """This row cannot be sent as it is: hold it (reason code, one line without values)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _recipient(conn: sa.Connection, row: TextRow, now: datetime) -> str:
    """The row's recipient; a vault entry the configured keys cannot decrypt makes the row poison."""
    try:
        return outbox_recipient(conn, row.recipient, kind=row.kind, at=now)
    except FeedbackError:
        raise _Poison("vault_undecryptable", "the recipient's vault entry cannot be decrypted with the configured "
                      "keys (restore the key, or rotate), then release") from None


def _is_webhook(row: TextRow) -> bool:
    payload = row.payload or {}
    return payload.get("channel") == "webhook" or row.kind.endswith("webhook")


def backoff_delay(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """Wait after the `attempts`-th failure: base, 2×base, 4×base, … never more than `cap`."""
    return min(cap, base * (1 << max(0, attempts - 1)))


def send_pending(
    engine: sa.Engine,
    smtp: SmtpSettings | None = None,
    *,
    now: datetime,
    max_attempts: int = 5,
    kinds: Sequence[str] | None = None,
    limit: int = 1000,
    backoff: timedelta = timedelta(minutes=1),
    max_backoff: timedelta = timedelta(hours=1),
    http_timeout: float = 10.0,
    http_client: httpx.Client | None = None,
) -> dict[str, int]:
    """Deliver the outbox rows due at `now`; returns `{"sent": n, "failed": n, "gave_up": n}`.

    Rows held by this call are counted as `"held": n` (the key appears only when some are).

    `smtp` defaults to `SmtpSettings.from_env()`, read only when a mail row is due (a
    run with only webhook rows needs no mail server). `kinds` restricts which rows
    this sender takes (e.g. `["sla_digest", "sla_webhook"]`); None takes every kind.
    At most `limit` rows are handled per call, so one task run stays bounded.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if max_attempts < 1 or backoff <= timedelta(0):
        raise ValueError("max_attempts must be at least 1 and backoff positive")
    claim = sa.text(_CLAIM.format(kinds="AND kind = ANY(:kinds)" if kinds is not None else ""))
    params: dict[str, Any] = {"max_attempts": max_attempts, "now": now}
    if kinds is not None:
        params["kinds"] = list(kinds)
    counts = {"sent": 0, "failed": 0, "gave_up": 0}
    held = 0
    mailer: _Mailer | None = None
    own_client = http_client is None
    client = http_client or httpx.Client(timeout=http_timeout, follow_redirects=False)
    with engine.connect() as conn:
        skip = {int(ref) for ref in held_refs(conn, STAGE, TABLE) if ref.isdigit()}
    try:
        for _ in range(limit):
            row = None
            try:
                with engine.begin() as conn:
                    row = conn.execute(claim, {**params, "held": sorted(skip)}).one_or_none()
                    if row is None:
                        break
                    try:
                        if _is_webhook(row):
                            url = _recipient(conn, row, now)
                            post_webhook(client, url, row.payload or {}, row.message_id)
                        else:
                            if mailer is None:
                                mailer = _Mailer(smtp or SmtpSettings.from_env())
                            if mailer.down:  # fail fast, and reveal no contact for a mail that cannot leave
                                raise _Failed(mailer.down, server_down=True)
                            address = _resolve_mail_address(conn, row, now)
                            mailer.send(build_message(row, address, mailer.settings.from_email, now), address)
                    except _Failed as failure:
                        outcome = _record_failure(conn, row, failure, now, max_attempts, backoff, max_backoff)
                        counts[outcome] += 1
                        continue
                    conn.execute(sa.text("UPDATE feedback.outbox SET sent_at = :now WHERE id = :id"),
                                 {"now": now, "id": row.id})
                    counts["sent"] += 1
            except Exception as error:  # noqa: BLE001 - the row is the poison, unless the setup or the register is
                if row is None or is_infrastructure_error(error) or (
                        isinstance(error, FeedbackError) and not isinstance(error, _Poison)):
                    raise
                _hold(engine, row, error, now)
                skip.add(row.id)
                held += 1
    finally:
        if mailer is not None:
            mailer.close()
        if own_client:
            client.close()
    if held:
        counts["held"] = held
    if any(counts.values()):
        log.info("outbox at %s: %s", now.isoformat(), counts)
    return counts


def _hold(engine: sa.Engine, row: TextRow, error: BaseException, now: datetime) -> None:
    """Hold a row that cannot be sent as it is; its transaction was rolled back (nothing revealed stays)."""
    if isinstance(error, _Poison):
        reason, detail = error.reason, error.detail
    else:
        reason, detail = describe_error(error)
        detail = _scrub(detail, [row.recipient])
    with engine.begin() as conn:
        hold_row(conn, STAGE, TABLE, row.id, reason, f"{row.kind}: {detail}", now)
    log.warning("outbox row %s (%s) held: %s; release it after the fix (`feedback quarantine release`)",
                row.id, row.kind, reason)


def _resolve_mail_address(conn: sa.Connection, row: TextRow, now: datetime) -> str:
    try:
        address = _recipient(conn, row, now)
    except (LookupError, ValueError) as exc:
        raise _Failed(_scrub(str(exc)), permanent=True) from None
    if "@" not in address:
        where = row.recipient if row.recipient.startswith("vault:") else "the recipient"
        raise _Failed(f"{where} is not an e-mail address", permanent=True)
    return address


def _record_failure(conn: sa.Connection, row: TextRow, failure: _Failed, now: datetime, max_attempts: int,
                    base: timedelta, cap: timedelta) -> str:
    attempts = max_attempts if failure.permanent else row.attempts + 1
    attempts = max(attempts, row.attempts + 1)
    gave_up = attempts >= max_attempts
    delay = backoff_delay(attempts, base, cap)
    if failure.retry_after is not None:
        delay = min(cap, max(delay, failure.retry_after))
    message = str(failure)[:ERROR_CHARS]
    conn.execute(
        sa.text("UPDATE feedback.outbox SET attempts = :a, last_error = :e, not_before = :nb WHERE id = :id"),
        {"a": attempts, "e": message, "nb": None if gave_up else now + delay, "id": row.id},
    )
    log.warning("outbox row %s (%s) %s after attempt %s: %s", row.id, row.kind,
                "gave up" if gave_up else "failed", attempts, message)
    return "gave_up" if gave_up else "failed"
