"""SLA digests: one readable summary per recipient per monitor run.

Supervisors asked for one mail per run rather than one per item (a busy morning
would otherwise be dozens of mails nobody reads). The mail is grouped by priority
(urgent first, so an urgent breach is never buried under a hundred low ones), then by
department, breaches first within each; every line says how long it is overdue
("超时 3天4小时" / "overdue by 3 days 4 h") or how long is left, with the due time in
business local time, and the mail links to the console page where supervisors record
why items went overdue (`escalation.yaml` `console_url` + `/overdue`). The same entries become the chat-robot payloads (WeCom,
DingTalk, Slack, generic JSON). Everything here is built from `AlertEntry`, which
holds feedback numbers, codes and the *masked* subject only: a digest cannot leak
a contact because it never sees one. HTML is rendered with autoescape, so a masked
subject such as `<script>` is shown, not run; chat markdown is neutralised likewise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from feedback.business_time import business_zone
from feedback.db.rows import TextRow
from feedback.notify.mails import COLOURS, span
from feedback.vocabulary import LOCALES, AlertKind, Priority, Stage, codes, locale_table

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Chat robots cap message size (WeCom: 4096 bytes of markdown): list the first entries, count the rest.
CHAT_MAX_ENTRIES = 20
CHAT_MAX_BYTES = 3500
CHAT_SUBJECT_CHARS = 40

# Code -> name per locale of what a digest names (the vocabulary's words; templates look codes up here).
LABELS: dict[str, dict[str, dict[str, str]]] = {
    locale: {"priority": locale_table(Priority, locale), "stage": locale_table(Stage, locale),
             "kind": locale_table(AlertKind, locale)}
    for locale in LOCALES
}
KIND_ORDER = codes(AlertKind)
PRIORITY_ORDER = codes(Priority)
DEFAULT_CONSOLE_URL = "http://localhost:8080/feedback/console"


@dataclass(frozen=True)
class AlertEntry:
    """One SLA warning or breach as the monitor hands it over; contains no personal data."""

    feedback_id: int
    feedback_no: str
    priority: str
    department: str | None
    handler_group: str | None
    stage: str
    kind: str  # "warning" | "breach"
    due_at: datetime
    detected_at: datetime
    used_share: float | Decimal | None
    escalation_level: int
    subject: str | None  # masked subject of the item (already masked; never raw)

    @classmethod
    def from_row(cls, row: TextRow | Mapping[str, Any]) -> AlertEntry:
        """Build from a query row or mapping with these column names; extra columns are ignored."""
        mapping = row if isinstance(row, Mapping) else row._mapping
        values: dict[str, Any] = {name: mapping.get(name) for name in cls.__dataclass_fields__}   # SQL values
        return cls(**values)

    @property
    def identity(self) -> str:
        """What makes this alert distinct within a run (for dedup keys)."""
        return f"{self.feedback_id}:{self.stage}:{self.kind}:{self.escalation_level}"


@dataclass(frozen=True)
class Digest:
    """A rendered e-mail digest for one recipient."""

    locale: str
    subject: str
    html: str
    text: str
    counts: dict[str, int]


def _locale(locale: str) -> str:
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}: expected one of {', '.join(LOCALES)}")
    return locale


def ordered(entries: Iterable[AlertEntry]) -> list[AlertEntry]:
    """Breaches first, then warnings; within each, the most overdue (earliest due) first."""
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return sorted(entries, key=lambda e: (rank.get(e.kind, len(rank)), e.due_at, e.feedback_no, e.stage))


def counts(entries: Iterable[AlertEntry]) -> dict[str, int]:
    """Breaches and warnings counted: what subjects, chat titles and payloads lead with."""
    out = {kind: 0 for kind in KIND_ORDER}
    for entry in entries:
        out[entry.kind] = out.get(entry.kind, 0) + 1
    return out


def entries_hash(entries: Iterable[AlertEntry]) -> str:
    """A short stable hash of which alerts a digest covers, independent of their order."""
    text = "\n".join(sorted(e.identity for e in entries))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def local_time(moment: datetime, zone: ZoneInfo | None = None) -> str:
    """`2026-10-05 18:00` in the business zone: readers think in office time, the register stores UTC."""
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC in the register)")
    return moment.astimezone(zone or business_zone()).strftime("%Y-%m-%d %H:%M")


def subject_line(entries: Sequence[AlertEntry], run_time: datetime, locale: str = "zh-CN",
                 zone: ZoneInfo | None = None) -> str:
    """`[SLA] 3 项超时，5 项即将超时 — 2026-10-05 18:00`: the counts are what a reader triages by."""
    n = counts(entries)
    if _locale(locale) == "zh-CN":
        parts = [f"{n['breach']} 项超时" if n["breach"] else "", f"{n['warning']} 项即将超时" if n["warning"] else ""]
        joined = "，".join(p for p in parts if p) or "无超时"
    else:
        parts = [f"{n['breach']} breached" if n["breach"] else "", f"{n['warning']} at risk" if n["warning"] else ""]
        joined = ", ".join(p for p in parts if p) or "nothing overdue"
    return f"[SLA] {joined} — {local_time(run_time, zone)}"


def department_name(code: str, locale: str) -> str:
    """A department's name from the taxonomy, or its code when the taxonomy cannot be read right now."""
    # Names come from the taxonomy; an alert must still go out if the taxonomy cannot be
    # read right now (its own loader reports that), so fall back to the code.
    try:
        from feedback.triage.taxonomy import department_label

        return department_label(code, locale)
    except Exception:  # alerts must not depend on the taxonomy loading
        return code


