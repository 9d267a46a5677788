"""From one raw mail to what intake stores: an item, a recorded-but-skipped mail, or a reason to park it.

Shared by every mail source (IMAP folders, Maildir and `.eml` drop folders) and by
`feedback quarantine retry`, so a message is judged the same way whichever way it
arrived and however late it is re-run.

Identity is the Message-ID; a mail without one gets `sha256:<content hash>`, where
the hash covers what the customer wrote (sender, date, subject, text, attachments)
and not the delivery headers, so the same message delivered twice or filed in two
folders is one item. A Message-ID reused for different content is given the
content-hash identity by `resolve_reused_ids`, inside the storing transaction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feedback.channels.base import IntakeItem, InvalidItem, Rejected
from feedback.channels.mail.parse import Attachment, ParsedMail, parse_mail

# The parse workers (pool.py) import this module and only judge mail: the database and the channel
# configuration are imported where they are used, so a worker starts without them.
if TYPE_CHECKING:
    import sqlalchemy as sa

    from feedback.channels.config import Mailbox
    from feedback.settings import Settings

CHANNEL = "email"
log = logging.getLogger(__name__)
# A Date header further in the future than this is a wrong clock, not a time.
FUTURE_SLACK = timedelta(days=1)
# A Date before this is a wrong clock (or a test mail from the last century), not a time.
OLDEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)


def plausible(when: datetime | None, receipt: datetime) -> bool:
    """Whether a time a sender or a relay wrote can be a real time for a mail we received at `receipt`."""
    return when is not None and OLDEST_PLAUSIBLE <= when <= receipt + FUTURE_SLACK


def receipt_time(parsed: ParsedMail, arrived_at: datetime | None, run_time: datetime) -> datetime:
    """When *we* received the mail: our side of the wire, never the sender's clock.

    The source's own record first (IMAP INTERNALDATE, the Maildir delivery stamp or file
    time), else the topmost Received: header (our MTA's), else this run's instant. The
    sender's Date: is only kept in the payload: a 1993 or a 2099 Date must not number
    the item or start its deadlines.
    """
    if arrived_at is not None:
        return arrived_at
    if plausible(parsed.received_date, run_time):
        assert parsed.received_date is not None
        return parsed.received_date
    return run_time


@dataclass(frozen=True)
class MailRules:
    """What judging a mail needs besides its bytes: who we are, and size limits."""

    mailbox: str
    own_addresses: frozenset[str]
    own_message_id_domains: frozenset[str]
    attachments_dir: Path
    max_message_bytes: int
    max_attachment_bytes: int

    @classmethod
    def for_mailbox(cls, mailbox: Mailbox, settings: Settings, base: Path) -> MailRules:
        """Rules from a `config.Mailbox` and `config.Settings`; every mailbox's address counts as ours."""
        from feedback.channels.config import load_channels  # not in the workers (see the imports above)

        own = {a.lower() for m in load_channels().mailboxes for a in m.addresses} | set(mailbox.addresses)
        folder = Path(settings.mail.attachments_dir)
        return cls(
            mailbox=mailbox.name,
            own_addresses=frozenset(own),
            own_message_id_domains=frozenset({settings.mail.message_id_domain.lower()}),
            attachments_dir=folder if folder.is_absolute() else base / folder,
            max_message_bytes=settings.mail.max_message_bytes,
            max_attachment_bytes=settings.mail.max_attachment_bytes,
        )


def external_id(parsed: ParsedMail) -> str:
    return parsed.message_id or f"sha256:{parsed.content_hash()}"


def store_attachment(folder: Path, attachment: Attachment) -> str:
    """Write an attachment once, by content hash; returns its path relative to the folder.

    Written before the batch commits: a crash leaves at most a file that the re-run
    writes again under the same name, never a row pointing at nothing.
    """
    relative = f"{attachment.sha256[:2]}/{attachment.sha256}"
    target = folder / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(attachment.data)
        tmp.replace(target)
    return relative


def _attachments(parsed: ParsedMail, rules: MailRules) -> list[dict[str, Any]]:
    out = []
    for attachment in parsed.attachments:
        meta = attachment.meta()
        if attachment.size <= rules.max_attachment_bytes:
            meta.update(stored=True, ref=store_attachment(rules.attachments_dir, attachment))
        else:
            meta.update(stored=False, reason=f"larger than {rules.max_attachment_bytes} bytes")
        out.append(meta)
    return out


def to_intake(raw: bytes, rules: MailRules, *, raw_ref: str, outbound: bool, arrived_at: datetime | None,
              run_time: datetime | None = None) -> IntakeItem:
    """Judge one mail: an item for triage, or a recorded mail with status `skipped` and why.

    Raises InvalidItem when the bytes cannot be used; the caller parks them.
    `arrived_at` is when the source says the mail reached us (None: not known, then the
    top Received: header or `run_time` is used; see `receipt_time`).
    """
    parsed = parse_mail(raw, own_addresses=rules.own_addresses,
                        own_message_id_domains=rules.own_message_id_domains)
    clock = run_time or arrived_at
    if clock is None:
        raise ValueError("to_intake needs arrived_at or run_time")
    received = receipt_time(parsed, arrived_at, clock)
    if outbound and parsed.date is not None and plausible(parsed.date, received):
        received = parsed.date  # our own sent mail: its Date is our clock, the time we answered
    payload = parsed.payload()
    payload.update(
        mailbox=rules.mailbox,
        direction="outbound" if outbound else "inbound",
        content_hash=parsed.content_hash(),
        attachments=_attachments(parsed, rules),
        sender_date=parsed.date.isoformat() if parsed.date else None,
    )
    if parsed.date is not None and not plausible(parsed.date, received):
        payload["sender_date_flag"] = "implausible"
    status, reason = "new", None
    if not outbound and parsed.kind != "feedback":
        status, reason = "skipped", f"{parsed.kind}: {parsed.kind_reason or 'detected'}"
    return IntakeItem(CHANNEL, rules.mailbox, external_id(parsed), received.astimezone(UTC), payload,
                      raw_ref=raw_ref, status=status, status_reason=reason)


def judge(raw: bytes, rules: MailRules, *, folder_source: str, source_ref: str, raw_ref: str, outbound: bool,
          arrived_at: datetime | None, run_time: datetime | None = None, size: int | None = None,
          headers_only: bool = False) -> IntakeItem | Rejected:
    """`to_intake`, with every way a mail can fail turned into a quarantine entry (the batch goes on)."""
    if headers_only or (size is not None and size > rules.max_message_bytes):
        return Rejected(CHANNEL, folder_source, source_ref, "oversize",
                        f"{size if size is not None else len(raw)} bytes, limit {rules.max_message_bytes}; "
                        f"headers kept here, the whole mail stays at {raw_ref}", raw)
    try:
        return to_intake(raw, rules, raw_ref=raw_ref, outbound=outbound, arrived_at=arrived_at, run_time=run_time)
    except InvalidItem as bad:
        return Rejected(CHANNEL, folder_source, source_ref, bad.reason, bad.detail, raw)
    except Exception as exc:  # a parser bug must not stall the mailbox: park the mail, say what broke
        # No traceback: exception texts can quote the message's bytes.
        log.error("mail %s could not be parsed (%s); parked", source_ref, type(exc).__name__)
        return Rejected(CHANNEL, folder_source, source_ref, "parser_error", f"{type(exc).__name__} in the parser", raw)


def resolve_reused_ids(conn: sa.Connection, items: Sequence[IntakeItem]) -> list[IntakeItem]:
    """Give a Message-ID already used for *different* content a content-hash identity.

    Senders' software reuses Message-IDs (templates, broken clients); keying on the id
    alone would silently drop the second mail. Runs inside the storing transaction.
    """
    import sqlalchemy as sa  # not in the workers (see the imports above)

    ids = [i.external_id for i in items if not i.external_id.startswith("sha256:")]
    stored: dict[str, str | None] = {}
    if ids:
        stored = dict(conn.execute(
            sa.text("""SELECT external_id, payload->>'content_hash' FROM feedback.intake
                       WHERE channel = 'email' AND external_id = ANY(:ids)"""),
            {"ids": ids},
        ).all())
    out: list[IntakeItem] = []
    for item in items:
        content = item.payload.get("content_hash")
        known = stored.get(item.external_id)
        if known is not None and known != content:
            log.info("Message-ID reused for different content: keyed by content hash instead")
            item = replace(item, external_id=f"sha256:{content}")
        elif not item.external_id.startswith("sha256:"):
            stored.setdefault(item.external_id, content)   # a reuse inside this batch counts too
        out.append(item)
    return out
