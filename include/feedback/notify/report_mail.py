"""The report mail: what a manager reads before opening any attachment.

Three highlights lead the mail, computed from the report's own sections so the mail can
never disagree with the files: the biggest change against the previous period, the
worst SLA stage, and the top cause of dissatisfaction. Then the headline figures, the
data-quality result (never hidden), and the attachments or archive links. A highlight
whose section is missing, held or empty says so in one line instead of guessing.

Sections reach here already localised (labels are text in the report's language); codes
stay in the `key` / `priority` / `stage` columns, which the mail never shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from feedback.notify.mails import Mail, business_time, render_html
from feedback.reports.model import UNAVAILABLE, Report, Section

TITLES = {
    "change": {"zh-CN": "最大变化（较上期）", "en": "Biggest change vs the previous period"},
    "sla": {"zh-CN": "时效最差环节", "en": "Worst SLA stage"},
    "cause": {"zh-CN": "不满意首要原因", "en": "Top cause of dissatisfaction"},
}
NOTHING = {
    "change": {"zh-CN": "本期与上期均无可比的回访数据", "en": "no comparable callbacks in this and the previous period"},
    "sla": {"zh-CN": "本期没有到期的时限", "en": "no deadlines fell due in the period"},
    "cause": {"zh-CN": "本期没有不满意的回访", "en": "no dissatisfied callbacks in the period"},
}


@dataclass(frozen=True)
class Highlight:
    key: str          # change | sla | cause
    title: str
    text: str
    tone: str         # good | bad | neutral: the colour a reader takes in first


def _section(report: Report, key: str) -> Section | None:
    return next((s for s in report.sections if s.key == key), None)


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _points(value: float, locale: str) -> str:
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return f"{sign}{abs(value) * 100:.1f} 个百分点" if locale == "zh-CN" else f"{sign}{abs(value) * 100:.1f} points"


def _change(report: Report) -> str | tuple[str, str]:
    """The satisfaction share (or outcome share) that moved most since the previous period."""
    zh = report.locale == "zh-CN"
    candidates: list[tuple[float, str, float, float, str]] = []   # (change, name, now, before, tone)
    trend = _section(report, "satisfaction_trend")
    if trend is not None and not trend.unavailable:
        now = next((r for r in trend.rows if r.get("key") == "current"), None)
        before = next((r for r in trend.rows if r.get("key") == "previous"), None)
        if now and before and now.get("satisfied_share") is not None and before.get("satisfied_share") is not None:
            delta = now["satisfied_share"] - before["satisfied_share"]
            candidates.append((delta, "满意率" if zh else "Satisfied share", now["satisfied_share"],
                               before["satisfied_share"], "good" if delta > 0 else "bad" if delta < 0 else "neutral"))
    shares = _section(report, "satisfaction")
    if shares is not None and not shares.unavailable:
        for r in shares.rows:
            if r.get("key") in ("", "satisfied") or r.get("share") is None or r.get("prev_share") is None:
                continue   # "satisfied" is the trend's satisfied share above, on a different base
            delta = r["share"] - r["prev_share"]
            worse = r.get("key") in ("dissatisfied", "unreachable")
            tone = "neutral" if not delta else ("bad" if (delta > 0) == worse else "good")
            name = f"{r['label']}占比" if zh else f"Share {str(r['label']).lower()}"
            candidates.append((delta, name, r["share"], r["prev_share"], tone))
    if not candidates:
        return NOTHING["change"][report.locale]
    delta, name, now_value, before_value, tone = max(candidates, key=lambda c: abs(c[0]))
    if zh:
        return f"{name} {_points(delta, report.locale)}（本期 {_pct(now_value)}，上期 {_pct(before_value)}）", tone
    return f"{name} {_points(delta, report.locale)} ({_pct(now_value)} now, {_pct(before_value)} before)", tone


def _worst_sla(report: Report) -> str | tuple[str, str]:
    """The priority and stage with the lowest on-time share among deadlines due."""
    section = _section(report, "sla_attainment")
    rows = [r for r in (section.rows if section is not None else ()) if r.get("due") and r.get("attainment") is not None]
    if not rows:
        return NOTHING["sla"][report.locale]
    worst = min(rows, key=lambda r: (r["attainment"], -r.get("late", 0)))
    if report.locale == "zh-CN":
        return (f"{worst['priority_label']} · {worst['stage_label']}：达标率 {_pct(worst['attainment'])}"
                f"（到期 {worst['due']:,} 项，超时 {worst.get('late', 0):,} 项）", "bad" if worst["attainment"] < 1 else
                "good")
    return (f"{worst['priority_label']} · {worst['stage_label']}: {_pct(worst['attainment'])} on time "
            f"({worst.get('late', 0):,} of {worst['due']:,} deadlines late)", "bad" if worst["attainment"] < 1 else "good")


def _top_cause(report: Report) -> str | tuple[str, str]:
    section = _section(report, "dissatisfaction_causes")
    rows = list(section.rows) if section is not None else []
    if not rows:
        return NOTHING["cause"][report.locale]
    top = rows[0]
    share = f"，占 {_pct(top['share'])}" if report.locale == "zh-CN" and top.get("share") is not None else (
        f", {_pct(top['share'])} of them" if top.get("share") is not None else "")
    if report.locale == "zh-CN":
        return f"{top['label']}：不满意回访 {top['callbacks']:,} 次{share}", "bad"
    return f"{top['label']}: {top['callbacks']:,} dissatisfied callbacks{share}", "bad"


def highlights(report: Report) -> list[Highlight]:
    """The three highlights, in the order a general manager asked for them."""
    out = []
    for key, compute, needs in (("change", _change, ("satisfaction_trend", "satisfaction")),
                                ("sla", _worst_sla, ("sla_attainment",)),
                                ("cause", _top_cause, ("dissatisfaction_causes",))):
        present = [s for k in needs if (s := _section(report, k)) is not None]
        if not present:
            continue   # a report without these sections (the weekly one) has no such highlight
        if all(s.unavailable for s in present):
            out.append(Highlight(key, TITLES[key][report.locale], UNAVAILABLE(report.locale), "neutral"))
            continue
        found = compute(report)
        text, tone = found if isinstance(found, tuple) else (found, "neutral")
        out.append(Highlight(key, TITLES[key][report.locale], text, tone))
    return out


def _with_highlights(text: str, items: list[Highlight], locale: str) -> str:
    """The plain-text body with the highlights after its title line."""
    if not items:
        return text
    head, _, rest = text.partition("\n")
    block = ["", "本期要点：" if locale == "zh-CN" else "Highlights:"]
    block += [f"  {i}. {h.title}：{h.text}" if locale == "zh-CN" else f"  {i}. {h.title}: {h.text}"
              for i, h in enumerate(items, 1)]
    return "\n".join([head, *block]) + "\n" + rest


def report_mail(report: Report, version: int, links: dict[str, str], text: str, *, zone: ZoneInfo,
                attached: list[str]) -> Mail:
    """Both parts of one report mail; `text` is the plain body (`produce.mail_text`), highlights added here."""
    from feedback.reports.produce import _figure

    items = highlights(report)
    locale = report.locale
    failed = [q for q in report.quality if not q.passed]
    html = render_html(
        locale, "report", title=report.title(locale),
        version_label=f"第 {version} 版" if locale == "zh-CN" else f"version {version}",
        period=f"{report.period_start:%Y-%m-%d} – {report.period_end:%Y-%m-%d}",
        generated=business_time(report.generated_at, zone), timezone=getattr(zone, "key", str(zone)),
        highlights=items, headline=[(h.label(locale), _figure(h.value, h.kind)) for h in report.headline],
        checks=len(report.quality), failed=[(q.name(locale), q.detail) for q in failed],
        unavailable=[s.title(locale) for s in report.unavailable], unavailable_line=UNAVAILABLE(locale),
        links=sorted(links.items()), attached=attached,
    )
    return Mail(_with_highlights(text, items, locale), html)
