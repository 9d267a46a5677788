"""Mails people read: each one rendered twice, as HTML and as plain text, from templates per locale.

Every mail the pipeline sends (receipts, surveys and their reminder, the supervisor's
escalation, the report mail, the SLA digest) is `multipart/alternative`: the HTML part is
what most clients show, the text part is what the rest (and every audit tool) read, and
both say the same thing. They are rendered from `notify/templates/<locale>/<name>.html`
and `.txt` (the HTML extends `_mail.html`, one layout with inline styles, since mail
clients ignore style sheets), with autoescape on HTML only: a masked subject such as
`<script>` is shown, never run.

Readers see names, never codes (`产品技术部`, not `product_engineering`), and times in the
business time zone (`2026-10-05 18:00`), never UTC ISO strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from feedback.vocabulary import LOCALES as LOCALES  # the locales every mail is written in

# Colours with a meaning, the same in every mail: good green, bad red, neither grey, action blue.
COLOURS = {"satisfied": "#2ea121", "neutral": "#646a73", "dissatisfied": "#d83931", "action": "#3370ff"}


@dataclass(frozen=True)
class Mail:
    """One mail's two parts, saying the same thing."""

    text: str
    html: str


def mail_locale(language: str | None) -> str:
    """The mail locale for triage's language detection (`zh` / `en`) or a locale already (`zh-CN`)."""
    if language in LOCALES:
        return language
    return "zh-CN" if (language or "").lower().startswith("zh") else "en"


def _render(locale: str, file_name: str, context: dict[str, object]) -> str:
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}: expected one of {', '.join(LOCALES)}")
    from feedback.notify.digest import template_env  # digest uses `span` from here

    return template_env().get_template(f"{locale}/{file_name}").render(locale=locale, colours=COLOURS, **context)


def render_mail(locale: str, name: str, **context: object) -> Mail:
    """Both parts of mail `name` in `locale`; a missing context value is an error, never an empty gap."""
    return Mail(_render(locale, f"{name}.txt", context), render_html(locale, name, **context))


def render_html(locale: str, name: str, **context: object) -> str:
    """The HTML part alone, for a mail whose text is built elsewhere (the report mail)."""
    return _render(locale, f"{name}.html", context)


def business_time(moment: datetime, zone: ZoneInfo | str) -> str:
    """`2026-10-05 18:00` in the business zone: readers think in office time, the register stores UTC."""
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC in the register)")
    return moment.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone).strftime("%Y-%m-%d %H:%M")


def span(delta: timedelta, locale: str) -> str:
    """A duration as people say it: `3天4小时` / `3 days 4 h`, `2小时5分钟` / `2 h 5 min`, `25分钟` / `25 min`.

    Days and hours for long spans (minutes no longer matter), hours and minutes below a day.
    """
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    zh = locale == "zh-CN"
    if days:
        head = f"{days}天" if zh else f"{days} day{'s' if days > 1 else ''}"
        tail = (f"{hours}小时" if zh else f"{hours} h") if hours else ""
        return head + tail if zh else " ".join(p for p in (head, tail) if p)
    if hours:
        tail = (f"{mins}分钟" if zh else f"{mins} min") if mins else ""
        return f"{hours}小时{tail}" if zh else " ".join(p for p in (f"{hours} h", tail) if p)
    if mins:
        return f"{mins}分钟" if zh else f"{mins} min"
    return "不到1分钟" if zh else "under a minute"
