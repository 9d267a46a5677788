"""One report, end to end: figures, quality checks, files, archive, mail — each exactly once per version.

The steps run in one transaction on the register (the archive rows and the outbox
rows commit together), so a crash leaves either nothing or a complete version
with its mail queued; a re-run for the same period with the same figures finds
the version archived and queues nothing unless `resend` is asked for.

One bad value must not stop a report: each section is computed in its own savepoint
(`sections.assemble._isolated`). A section that fails on the data is held (`feedback.holds`, stage
`reports`, table `report_section`, ref `<kind>:<period>:<section>`) in the archive's
transaction, and the report goes out with that section marked unavailable and named in the
data-quality checks. While the hold is open, re-runs skip the section (same figures, no new
version); once the operator releases it, the next run computes it and, the figures having
changed, archives and mails a new version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback import holds
from feedback.business_time import business_zone
from feedback.notify.outbox import OutboxRow, message_id_for, write_rows
from feedback.reports.archive import ArchiveResult, archive, period_label, read_archived
from feedback.reports.model import UNAVAILABLE, Label, QualityCheck, Report, ReportKind
from feedback.vocabulary import OutboxKind

if TYPE_CHECKING:
    from feedback.reports.sections.periods import Period

log = logging.getLogger(__name__)
REPORT_KIND = OutboxKind.REPORT.value
HOLD_STAGE, HOLD_TABLE = "reports", "report_section"
# The sections whose first rows the PDF summary shows ("top issues").
HIGHLIGHTS = {
    "monthly": ("high_frequency", "dissatisfaction_causes", "overdue_items"),
    "weekly": ("response_time_monitor", "top_issue_tags", "satisfaction_tiers"),
}
TITLES = {
    "monthly": Label("客户反馈月度报告", "Customer feedback monthly report"),
    "weekly": Label("响应时效监控周报", "Weekly response-time and satisfaction report"),
}


@dataclass(frozen=True)
class Produced:
    kind: str
    period: str
    version: int
    new_version: bool
    files: dict[str, int]          # file name -> bytes
    mails_queued: int
    quality_passed: bool
    items: int
    held: int = 0                  # sections unavailable in this version (held now or still held)
    held_sections: list[str] = field(default_factory=list)   # their keys
    empty: bool = False            # no item was received in the period (archived, mailed only when forced)
    dry_run_folder: str | None = None   # a dry run: where the files were written (nothing archived or mailed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_names(kind: str, label: str) -> tuple[str, str]:
    stem = f"feedback-report-{label}" if kind == "monthly" else f"feedback-weekly-{label}"
    return f"{stem}.xlsx", f"{stem}.pdf"


def content_hash(report: Report) -> str:
    """A hash of the figures and checks, not of the stamp: equal figures, equal hash."""
    doc = {"headline": [(h.label.en, h.value) for h in report.headline],
           "sections": [(s.key, "unavailable") if s.unavailable else (s.key, s.rows) for s in report.sections],
           "quality": [(q.name.en, q.passed, q.detail) for q in report.quality],
           "locale": report.locale}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def _figure(value: Any, kind: str) -> str:
    if kind == "pct" and isinstance(value, int | float):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)


def mail_text(report: Report, result: ArchiveResult, links: dict[str, str]) -> str:
    """The body managers read first: headline figures and, never hidden, the data-quality result."""
    zh = report.locale == "zh-CN"
    period = f"{report.period_start:%Y-%m-%d} – {report.period_end:%Y-%m-%d}"
    lines = [f"{report.title(report.locale)} {period}（第 {result.version} 版）" if zh
             else f"{report.title(report.locale)} {period} (version {result.version})", ""]
    lines += [f"- {h.label(report.locale)}: {_figure(h.value, h.kind)}" for h in report.headline]
    lines.append("")
    failed = [q for q in report.quality if not q.passed]
    if failed:
        lines.append("⚠ 数据质量检查未通过：" if zh else "⚠ Data-quality checks FAILED:")
        lines += [f"  - {q.name(report.locale)}: {q.detail}" for q in failed]
        lines.append("以下数字可能不准确。" if zh else "The figures below may be wrong.")
        lines += [f"  - {s.title(report.locale)}: {UNAVAILABLE(report.locale)}" for s in report.unavailable]
    else:
        lines.append(f"数据质量检查：{len(report.quality)} 项全部通过。" if zh
                     else f"Data-quality checks: all {len(report.quality)} passed.")
    lines.append("")
    if links:
        lines.append("以下文件较大，请从归档位置下载：" if zh else "These files are large; download them from the archive:")
        lines += [f"  - {name}: {where}" for name, where in sorted(links.items())]
    lines.append("附件为完整报表（Excel）与摘要（PDF）。" if zh
                 else "Attached: the full workbook (Excel) and the summary (PDF).")
    return "\n".join(lines) + "\n"


def mail_rows(conn: sa.Connection, report: Report, result: ArchiveResult, staged: dict[str, Path], *,
              recipients: list[str], attach_max_bytes: int, created_at: datetime, resend: bool,
              domain: str) -> list[OutboxRow]:
    """One mail per recipient for this version; a resend is a new, numbered row (never the same one twice)."""
    label = period_label(report.kind, report.period_start)
    attachments, links = [], {}
    for f in result.files:
        if f.size_bytes <= attach_max_bytes and f.file_name in staged:
            kind = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                    if f.file_name.endswith(".xlsx") else "application/pdf")
            attachments.append({"path": str(staged[f.file_name]), "filename": f.file_name, "content_type": kind})
        else:
            links[f.file_name] = f.location
    from feedback.notify.report_mail import report_mail

    mail = report_mail(report, result.version, links, mail_text(report, result, links), zone=business_zone(),
                       attached=[a["filename"] for a in attachments])   # highlights first, and an HTML part
    text = mail.text
    subject = f"{report.title(report.locale)} {label}" + (f"（v{result.version}）" if report.locale == "zh-CN"
                                                          else f" (v{result.version})")
    if not report.quality_passed:
        subject += "【数据质量未通过】" if report.locale == "zh-CN" else " [data-quality checks failed]"
    rows = []
    for recipient in recipients:
        base = f"report:{report.kind}:{label}:v{result.version}:{recipient}"
        dedup = base
        if resend:
            sent_before = conn.execute(sa.text("SELECT count(*) FROM feedback.outbox WHERE dedup_key = :b "
                                               "OR dedup_key LIKE :p"), {"b": base, "p": base + ":resend%"}).scalar()
            dedup = f"{base}:resend{sent_before}" if sent_before else base
        rows.append(OutboxRow(kind=REPORT_KIND, dedup_key=dedup, recipient=recipient, created_at=created_at,
                              subject=subject, body=text,
                              payload={"channel": "email", "locale": report.locale, "text": text, "html": mail.html,
                                       "report": {"kind": report.kind, "period": label, "version": result.version,
                                                  "quality_passed": report.quality_passed}},
                              message_id=message_id_for(dedup, domain=domain, prefix="report"),
                              attachments=attachments, caused_at=created_at))
    return rows


def hold_ref(kind: str, label: str, key: str) -> str:
    """The `held_row.row_ref` of one section of one report: `monthly:2026-10:open_ledger`."""
    return f"{kind}:{label}:{key}"


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def _hold_detail(key: str, error: BaseException) -> tuple[str, str]:
    """Reason code and detail line for a held section: where and why, quoted values blanked."""
    reason, detail = holds.describe_error(error)
    return reason, f"section {key}: " + _QUOTED.sub("'…'", detail)


def stage(files: dict[str, bytes], folder: Path) -> dict[str, Path]:
    """Local copies the mail sender attaches (the archive may be an object store)."""
    from feedback.paths import private_dir, write_private

    private_dir(folder)
    out = {}
    for name, data in files.items():
        path = folder / name
        if not path.exists() or path.read_bytes() != data:
            write_private(path, data)  # 0600: local copies of the report are not for other users
        out[name] = path
    return out


def _register_checks(engine: Engine, start: datetime, end: datetime,
                     locale: str) -> tuple[tuple[QualityCheck, ...], int, dict[str, float]]:
    """The checks on the register itself (not on the sections), their item count and their seconds."""
    from feedback.reports import quality

    timings, started = {}, perf_counter()
    suite = quality.check_period(engine, start, end)
    timings["beside the sections: data-quality suite (SQL pre-check; Great Expectations only for a month with suspect rows)"] = perf_counter() - started
    started = perf_counter()
    checks = (*suite, quality.times_check(engine, start, end, locale))
    items = quality.register_rows(engine, start, end)
    timings["beside the sections: times check and item count"] = perf_counter() - started
    return checks, items, timings


def refusal(engine: Engine, kind: ReportKind, period: Period, today: date) -> str | None:
    """Why a report of `period` must not go to management as asked (one line), or None when it may.

    A period that has not started, or one in which no item was received, renders as an empty
    report that looks like a calm month; managers read it as such. The CLI refuses both unless
    forced; `today` is the business-zone date.
    """
    from feedback.reports import quality

    label = period_label(kind, period.start)
    if period.start > today:
        return (f"{label} has not started yet (today is {today:%Y-%m-%d} in {period.zone}): there is nothing to "
                "report; add --force to render it anyway")
    start, end = period.bounds()
    if not quality.register_rows(engine, start, end):
        return (f"no feedback item was received in {label} ({period.start:%Y-%m-%d} – {period.end:%Y-%m-%d}): "
                "an empty report is neither archived nor mailed; check the period, or add --force")
    return None


def produce(engine: Engine, kind: ReportKind, period: Period, *, generated_at: datetime, locale: str | None = None,
            resend: bool = False, progress: Callable[[str], None] | None = None, timings: dict[str, float] | None = None,
            mail_empty: bool = False, dry_run_to: Path | None = None) -> Produced:
    """Compute, check, render, archive and queue the mail of one report; counts for XCom and the CLI.

    `timings`, when given, receives the seconds of each section and step (the benchmark prints them).
    A period with no items is archived (its data-quality section says it is empty) but not mailed
    unless `mail_empty`: management should not receive a blank report as if it were a quiet month.
    `dry_run_to` renders the files into that folder and stops there: no hold, no archive, no mail.
    """
    from feedback.paths import local_dir
    from feedback.reports import pdf, quality, sections, xlsx
    from feedback.settings import load_settings

    settings = load_settings()
    locale = locale or settings.reports.locale or settings.locale
    say = progress or (lambda _m: None)
    start, end = period.bounds()
    label = period_label(kind, period.start)
    failures: dict[str, BaseException] = {}
    timings = {} if timings is None else timings
    clock = [perf_counter()]

    def lap(step: str) -> None:
        now = perf_counter()
        timings[step] = now - clock[0]
        clock[0] = now

    def on_error(key: str, error: BaseException) -> None:
        failures[key] = error
        log.warning("report %s %s: section %s could not be computed (%s); held", kind, label, key,
                    type(error).__name__)

    # The data-quality checks read the register on connections of their own and need nothing the
    # sections compute, so they run (with the import of Great Expectations, seconds of CPU) in a
    # thread while the sections' queries run in the database.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-quality") as pool:
        checking = pool.submit(_register_checks, engine, start, end, locale)
        with engine.connect() as conn:
            still_held = {ref.split(":", 2)[2] for ref in holds.held_refs(conn, HOLD_STAGE, HOLD_TABLE)
                          if ref.startswith(f"{kind}:{label}:")}
            if kind == "monthly":
                headline, parts = sections.monthly_sections(
                    conn, period, high_frequency_share=settings.reports.high_frequency_share,
                    repeat_window_days=settings.reports.repeat_window_days, list_rows=settings.reports.list_rows,
                    skip=still_held, on_error=on_error, timings=timings, side=engine.connect)
            else:
                headline, parts = sections.weekly_sections(conn, period, skip=still_held, on_error=on_error,
                                                           timings=timings)
        lap("sections (all)")
        register_checks, items, check_timings = checking.result()
    timings.update(check_timings)
    lap("waiting for the data-quality checks after the sections")
    missing = [s.key for s in parts if s.unavailable]
    say(f"{kind} {period.start}..{period.end}: {len(parts) - len(missing)} of {len(parts)} sections computed"
        + (f"; held: {', '.join(missing)}" if missing else ""))
    checks: tuple[QualityCheck, ...] = (*register_checks, quality.sections_check(parts, locale))
    if not items:
        checks += (quality.empty_period_check(locale),)
    say(f"data quality: {sum(c.passed for c in checks)}/{len(checks)} checks passed on {items:,} items")
    # Value labels (channel, priority, department …) become text in the report's language here,
    # so both renderers and the content hash see exactly what a reader sees.
    parts = tuple(replace(s, rows=tuple({k: sections.localize(v, locale) for k, v in row.items()} for row in s.rows))
                  for s in parts)
    report = Report(kind=kind, period_start=period.start, period_end=period.end, locale=locale,
                    generated_at=generated_at, headline=headline, sections=parts, quality=checks,
                    title=TITLES[kind], zone=period.zone)
    xlsx_name, pdf_name = file_names(kind, label)
    files = {xlsx_name: xlsx.render_xlsx(report)}
    lap("render Excel")
    files[pdf_name] = pdf.render_pdf(report, highlights=HIGHLIGHTS[kind])
    lap("render PDF")
    say(f"rendered {xlsx_name} ({len(files[xlsx_name]):,} bytes), {pdf_name} ({len(files[pdf_name]):,} bytes)")
    if dry_run_to is not None:
        stage(files, Path(dry_run_to))
        say(f"dry run: files written to {dry_run_to}; nothing archived, nothing mailed")
        return Produced(kind, label, 0, False, {name: len(data) for name, data in files.items()}, 0,
                        report.quality_passed, items, len(missing), missing, empty=not items,
                        dry_run_folder=str(dry_run_to))
    with engine.begin() as conn:
        for key, error in failures.items():   # held with the version that lacks them: a crash leaves neither
            reason, detail = _hold_detail(key, error)
            holds.hold_row(conn, HOLD_STAGE, HOLD_TABLE, hold_ref(kind, label, key), reason, detail, generated_at)
        result = archive(conn, settings.reports.archive_url(local_dir()), kind=kind, start=period.start,
                         end=period.end, files=files, content_hash=content_hash(report), created_at=generated_at)
        queued = 0
        if not items and not mail_empty and not resend:
            flag = "--month" if kind == "monthly" else "--week"
            log.warning("report %s %s: no item was received in the period; version %d archived, not mailed "
                        "(to mail it anyway: feedback report %s %s %s --force --resend)", kind, label,
                        result.version, kind, flag, label)
        elif result.new or resend:
            # The mail carries the archived version's bytes: on a resend, read back from the archive.
            sent = files if result.new else {f.file_name: read_archived(f.location) for f in result.files}
            staged = stage(sent, local_dir() / "reports" / kind / label / f"v{result.version}")
            queued = write_rows(conn, mail_rows(conn, report, result, staged,
                                                recipients=settings.reports.recipients,
                                                attach_max_bytes=settings.reports.attach_max_bytes,
                                                created_at=generated_at, resend=resend,
                                                domain=settings.mail.message_id_domain))
    lap("archive and queue the mail")
    say(f"archived version {result.version}" + (" (new)" if result.new else " (same figures as before)")
        + f"; {queued} mail(s) queued")
    if missing:
        log.warning("report %s %s version %d: %d section(s) held (%s); see `feedback quarantine list`", kind, label,
                    result.version, len(missing), ", ".join(missing))
    return Produced(kind, label, result.version, result.new, {f.file_name: f.size_bytes for f in result.files},
                    queued, report.quality_passed, items, len(missing), missing, empty=not items)


def period_for_run(kind: str, interval_start: datetime | None, interval_end: datetime | None, override: str | None,
                   zone: str) -> Period:
    """The period a scheduled run reports on: the month (or Mon–Sun week) its data interval covers.

    Taken from the data interval, never the trigger time, so a backfilled or late run
    reports the right period; `override` ("2026-10" / "2026-W43") is for manual runs.
    """
    from datetime import date
    from zoneinfo import ZoneInfo

    from feedback.reports.sections import Period

    if override:
        if kind == "monthly":
            return Period.month(override, zone=zone)
        year, week = override.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
        return Period.week_before(date.fromordinal(monday.toordinal() + 7), zone=zone)
    if interval_start is None or interval_end is None:
        raise ValueError("a report run needs a data interval, or a period given as a parameter")
    if kind == "monthly":
        return Period.month(f"{interval_start.astimezone(ZoneInfo(zone)):%Y-%m}", zone=zone)
    return Period.week_before(interval_end.astimezone(ZoneInfo(zone)).date(), zone=zone)
