"""Building test mails: the few shapes the intake tests need, as the bytes a server would hold."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

SHANGHAI = timezone(timedelta(hours=8))
BASE = datetime(2026, 10, 12, 9, 0, tzinfo=SHANGHAI)


def mail(n: int = 1, *, subject: str | None = None, body: str | None = None, sender: str = "张三 <zhangsan@example.net>",
         to: str = "support@example.com", msgid: str | None = "auto", when: datetime | None = None,
         headers: dict[str, str] | None = None, received: str | None = None) -> bytes:
    """A customer's plain-text mail; `msgid=None` leaves the Message-ID out, "auto" derives one from n."""
    msg = EmailMessage()
    if received:
        msg["Received"] = received
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject if subject is not None else f"订单 {n} 支付失败"
    msg["Date"] = format_datetime(when or BASE + timedelta(minutes=n))
    if msgid == "auto":
        msgid = f"<m{n}.test@example.net>"
    if msgid:
        msg["Message-ID"] = msgid
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body if body is not None else f"你好，我的订单 {n} 付款后一直显示未支付，请尽快处理。")
    return bytes(msg)


def reply(n: int, to_msgid: str, **kwargs) -> bytes:
    """A customer's answer in the same thread (In-Reply-To and References)."""
    headers = {"In-Reply-To": to_msgid, "References": to_msgid, **kwargs.pop("headers", {})}
    return mail(n, subject=kwargs.pop("subject", f"Re: 订单 {n} 支付失败"), headers=headers, **kwargs)


def auto_reply(n: int) -> bytes:
    return mail(n, subject="自动回复: 我在休假", body="我目前在休假，回来后回复。",
                headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"})


def bounce(n: int) -> bytes:
    """A delivery-status notification (RFC 3464), as Postfix sends it."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: support@example.com
Subject: Undelivered Mail Returned to Sender
Date: {format_datetime(BASE + timedelta(minutes=n))}
Message-ID: <bounce{n}@mx.example.net>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn{n}"

--dsn{n}
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net. Your message could not be delivered.

--dsn{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; someone@example.net
Action: failed
Status: 5.1.1

--dsn{n}--
""".encode()