DepartmentLabel = Callable[[str, str], str]


def _share(value: float | Decimal | None) -> str:
    return "—" if value is None else f"{float(value) * 100:.0f}%"


def status_text(entry: AlertEntry, run_time: datetime, locale: str) -> str:
    """How late or how close, as a reader says it: `超时 3天4小时` / `overdue by 3 days 4 h`, `剩余 2小时` / `due in 2 h`.

    Plain elapsed time since (or until) the due time. A breach whose due time is not
    yet past (a deadline moved after detection) shows the share of its time used.
    """
    zh = locale == "zh-CN"
    if entry.kind == "breach":
        late = run_time - entry.due_at
        if late > timedelta(0):
            return f"超时 {span(late, locale)}" if zh else f"overdue by {span(late, locale)}"
        used = _share(entry.used_share)
        return f"超时（已用时限 {used}）" if zh else f"breached (time used {used})"
    left = entry.due_at - run_time
    if left > timedelta(0):
        return f"剩余 {span(left, locale)}" if zh else f"due in {span(left, locale)}"
    return "已到期" if zh else "due now"


def rows(entries: Iterable[AlertEntry], locale: str = "zh-CN", zone: ZoneInfo | None = None,
         department_label: DepartmentLabel | None = None, run_time: datetime | None = None) -> list[dict[str, Any]]:
    """Display rows (labels, local times, how late) in digest order; `run_time` is the monitor's instant."""
    labels = LABELS[_locale(locale)]
    dept = department_label or department_name
    out = []
    for e in ordered(entries):
        out.append({
            "status": status_text(e, run_time or e.detected_at, locale),
            "department_code": e.department or "",
            "feedback_no": e.feedback_no,
            "priority_code": e.priority,
            "priority": labels["priority"].get(e.priority, e.priority),
            "stage": labels["stage"].get(e.stage, e.stage),
            "kind_code": e.kind,
            "kind": labels["kind"].get(e.kind, e.kind),
            "due": local_time(e.due_at, zone),
            "used": _share(e.used_share),
            "department": dept(e.department, locale) if e.department else "—",
            "subject": e.subject or "—",
            "level": e.escalation_level,
        })
    return out


# A digest lists at most this many rows per group (breaches, warnings) and counts the rest, so a
# first run over a large backlog sends a readable mail rather than one with thousands of rows.
MAX_ROWS_PER_GROUP = 200


def _groups(table: list[dict[str, Any]], locale: str) -> list[dict[str, Any]]:
    labels = LABELS[locale]["kind"]
    groups = []
    for kind in KIND_ORDER:
        members = [r for r in table if r["kind_code"] == kind]
        if members:
            groups.append({"kind": kind, "label": labels[kind], "rows": members[:MAX_ROWS_PER_GROUP],
                           "total": len(members), "more": max(0, len(members) - MAX_ROWS_PER_GROUP)})
    return groups


def _priority_groups(table: list[dict[str, Any]], locale: str) -> list[dict[str, Any]]:
    """Rows by priority (urgent first), then department (the one with the worst item first)."""
    labels = LABELS[locale]["priority"]
    rank = {code: i for i, code in enumerate(PRIORITY_ORDER)}
    groups = []
    for code in sorted({r["priority_code"] for r in table}, key=lambda c: (rank.get(c, len(rank)), c)):
        members = [r for r in table if r["priority_code"] == code]   # already breaches first, earliest due first
        shown = members[:MAX_ROWS_PER_GROUP]
        departments: dict[str, dict[str, Any]] = {}
        for r in shown:
            departments.setdefault(r["department_code"], {"label": r["department"], "rows": []})["rows"].append(r)
        groups.append({
            "code": code, "label": labels.get(code, code), "total": len(members),
            "breach": sum(r["kind_code"] == "breach" for r in members),
            "warning": sum(r["kind_code"] == "warning" for r in members),
            "departments": list(departments.values()), "more": max(0, len(members) - MAX_ROWS_PER_GROUP),
        })
    return groups


