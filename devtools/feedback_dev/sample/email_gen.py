"""E-mail intake sample: RFC 822 messages as they land in the support and complaints mailboxes.

Covers what a Chinese support mailbox really receives: UTF-8, GB2312 and GBK
bodies, HTML, attachments, replies, auto-replies, bounces and a few broken mails.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from email.mime.base import MIMEBase
from email.utils import format_datetime

from feedback_dev.sample import mime, texts
from feedback_dev.sample.blobs import make_blob
from feedback_dev.sample.compose import Draft, compose, compose_followup
from feedback_dev.sample.model import SampleItem, to_local, utc_stamp
from feedback_dev.sample.people import People, write_mobile

MAILBOXES = ("support", "complaints")
MSGID_DOMAIN = "mail.example.cn"
_ZH_FORMATS = {"plain_utf8": 0.35, "plain_gb2312": 0.12, "plain_gbk": 0.08, "alternative": 0.2,
               "html_only": 0.1, "attachment": 0.15}
_EN_FORMATS = {"plain_utf8": 0.5, "alternative": 0.3, "html_only": 0.1, "attachment": 0.1}
_FALLBACK = {"gb2312": ("gb2312", "gbk", "utf-8"), "gbk": ("gbk", "utf-8"), "utf-8": ("utf-8",)}
_LABELS = {"gb2312": ("gb2312", "GB2312"), "gbk": ("gbk", "GBK"), "utf-8": ("utf-8", "UTF-8")}
_GBK_ONLY_GIVEN = ("喆", "玥", "堃", "昇", "镕", "淏", "珺", "璟")
_REPLY_PREFIXES = ("Re: ", "回复：", "催办：", "Follow-up: ")
_MAILERS = ("Foxmail 7.2.25.254[cn]", "Microsoft Outlook 16.0", "iPhone Mail (21A329)",
            "NetEase Flash Mail 2.4")


@dataclass
class MailSpec:
    """What one mail will be, decided up front so coverage can be guaranteed."""

    kind: str = "feedback"  # feedback | auto_reply | bounce
    malformed: str | None = None  # bad_charset | truncated_mime | empty_body
    language: str = "zh"
    fmt: str = "plain_utf8"
    reply: str | None = None  # headers | headers_new_subject | subject_only
    has_msgid: bool = True

    def ordinary(self) -> bool:
        return (self.kind == "feedback" and self.malformed is None and self.reply is None
                and self.language == "zh" and self.fmt == "plain_utf8" and self.has_msgid)


@dataclass
class _Sent:
    """What a later reply needs to know about an earlier mail."""

    external_id: str
    message_id: str | None
    subject: str
    draft: Draft
    body: str
    local: datetime
    sender: tuple[str, str]


# (attribute, value, needs earlier mails): each must occur once there are 30+ mails.
_REQUIRED: tuple[tuple[str, object, bool], ...] = (
    ("kind", "auto_reply", False), ("kind", "bounce", False), ("malformed", "bad_charset", False),
    ("malformed", "truncated_mime", False), ("malformed", "empty_body", False),
    ("fmt", "plain_gb2312", False), ("fmt", "plain_gbk", False), ("fmt", "html_only", False),
    ("fmt", "alternative", False),
    ("fmt", "attachment", False), ("language", "en", False), ("has_msgid", False, False),
    ("reply", "headers", True), ("reply", "subject_only", True),
)


def plan(rng: random.Random, count: int) -> list[MailSpec]:
    """Draw every mail's kind and form; with 30+ mails every variant occurs at least once."""
    specs = []
    for _ in range(count):
        spec = MailSpec()
        roll = rng.random()
        if roll < 0.015:
            spec.kind = "auto_reply"
        elif roll < 0.025:
            spec.kind = "bounce"
        else:
            bad = rng.random()
            spec.malformed = ("bad_charset" if bad < 0.015 else "truncated_mime" if bad < 0.03
                              else "empty_body" if bad < 0.045 else None)
            spec.language = "en" if rng.random() < 0.1 and spec.malformed != "bad_charset" else "zh"
            formats = _ZH_FORMATS if spec.language == "zh" else _EN_FORMATS
            spec.fmt = rng.choices(list(formats), weights=list(formats.values()))[0]
            if spec.malformed is None and rng.random() < 0.14:
                spec.reply = rng.choices(("headers", "headers_new_subject", "subject_only"), (7, 1.5, 1.5))[0]
        spec.has_msgid = rng.random() >= 0.03
        specs.append(spec)
    if count >= 30:
        for attr, value, late in _REQUIRED:
            if any(getattr(s, attr) == value for s in specs):
                continue
            lo = count // 2 if late else 0
            free = [i for i in range(lo, count) if specs[i].ordinary()]
            if free:
                setattr(specs[rng.choice(free)], attr, value)
    return specs


