"""The data-quality gate before a report is rendered: a Great Expectations suite on the period's register.

Management must be able to trust a report's figures, so the register they come
from is checked first, in the database itself (GX's SQL execution: no month of
rows is pulled into memory): every item has its number, time, priority and text;
every deadline is after its item's receipt; no number is used twice; no text
holds a phone number or an e-mail address. A failed check does not stop the
report: it is stated on its first page and in the mail, with counts (never values).

The expectations run on the period's SUSPECT rows: one pass over the month in SQL
selects the rows that break at least one of the per-row rules (the same rules,
written as predicates), and GX validates those. A row that breaks no rule is
expected by every expectation, so each expectation's verdict and unexpected count
are exactly those over the whole month; the suite costs one scan of the month
instead of one per expectation (a million-item month: 10 s -> about 1 s). Numbers
used twice are looked for only when the register's unique index on feedback_no is
missing (while it exists, the database itself forbids them).

A month with no suspect row at all (the usual case) is known to pass every expectation with
nothing unexpected before GX is asked, so GX is imported and run only when there is a suspect
row to count: its import and validation were about 3.5 s of CPU per report (import 2.3 s,
validation of two empty batches 1.2 s), a quarter of a million-item month's report under load.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.reports.model import Label, QualityCheck, Section

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
log = logging.getLogger(__name__)

# PostgreSQL regular expressions (ARE): the leak gate's patterns, in the database's dialect.
PG_PHONE = r"(^|[^0-9*])1[3-9][0-9]{9}([^0-9]|$)"
PG_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"

# Each per-row rule of CHECKS as a predicate on `f` (its negation: the row is unexpected). The regular
# expressions are tried only on texts with a digit run or an '@' (strpos and a short regex are cheaper).
SUSPECT = """f.feedback_no IS NULL OR f.received_at IS NULL OR f.priority IS NULL OR f.description IS NULL
             OR (f.description ~ '[0-9]{{11}}' AND f.description ~ '{phone}')
             OR (f.subject ~ '[0-9]{{11}}' AND f.subject ~ '{phone}')
             OR (strpos(f.description, '@') > 0 AND f.description ~ '{email}')
             OR (strpos(f.subject, '@') > 0 AND f.subject ~ '{email}')
             OR (strpos(f.contact_masked, '@') > 0 AND f.contact_masked ~ '{email}')"""
DUPLICATED = """ OR f.feedback_no IN (SELECT g.feedback_no FROM feedback.feedback g
                                     WHERE g.received_at >= '{start}' AND g.received_at < '{end}'
                                     GROUP BY g.feedback_no HAVING count(*) > 1)"""
ITEMS = """SELECT f.id, f.feedback_no, f.received_at, f.priority, f.description, f.subject, f.customer_name,
                  f.contact_masked
           FROM feedback.feedback f WHERE f.received_at >= '{start}' AND f.received_at < '{end}' AND ({suspect})"""
DEADLINES = """SELECT d.feedback_id, d.stage, d.due_at, f.received_at FROM feedback.feedback_deadline d
               JOIN feedback.feedback f ON f.id = d.feedback_id
               WHERE f.received_at >= '{start}' AND f.received_at < '{end}'
                 AND (d.due_at IS NULL OR f.received_at IS NULL OR NOT d.due_at > f.received_at)"""
# Whether feedback_no is still enforced unique by an index on exactly that column.
NUMBER_UNIQUE = """SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
                                 AND a.attnum = i.indkey[0]
                          WHERE i.indrelid = 'feedback.feedback'::regclass AND i.indisunique AND i.indisvalid
                            AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = 'feedback_no')"""

# (what the check says, the asset it reads, the expectation)
CHECKS: tuple[tuple[Label, str, str, dict[str, Any]], ...] = (
    (Label("反馈编号齐全", "every item has its number"), "items", "ExpectColumnValuesToNotBeNull",
     {"column": "feedback_no"}),
    (Label("受理时间齐全", "every item has its receipt time"), "items", "ExpectColumnValuesToNotBeNull",
     {"column": "received_at"}),
    (Label("优先级齐全", "every item has a priority"), "items", "ExpectColumnValuesToNotBeNull",
     {"column": "priority"}),
    (Label("反馈内容齐全", "every item has its text"), "items", "ExpectColumnValuesToNotBeNull",
     {"column": "description"}),
    (Label("一项一个编号", "one number per item"), "items", "ExpectColumnValuesToBeUnique",
     {"column": "feedback_no"}),
    (Label("时限晚于受理时间", "every deadline is after receipt"), "deadlines",
     "ExpectColumnPairValuesAToBeGreaterThanB", {"column_A": "due_at", "column_B": "received_at"}),
    *(
        (Label(f"{zh}无未脱敏手机号", f"no unmasked phone number in {en}"), "items",
         "ExpectColumnValuesToNotMatchRegex", {"column": column, "regex": PG_PHONE})
        for column, zh, en in (("description", "内容", "texts"), ("subject", "主题", "subjects"))
    ),
    *(
        (Label(f"{zh}无未脱敏邮箱", f"no unmasked e-mail address in {en}"), "items",
         "ExpectColumnValuesToNotMatchRegex", {"column": column, "regex": PG_EMAIL})
        for column, zh, en in (("description", "内容", "texts"), ("subject", "主题", "subjects"),
                               ("contact_masked", "联系方式", "contact fields"))
    ),
)

_LOCK = threading.Lock()


def _url(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def quiet_gx() -> None:
    """Keep Great Expectations' INFO chatter out of task logs (warnings and errors still show).

    Its first import logs ~214 "Skipping registering function …" lines (docs decorators), then a
    temporary docs site and batch slices per run: nothing an operator acts on, and it buried the
    lines that matter. A level an operator set on the `great_expectations` logger is kept.
    """
    gx_log = logging.getLogger("great_expectations")
    if gx_log.level == logging.NOTSET:
        gx_log.setLevel(logging.WARNING)
    # This one sets itself to INFO when imported (a temporary docs site per context): imported first, then set.
    import great_expectations.data_context.types.base  # noqa: F401

    logging.getLogger("great_expectations.data_context.types.base").setLevel(gx_log.getEffectiveLevel())


def check_period(engine: Engine, start: datetime, end: datetime) -> tuple[QualityCheck, ...]:
    """Run the suite on items received in [start, end); one QualityCheck per expectation.

    No suspect row in either asset: every expectation passes with nothing unexpected (GX is not
    needed to say so, see the module's docstring); otherwise GX validates the suspect rows.
    """
    bounds = {"start": start.isoformat(), "end": end.isoformat()}
    with engine.connect() as conn:
        unique = conn.execute(sa.text(NUMBER_UNIQUE)).scalar_one()
        suspect = SUSPECT.format(phone=PG_PHONE, email=PG_EMAIL) + ("" if unique else DUPLICATED.format(**bounds))
        queries = {"items": ITEMS.format(suspect=suspect, **bounds), "deadlines": DEADLINES.format(**bounds)}
        clean = not any(conn.execute(sa.text(f"SELECT EXISTS ({query})")).scalar_one()  # noqa: S608 (our SQL)
                        for query in queries.values())
    if clean:
        return tuple(QualityCheck(label, True, "") for label, _, _, _ in CHECKS)
    quiet_gx()   # before the import: the registration lines are logged while it runs
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    with _LOCK:   # GX contexts are not meant to be shared across threads
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_postgres("register", connection_string=_url(engine), create_temp_table=True)
        assets = {name: source.add_query_asset(name, query=query) for name, query in queries.items()}
        suites = {}
        for name, asset in assets.items():
            suite = context.suites.add(gx.ExpectationSuite(name=f"report_{name}"))
            for _, asset_name, kind, kwargs in CHECKS:
                if asset_name == name:
                    suite.add_expectation(getattr(gx.expectations, kind)(**kwargs))
            # One batch per asset, read once (a Batch's own validate() would read its query a second time).
            check = context.validation_definitions.add(gx.ValidationDefinition(
                name=f"report_{name}", data=asset.add_batch_definition_whole_table("all"), suite=suite))
            # SUMMARY with no partial list: counts only; the unexpected values may be personal data.
            suites[name] = check.run(result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0})
    out = []
    for label, asset_name, kind, kwargs in CHECKS:
        result = next(r for r in suites[asset_name].results
                      if r.expectation_config is not None and r.expectation_config.type == _snake(kind)
                      and _same(r.expectation_config.kwargs, kwargs))
        unexpected = int((result.result or {}).get("unexpected_count") or 0)
        detail = "" if result.success else f"{unexpected} row(s) fail"
        out.append(QualityCheck(label, bool(result.success), detail))
    failed = [c for c in out if not c.passed]
    if failed:
        log.warning("report data quality: %d of %d checks failed", len(failed), len(out))
    return tuple(out)


def _snake(name: str) -> str:
    import re

    return "expect_" + re.sub(r"(?<!^)(?=[A-Z])", "_", name.removeprefix("Expect")).lower()


def _same(actual: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(actual.get(k) == v for k, v in wanted.items())


SECTIONS_COMPLETE = Label("各部分数据齐全", "every section computed")
PLAUSIBLE_TIMES = Label("受理与计时起点时间合理", "receipt and clock-start times are plausible")

# Items in play during [start, end) (not closed before it) whose receipt time, or a deadline's clock
# start, is infinite or before :oldest: the duration figures leave them out (sections.OLDEST_PLAUSIBLE).
# "Infinite or before :oldest" is written `< :oldest OR = 'infinity'` ('-infinity' is before any
# instant), so both halves find their few rows by index (received_at; migration 020's partial index
# on implausible clock starts) instead of testing every item in play and each of its deadlines.
IMPLAUSIBLE_TIMES = """
    SELECT count(*) FROM (
        SELECT f.id FROM feedback.feedback AS f
        WHERE (f.received_at < :oldest OR f.received_at = 'infinity')
          AND f.received_at < :end AND (f.closed_at IS NULL OR f.closed_at >= :start)
        UNION
        SELECT f.id FROM feedback.feedback_deadline AS d JOIN feedback.feedback AS f ON f.id = d.feedback_id
        WHERE (d.starts_at < :oldest OR d.starts_at = 'infinity')
          AND f.received_at < :end AND (f.closed_at IS NULL OR f.closed_at >= :start)
    ) AS implausible"""


PERIOD_HAS_ITEMS = Label("本期有反馈事项", "the period has feedback items")


def empty_period_check(locale: str) -> QualityCheck:
    """The failed check an empty period carries, so its report says so instead of reading as a quiet month."""
    detail = ("本期未收到任何反馈事项：报告为空（定时任务不发送此邮件）" if locale == "zh-CN"
              else "no feedback item was received in this period: the report is empty (the scheduled run does "
                   "not mail it)")
    return QualityCheck(PERIOD_HAS_ITEMS, False, detail)


def sections_check(sections: tuple[Section, ...], locale: str) -> QualityCheck:
    """Whether every section was computed; a failed one names the held sections (titles only, no values)."""
    missing = [s.title(locale) for s in sections if s.unavailable]
    if not missing:
        return QualityCheck(SECTIONS_COMPLETE, True)
    sep = "、" if locale == "zh-CN" else ", "
    detail = (f"{len(missing)} 个部分暂缺（已暂扣）：{sep.join(missing)}" if locale == "zh-CN"
              else f"{len(missing)} section(s) missing (held): {sep.join(missing)}")
    return QualityCheck(SECTIONS_COMPLETE, False, detail)


def times_check(engine: Engine, start: datetime, end: datetime, locale: str) -> QualityCheck:
    """Items whose infinite or pre-2000 times were left out of the durations, counted (never shown)."""
    from feedback.reports.sections import OLDEST_PLAUSIBLE

    with engine.connect() as conn:
        n = conn.execute(sa.text(IMPLAUSIBLE_TIMES), {"start": start, "end": end, "oldest": OLDEST_PLAUSIBLE}
                         ).scalar_one()
    if not n:
        return QualityCheck(PLAUSIBLE_TIMES, True)
    detail = (f"{n} 个事项的受理或计时起点时间不合理（无穷或早于2000年），未计入时长" if locale == "zh-CN"
              else f"{n} item(s) with an infinite or pre-2000 receipt or clock-start time, left out of durations")
    return QualityCheck(PLAUSIBLE_TIMES, False, detail)


def register_rows(engine: Engine, start: datetime, end: datetime) -> int:
    """Items received in [start, end) (the report says how many the checks covered)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM feedback.feedback WHERE received_at >= :s AND "
                                        "received_at < :e"), {"s": start, "e": end}).scalar_one())
