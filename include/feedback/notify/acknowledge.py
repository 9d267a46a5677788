"""Receipt mails: each new item whose customer left an e-mail address gets its feedback number, loops excepted.

Mail, web-form and platform items alike: a customer who gave an address on the company's
form or on a platform learns the case number (`20261012-001`) the same way as one who
wrote to a support mailbox, so they can quote it. Which sources acknowledge is
channels.yaml's `acknowledge` flag of each mailbox, form, form provider and platform
(default true; `acknowledged_sources`).

Written by triage in the transaction that registers the item (the number exists only
then), as `ack` rows in the outbox; the sender delivers them like every other mail.
The customer is addressed as `vault:<id>`, so no address is stored outside the vault.

Two things keep an acknowledgement from feeding a mail loop with another robot:
the mail says it is automatic (`Auto-Submitted: auto-replied`, which well-behaved
auto-responders do not answer), and a sender gets at most `mail.ack_per_sender_per_hour`
receipts in any hour of arrival time, however many mails arrive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from feedback.business_time import business_zone
from feedback.notify.mails import business_time, mail_locale, render_mail
from feedback.notify.outbox import OutboxRow, message_id_for
from feedback.vocabulary import OutboxKind

if TYPE_CHECKING:
    from feedback.channels.config import Channels

ACK_KIND = OutboxKind.ACK.value
WINDOW = timedelta(hours=1)
SUBJECTS = {"zh-CN": "[{no}] 我们已收到您的反馈", "en": "[{no}] We have received your feedback"}
# How the customer reached us, as the receipt says it ("您通过网页表单提交的反馈").
VIA = {
    "zh-CN": {"email": "通过邮件", "webform": "通过网页表单", "platform": "通过第三方平台"},
    "en": {"email": "by e-mail", "webform": "through our web form", "platform": "through a platform"},
}


def acknowledged_sources(channels: Channels) -> frozenset[tuple[str, str]]:
    """(channel, source) pairs whose new items get a receipt: channels.yaml's `acknowledge` flags.

    Web-form items carry their form's name as source (drop-folder files too), form-provider
    items the provider's name, platform items the platform's name.
    """
    pairs = {("email", m.name) for m in channels.mailboxes if m.acknowledge}
    pairs |= {("webform", f.name) for f in channels.webforms.forms if f.acknowledge}
    pairs |= {("webform", p.name) for p in channels.webforms.providers if p.acknowledge}
    pairs |= {("platform", p.name) for p in channels.platforms if p.acknowledge}
    return frozenset(pairs)


@dataclass(frozen=True)
class AckCandidate:
    feedback_id: int
    feedback_no: str
    vault_id: int             # the customer's e-mail address in the vault
    received_at: datetime
    language: str             # 'zh' or 'en' (triage's detection)
    subject: str | None       # masked
    message_id: str | None    # the customer's Message-ID, for In-Reply-To
    channel: str = "email"    # email | webform | platform: what the receipt says about how it came


def _earlier(conn: sa.Connection, candidates: Sequence[AckCandidate]) -> dict[int, list[datetime]]:
    lo = min(c.received_at for c in candidates) - WINDOW
    hi = max(c.received_at for c in candidates)
    times: dict[int, list[datetime]] = defaultdict(list)
    for vault_id, caused in conn.execute(
        sa.text("""SELECT recipient_vault_id, caused_at FROM feedback.outbox
                   WHERE kind = 'ack' AND recipient_vault_id = ANY(:v) AND caused_at > :lo AND caused_at <= :hi"""),
        {"v": sorted({c.vault_id for c in candidates}), "lo": lo, "hi": hi},
    ):
        times[vault_id].append(caused)
    return times


def render_receipt(candidate: AckCandidate, zone: ZoneInfo) -> tuple[str, str, str]:
    """Subject, text and HTML of one receipt, in the customer's language, times in the business zone."""
    locale = mail_locale(candidate.language)
    mail = render_mail(locale, "ack", feedback_no=candidate.feedback_no, subject=candidate.subject,
                       via=VIA[locale].get(candidate.channel, ""), timezone=zone.key,
                       received=business_time(candidate.received_at, zone))
    return SUBJECTS[locale].format(no=candidate.feedback_no), mail.text, mail.html


def ack_rows(conn: sa.Connection, candidates: Sequence[AckCandidate], *, per_hour: int, created_at: datetime,
             domain: str, zone: ZoneInfo | None = None) -> tuple[list[OutboxRow], int]:
    """The receipts to write for these new items, and how many were held back by the hourly limit.

    The limit counts receipts per customer address (vault id) in any hour of arrival,
    whichever channel the items came by.
    """
    if not candidates or per_hour <= 0:
        return [], len(candidates)
    zone = zone or business_zone()
    times = _earlier(conn, candidates)
    rows: list[OutboxRow] = []
    held = 0
    for c in sorted(candidates, key=lambda c: (c.received_at, c.feedback_no)):
        recent = [t for t in times[c.vault_id] if c.received_at - WINDOW < t <= c.received_at]
        if len(recent) >= per_hour:
            held += 1
            continue
        times[c.vault_id].append(c.received_at)
        locale = mail_locale(c.language)
        subject, text, html = render_receipt(c, zone)
        dedup = f"ack:{c.feedback_id}"
        headers = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All",
                   "X-Feedback-Outbox": ACK_KIND, "X-Feedback-No": c.feedback_no}
        if c.message_id:
            headers.update({"In-Reply-To": c.message_id, "References": c.message_id})
        rows.append(OutboxRow(
            kind=ACK_KIND, dedup_key=dedup, recipient=f"vault:{c.vault_id}", recipient_vault_id=c.vault_id,
            created_at=max(created_at, c.received_at), subject=subject,
            body=text, payload={"channel": "email", "locale": locale, "feedback_no": c.feedback_no, "text": text,
                                "html": html, "via": c.channel, "headers": headers},
            message_id=message_id_for(dedup, domain=domain, prefix=ACK_KIND), caused_at=c.received_at,
            feedback_id=c.feedback_id,
        ))
    return rows, held


