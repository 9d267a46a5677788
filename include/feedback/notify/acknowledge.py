"""Receipt mails: each new item from e-mail is answered with its feedback number, loops excepted.

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

import sqlalchemy as sa

from feedback.notify.digest import template_env
from feedback.notify.outbox import OutboxRow, message_id_for

ACK_KIND = "ack"
WINDOW = timedelta(hours=1)
SUBJECTS = {"zh-CN": "[{no}] 我们已收到您的反馈", "en": "[{no}] We have received your feedback"}


@dataclass(frozen=True)
class AckCandidate:
    feedback_id: int
    feedback_no: str
    vault_id: int             # the customer's e-mail address in the vault
    received_at: datetime
    language: str             # 'zh' or 'en' (triage's detection)
    subject: str | None       # masked
    message_id: str | None    # the customer's Message-ID, for In-Reply-To


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


def ack_rows(conn: sa.Connection, candidates: Sequence[AckCandidate], *, per_hour: int, created_at: datetime,
             domain: str) -> tuple[list[OutboxRow], int]:
    """The receipts to write for these new items, and how many were held back by the hourly limit."""
    if not candidates or per_hour <= 0:
        return [], len(candidates)
    times = _earlier(conn, candidates)
    env = template_env()
    rows: list[OutboxRow] = []
    held = 0
    for c in sorted(candidates, key=lambda c: (c.received_at, c.feedback_no)):
        recent = [t for t in times[c.vault_id] if c.received_at - WINDOW < t <= c.received_at]
        if len(recent) >= per_hour:
            held += 1
            continue
        times[c.vault_id].append(c.received_at)
        locale = "zh-CN" if c.language == "zh" else "en"
        text = env.get_template(f"{locale}/ack.txt").render(feedback_no=c.feedback_no, subject=c.subject)
        dedup = f"ack:{c.feedback_id}"
        headers = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All",
                   "X-Feedback-Outbox": ACK_KIND, "X-Feedback-No": c.feedback_no}
        if c.message_id:
            headers.update({"In-Reply-To": c.message_id, "References": c.message_id})
        rows.append(OutboxRow(
            kind=ACK_KIND, dedup_key=dedup, recipient=f"vault:{c.vault_id}", recipient_vault_id=c.vault_id,
            created_at=max(created_at, c.received_at), subject=SUBJECTS[locale].format(no=c.feedback_no),
            body=text, payload={"channel": "email", "locale": locale, "feedback_no": c.feedback_no, "text": text,
                                "headers": headers},
            message_id=message_id_for(dedup, domain=domain, prefix=ACK_KIND), caused_at=c.received_at,
            feedback_id=c.feedback_id,
        ))
    return rows, held