def _charset(rng: random.Random, fmt: str, *texts_: str) -> tuple[str, str]:
    """The declared charset: the format's own if the text fits, else the next wider one."""
    wanted = {"plain_gb2312": "gb2312", "plain_gbk": "gbk"}.get(fmt, "utf-8")
    for charset in _FALLBACK[wanted]:
        try:
            for t in texts_:
                t.encode(charset)
        except UnicodeEncodeError:
            continue
        return charset, rng.choice(_LABELS[charset])
    raise AssertionError("utf-8 encodes everything")


def _headers(sender: str, to: str, subject: str, local: datetime, msgid: str | None,
             extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    headers = [("From", sender), ("To", to), ("Subject", subject), ("Date", format_datetime(local))]
    if msgid:
        headers.append(("Message-ID", msgid))
    return headers + extra


class _MailWriter:
    """Renders the planned mails in time order, remembering earlier ones for replies."""

    def __init__(self, rng: random.Random, people: People) -> None:
        self.rng = rng
        self.people = people
        self.sent: list[_Sent] = []

    def feedback(self, i: int, spec: MailSpec, local: datetime, msgid: str | None) -> dict:
        rng = self.rng
        original = self._original(spec)
        fmt = spec.fmt
        if spec.malformed == "bad_charset":
            fmt = "plain_gbk"
        elif spec.malformed == "truncated_mime":
            fmt = "attachment"
        elif spec.malformed == "empty_body":
            fmt = "plain_utf8"
        lang = original.draft.language if original else spec.language
        if lang == "en" and fmt.startswith("plain_gb"):
            fmt = "plain_utf8"
        hint = {"plain_gb2312": "gb2312", "plain_gbk": "gbk"}.get(fmt, "utf-8")
        if original:
            draft = compose_followup(rng, original.draft, when=local, charset=hint)
        elif spec.malformed == "bad_charset":
            base = self.people.pick(rng, "zh")
            # A given name outside GB2312 (喆, 玥 ...) is exactly what breaks mislabelled mail.
            name = base.name[0] + rng.choice(_GBK_ONLY_GIVEN)
            writer = dataclasses.replace(base, name=name, ref=f"gbk-{i}")
            draft = compose(rng, self.people, language="zh", when=local, charset="gbk", customer=writer)
            draft.signature = writer.name
            draft.pii.append(writer.name)
        else:
            draft = compose(rng, self.people, language=lang, when=local, charset=hint)
        subject = self._subject(spec, draft, original)
        if fmt == "attachment":
            draft.paragraphs.append(rng.choice(("详见附件截图。", "附件是相关截图和凭证。"))
                                    if lang == "zh" else "Please see the attachment.")
        greeting = rng.choice(texts.GREETINGS[lang])
        body = "" if spec.malformed == "empty_body" else draft.body(greeting=greeting,
                                                                    signoff=rng.choice(texts.SIGNOFFS[lang]))
        if original and body and rng.random() < 0.5:
            body += self._quote(original, lang)
            draft.pii += original.draft.pii
        customer = draft.customer
        assert customer is not None  # mail always has a sender
        name = customer.name if rng.random() < 0.85 or spec.malformed == "bad_charset" else ""
        charset, label = _charset(rng, fmt, body, subject, name)
        if spec.malformed == "bad_charset":
            header_cs, header_label = "utf-8", "utf-8"
            charset, label = "gbk", rng.choice(("gb2312", "GB2312"))  # the lie
        else:
            header_cs, header_label = charset, label
        if spec.malformed:
            variant = spec.malformed
        elif fmt.startswith("plain"):
            variant = "plain_" + charset.replace("-", "")
        else:
            variant = fmt
        root = self._body(i, fmt, draft, body, charset, label, greeting)
        mailbox = self._mailbox(draft)
        extra = self._thread_headers(spec, original)
        if rng.random() < 0.4:
            extra.append(("X-Mailer", rng.choice(_MAILERS)))
        sender = mime.address(name, customer.email, header_cs, header_label)
        raw = mime.finish(root, _headers(sender, f"{mailbox}@example.com",
                                         mime.encoded_words(subject, header_cs, header_label),
                                         local, msgid, extra))
        if spec.malformed == "truncated_mime":
            raw = self._truncate(raw, root.get_boundary() or "")
        rendered = (subject, name, customer.email, body)
        external_id = msgid or f"sha256:{hashlib.sha256(raw).hexdigest()}"
        if spec.malformed is None:
            self.sent.append(_Sent(external_id, msgid, subject, draft, body, local, (name, customer.email)))
        emotion, priority = draft.emotion, draft.priority
        if spec.malformed == "empty_body":  # only the subject is left to judge by
            emotion, priority = "calm", draft.topic.priority
        return {
            "raw": raw, "mailbox": mailbox, "variant": variant, "draft": draft,
            "expected_type": draft.ftype, "expected_priority": priority, "emotion": emotion,
            "language": lang, "is_vip": draft.is_vip,
            "reply_to": original.external_id if original else None,
            "planted": draft.planted_in(*rendered), "negatives": draft.negatives_in(*rendered),
            "customer_ref": customer.ref, "topic": draft.topic.key,
        }

    def _original(self, spec: MailSpec) -> _Sent | None:
        if not spec.reply:
            return None
        pool = [s for s in self.sent[-300:] if s.message_id or spec.reply == "subject_only"]
        return self.rng.choice(pool) if pool else None

    def _subject(self, spec: MailSpec, draft: Draft, original: _Sent | None) -> str:
        if original is None:
            return draft.subject
        if original.subject.startswith(_REPLY_PREFIXES):  # clients do not stack "Re: Re:"
            return original.subject
        if spec.reply == "headers_new_subject":
            return ("催办：" if draft.language == "zh" else "Follow-up: ") + original.subject
        if spec.reply == "headers" and draft.language == "zh" and self.rng.random() < 0.2:
            return "回复：" + original.subject
        return "Re: " + original.subject

    def _quote(self, original: _Sent, lang: str) -> str:
        name, addr = original.sender
        who = f"{name} <{addr}>" if name else addr
        when = original.local
        head = (f"在 {when.year}年{when.month}月{when.day}日 {when:%H:%M}，{who} 写道："
                if lang == "zh" else f"On {when:%a, %b %d, %Y at %H:%M}, {who} wrote:")
        lines = [ln for ln in original.body.splitlines() if ln][:8]
        return "\n" + head + "\n" + "\n".join("> " + ln for ln in lines) + "\n"

    def _thread_headers(self, spec: MailSpec, original: _Sent | None) -> list[tuple[str, str]]:
        if original is None or spec.reply == "subject_only" or not original.message_id:
            return []
        return [("In-Reply-To", original.message_id), ("References", original.message_id)]

    def _mailbox(self, draft: Draft) -> str:
        rng = self.rng
        if draft.ftype == "service_complaint" and rng.random() < 0.6:
            return "complaints"
        if draft.priority == "urgent" and rng.random() < 0.3:
            return "complaints"
        return "support"

    def _body(self, i: int, fmt: str, draft: Draft, body: str, charset: str, label: str,
              greeting: str) -> Message:
        rng = self.rng
        cte = "base64" if rng.random() < (0.7 if charset != "utf-8" else 0.55) else "qp"
        boundary = f"----=_Part_{i}_{rng.getrandbits(40):010x}"
        plain = mime.text_part("plain", body, charset, cte, label=label)
        if fmt.startswith("plain"):
            return plain
        html_text = mime.to_html(body.rstrip("\n").split("\n\n"), label)
        html = mime.text_part("html", html_text, charset, cte, label=label)
        if fmt == "html_only":
            return html
        if fmt == "alternative":
            return mime.multipart("alternative", [plain, html], boundary)
        inner = plain
        if rng.random() < 0.3:
            inner = mime.multipart("alternative", [plain, html], boundary + "_alt")
        blobs = [mime.attachment_part(make_blob(rng)) for _ in range(1 if rng.random() < 0.75 else 2)]
        return mime.multipart("mixed", [inner, *blobs], boundary)

    def _truncate(self, raw: bytes, boundary: str) -> bytes:
        """Cut inside the last attachment: the text part survives, the closing boundary does not."""
        marker = f"\n--{boundary}\n".encode()
        last = raw.rfind(marker)
        end = raw.rfind(f"\n--{boundary}--".encode())
        cut = last + len(marker) + int((end - last - len(marker)) * self.rng.uniform(0.3, 0.8))
        return raw[:cut]

    def auto_reply(self, local: datetime, msgid: str | None) -> dict:
        """An out-of-office answer to our acknowledgement: must be recognised and skipped."""
        rng = self.rng
        lang = "zh" if rng.random() < 0.8 else "en"
        customer = self.people.pick(rng, lang)
        mobile = write_mobile(rng, customer.mobile)
        back = (local + timedelta(days=rng.randint(2, 9))).date()
        if lang == "zh":
            subject = rng.choice(("自动回复: 您的反馈已收到", "自动回复：Re: 关于您反馈的问题"))
            body = (f"您好，我目前在休假，{back.month}月{back.day}日返回，期间不方便查看邮件。"
                    f"如有急事请拨打{mobile}。\n\n{customer.name}\n")
        else:
            subject = rng.choice(("Automatic reply: We received your feedback",
                                  "Out of Office: Re: Your ticket"))
            body = (f"I am out of the office until {back:%b %d} with limited access to e-mail. "
                    f"For urgent matters call {mobile}.\n\n{customer.name}\n")
        extra = [("Auto-Submitted", "auto-replied"), ("X-Autoreply", "yes"),
                 ("In-Reply-To", f"<ack.{rng.getrandbits(48):012x}@example.com>")]
        sender = mime.address(customer.name, customer.email, "utf-8", "utf-8")
        root = mime.text_part("plain", body, "utf-8", "base64")
        raw = mime.finish(root, _headers(sender, "support@example.com", mime.encoded_words(subject, "utf-8"),
                                         local, msgid, extra))
        pii = tuple(p for p in (customer.name, customer.email, mobile) if p)
        return {"raw": raw, "variant": "auto_reply", "planted": pii, "language": lang,
                "customer_ref": customer.ref, "is_vip": customer.is_vip}

    def bounce(self, i: int, local: datetime, msgid: str | None) -> dict:
        """A delivery-status notification for our acknowledgement to a customer: not feedback."""
        rng = self.rng
        customer = self.people.pick(rng, "zh")
        addr = customer.email
        domain = addr.split("@")[1]
        sent_at = format_datetime(local - timedelta(minutes=rng.randint(1, 30)))
        ack_id = f"<ack.{rng.getrandbits(48):012x}@example.com>"
        explanation = (
            "This is the mail system at host mx.example.cn.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            f"<{addr}>: host mx.{domain}[192.0.2.{rng.randint(1, 254)}] said: 550 5.1.1\n"
            "    Mailbox not found (in reply to RCPT TO command)\n")
        status = MIMEBase("message", "delivery-status")
        del status["MIME-Version"]
        per_message, per_recipient = Message(), Message()
        per_message["Reporting-MTA"] = "dns; mx.example.cn"
        per_message["Arrival-Date"] = sent_at
        per_recipient["Final-Recipient"] = f"rfc822; {addr}"
        per_recipient["Action"] = "failed"
        per_recipient["Status"] = "5.1.1"
        per_recipient["Diagnostic-Code"] = "smtp; 550 5.1.1 Mailbox not found"
        status.attach(per_message)
        status.attach(per_recipient)
        original = (f"From: support@example.com\nTo: {addr}\n"
                    f"Subject: {mime.encoded_words('您的反馈已收到', 'utf-8')}\n"
                    f"Date: {sent_at}\nMessage-ID: {ack_id}\n")
        headers_part = mime.text_part("rfc822-headers", original, "us-ascii", "7bit")
        root = mime.multipart("report", [mime.text_part("plain", explanation, "us-ascii", "7bit"),
                                         status, headers_part],
                              f"----=_DSN_{i}_{rng.getrandbits(40):010x}", report_type="delivery-status")
        extra = [("Auto-Submitted", "auto-replied")]
        raw = mime.finish(root, _headers("Mail Delivery System <MAILER-DAEMON@mx.example.cn>",
                                         "support@example.com", "Undelivered Mail Returned to Sender",
                                         local, msgid, extra))
        return {"raw": raw, "variant": "bounce", "planted": (addr,), "language": "en",
                "customer_ref": customer.ref, "is_vip": False}


def build_emails(rng: random.Random, times: list[datetime], people: People) -> list[SampleItem]:
    """Render one mail per arrival time (times sorted, UTC); replies point only backwards."""
    specs = plan(rng, len(times))
    width = max(6, len(str(len(times))))
    writer = _MailWriter(rng, people)
    items: list[SampleItem] = []
    for n, (spec, when) in enumerate(zip(specs, times, strict=True), start=1):
        local = to_local(when)
        msgid = None
        if spec.has_msgid:  # derived from the arrival time and the seeded stream, never the clock
            msgid = f"<{local:%Y%m%d%H%M%S}.{rng.getrandbits(48):012x}@{MSGID_DOMAIN}>"
        if spec.kind == "auto_reply":
            out = writer.auto_reply(local, msgid)
        elif spec.kind == "bounce":
            out = writer.bounce(n, local, msgid)
        else:
            out = writer.feedback(n, spec, local, msgid)
        raw = out["raw"]
        external_id = msgid or f"sha256:{hashlib.sha256(raw).hexdigest()}"
        feedback = spec.kind == "feedback"  # auto-replies and bounces must be skipped by intake
        items.append(SampleItem(
            channel="email",
            source=out.get("mailbox", "support"),
            external_id=external_id,
            received_at=when,
            raw=raw,
            file_name=f"{utc_stamp(when)}-{n:0{width}d}.eml",
            expected_type=out["expected_type"] if feedback else "other",
            expected_priority=out["expected_priority"] if feedback else "low",
            language=out["language"],
            is_vip=out["is_vip"],
            malformed=spec.malformed if feedback else None,
            reply_to_external_id=out.get("reply_to") or None,
            planted_pii=tuple(out["planted"]),
            not_feedback=not feedback,
            hard_negatives=tuple(out.get("negatives", ())),
            expected_emotion=out.get("emotion", "calm"),
            topic=out.get("topic", spec.kind),
            variant=out["variant"],
            customer_ref=out["customer_ref"],
        ))
    return items
