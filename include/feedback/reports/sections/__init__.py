"""The figures of the monthly and weekly reports: one SQL query per section, mapped to `Section`s.

Each section is one file `sql/reports/<key>.sql`, run with bound parameters (`:start`/`:end`
are the UTC instants of `Period.bounds()`, half-open); this module only maps rows to
`Section`s and `Headline`s with Chinese and English labels. The queries are set-based (no
per-item loop, in SQL or here) and read the masked views `v_feedback`, `v_feedback_deadline`,
`v_feedback_event`, `v_sla_breach` and `v_callback_task` — so no raw contact or vault
ciphertext can reach a report — except `repeat_complaints.sql`, which needs the keyed identity
hash of each item's contact (`feedback.contact_vault_id` -> `contact_vault.identity_hash`) and
reads only that, never decrypting anything and never returning it.

Cells (the renderer's contract, in addition to `feedback.reports.model`):

- Aggregate sections carry the raw code in a `key` column (kind text: `email`, `urgent`,
  `function_problem`, `all` for a total row, `''` for "none") and its name in a `label`
  column. Two-dimensional ones carry `<dim>` and `<dim>_label` (e.g. `priority`,
  `priority_label`). List sections (overdue items, ledger, praise) carry names only.
- A name is a `Label` (zh + en) or a plain `str` (free text such as an overdue reason):
  render `localize(value, locale)`. Chart categories may be such columns too.
- Numbers are Python `int` / `float` (never `Decimal`); shares (kind `pct`) are floats in
  0..1; `hours` are business hours; a share or average with nothing to divide is `None`
  ("—"), not 0.
- Dates are `date`s and datetimes are naive wall-clock datetimes in `Period.zone`
  (converted in SQL; the report states its zone; Excel cannot store time zones).

The package, by concern: `periods` (months and weeks in the business zone), `queries` (loading
and running the SQL files), `business_hours` (calendars as SQL parameters), `labels` (titles and
value names; shared words from `feedback.vocabulary`), `cells` (shared columns and notes), the
section mappers by subject (`volumes`, `sla`, `satisfaction`, `complaints`, `lists`) and
`assemble` (each report in order, sections isolated, the headline). Whole-line `--` comments of
the .sql files are stripped before execution (see `queries`).

Definitions (also in each section's `note` and at the top of each .sql file): volumes,
urgent speed and praise count items RECEIVED in the period; SLA attainment counts deadlines
DUE in the period; first-response times count first responses MET in the period and
handling times items RESOLVED in the period; satisfaction counts callbacks COMPLETED in the
period. Every population is fixed once the period is over, so regenerating an archived
report gives the same figures unless the register itself was corrected.

Business hours are computed in SQL: the working periods of each calendar of calendars.yaml
around the report period are passed as sorted arrays (epoch seconds, with the business
seconds before each period), so the business time between two instants is two binary
searches (`width_bucket`) and a subtraction per item — see response_times.sql and
`business_hours`.
"""


from feedback.reports.sections.assemble import (
    SECTION_KEYS_MONTHLY,
    SECTION_KEYS_WEEKLY,
    OnError,
    monthly_sections,
    unavailable_section,
    weekly_sections,
)
from feedback.reports.sections.business_hours import CALENDAR_LOOKBACK_DAYS, calendar_spans, calendars_param
from feedback.reports.sections.labels import OUTCOMES, TITLES, localize
from feedback.reports.sections.periods import Period
from feedback.reports.sections.queries import (
    COMPLAINT_CATEGORIES,
    OLDEST_PLAUSIBLE,
    PRAISE_CATEGORIES,
    report_sql,
)

__all__ = [
    "CALENDAR_LOOKBACK_DAYS", "COMPLAINT_CATEGORIES", "OLDEST_PLAUSIBLE", "OUTCOMES",
    "PRAISE_CATEGORIES", "SECTION_KEYS_MONTHLY", "SECTION_KEYS_WEEKLY", "TITLES", "OnError", "Period",
    "calendar_spans", "calendars_param", "localize", "monthly_sections", "report_sql", "unavailable_section",
    "weekly_sections",
]