@lru_cache(maxsize=1)
def template_env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_digest(entries: Sequence[AlertEntry], run_time: datetime, locale: str = "zh-CN",
                  zone: ZoneInfo | None = None, department_label: DepartmentLabel | None = None,
                  console_url: str = DEFAULT_CONSOLE_URL) -> Digest:
    """The HTML and plain-text digest of `entries` for one reader's locale.

    Plain text goes alongside HTML because some clients (and every audit tool) read
    only text; both come from templates under `notify/templates/<locale>/` so wording
    can change without touching code.
    """
    locale = _locale(locale)
    zone = zone or business_zone()
    table = rows(entries, locale, zone, department_label, run_time)
    subject, tally = subject_line(entries, run_time, locale, zone), counts(entries)
    context = {
        "subject": subject,
        "run_time": local_time(run_time, zone),
        "timezone": str(zone.key),
        "counts": tally,
        "groups": _groups(table, locale),
        "priorities": _priority_groups(table, locale),
        "overdue_url": f"{console_url.rstrip('/')}/overdue",
        "locale": locale,
        "colours": COLOURS,
    }
    env = template_env()
    html = env.get_template(f"{locale}/sla_digest.html").render(**context)
    text = env.get_template(f"{locale}/sla_digest.txt").render(**context)
    return Digest(locale, subject, html, text, tally)


# --- chat robots -------------------------------------------------------------------------------

_CHAT_NEUTRAL = str.maketrans({
    "<": "＜", ">": "＞", "[": "［", "]": "］", "(": "（", ")": "）", "*": "＊", "_": "＿", "`": "｀",
    "#": "＃", "|": "｜", "&": "＆", "~": "～", "\n": " ", "\r": " ", "\t": " ",
})


def chat_safe(text: str, limit: int | None = None) -> str:
    """Text that chat markdown shows literally: markup characters become their full-width twins.

    Chat dialects (WeCom, DingTalk, Slack mrkdwn) disagree on escaping, so a masked
    subject cannot turn into a link, a mention or markup in any of them.
    """
    out = text.translate(_CHAT_NEUTRAL)
    if limit is not None and len(out) > limit:
        out = out[: limit - 1] + "…"
    return out


def _chat_lines(table: list[dict[str, Any]], locale: str, bold: str) -> list[str]:
    zh = locale == "zh-CN"
    due = "截止" if zh else "due"
    lines: list[str] = []
    spent = shown = 0
    for group in _groups(table, locale):
        header = f"{bold}{group['label']}{'（' if zh else ' ('}{len(group['rows'])}{' 项）' if zh else ')'}{bold}"
        header_due = True
        for r in group["rows"]:
            level = f" · {'升级' if zh else 'escalated'} L{r['level']}" if r["level"] else ""
            line = (f"- {r['feedback_no']} · {r['priority']} · {r['stage']} · {due} {r['due']} · {r['status']}"
                    f" · {chat_safe(r['department'])} · {chat_safe(r['subject'], CHAT_SUBJECT_CHARS)}{level}")
            cost = len(line.encode("utf-8")) + 1 + (len(header.encode("utf-8")) + 1 if header_due else 0)
            if shown >= CHAT_MAX_ENTRIES or spent + cost > CHAT_MAX_BYTES:
                break
            if header_due:
                lines.append(header)
                header_due = False
            lines.append(line)
            spent += cost
            shown += 1
    hidden = len(table) - shown
    if hidden > 0:
        lines.append(f"… 另有 {hidden} 项，见邮件摘要" if zh else f"… and {hidden} more, see the mail digest")
    return lines


def webhook_payload(fmt: str, entries: Sequence[AlertEntry], run_time: datetime, locale: str = "zh-CN",
                    zone: ZoneInfo | None = None, department_label: DepartmentLabel | None = None) -> dict[str, Any]:
    """The JSON body a chat robot of format `fmt` expects (wecom | dingtalk | slack | generic).

    Counts, feedback numbers and masked subjects only, like the mail digest.
    """
    locale = _locale(locale)
    table = rows(entries, locale, zone, department_label, run_time)
    subject = subject_line(entries, run_time, locale, zone)
    if fmt == "wecom":
        content = "\n".join([f"**{subject}**", *_chat_lines(table, locale, "**")])
        return {"msgtype": "markdown", "markdown": {"content": content}}
    if fmt == "dingtalk":
        text = "\n\n".join([f"### {subject}", *_chat_lines(table, locale, "**")])
        return {"msgtype": "markdown", "markdown": {"title": subject, "text": text}}
    if fmt == "slack":
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": subject[:150]}},
        ]
        section: list[str] = []
        for line in _chat_lines(table, locale, "*"):
            if section and sum(len(s) + 1 for s in section) + len(line) > 2900:  # Slack: 3000 chars a section
                blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(section)}})
                section = []
            section.append(line)
        if section:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(section)}})
        return {"text": subject, "blocks": blocks}
    if fmt == "generic":
        return {
            "kind": "sla_digest",
            "subject": subject,
            "run_time": run_time.isoformat(),
            "locale": locale,
            "counts": counts(entries),
            "entries": [
                {
                    "feedback_id": e.feedback_id,
                    "feedback_no": e.feedback_no,
                    "priority": e.priority,
                    "department": e.department,
                    "handler_group": e.handler_group,
                    "stage": e.stage,
                    "kind": e.kind,
                    "due_at": e.due_at.isoformat(),
                    "detected_at": e.detected_at.isoformat(),
                    "used_share": None if e.used_share is None else float(e.used_share),
                    "escalation_level": e.escalation_level,
                    "subject": e.subject,
                }
                for e in ordered(entries)
            ],
        }
    raise ValueError(f"unknown webhook format {fmt!r}: expected wecom, dingtalk, slack or generic")
