"""
### feedback_report_monthly

The month-end report (客户反馈月度报告) for the month just closed: figures from `sql/reports/`, a Great
Expectations check of the month's register, an Excel workbook (a sheet and a native chart per section) and a
2–4 page PDF summary, archived as `feedback-report-YYYY-MM.xlsx` / `.pdf` and mailed to `reports.recipients`.

* **Schedule**: the 1st at 06:00 (business time: settings.yaml `timezone`); the month comes from the run's data interval, not the trigger
  time. A backfill selects runs by logical date, the interval's start: the 1st of the month at 06:00+08:00
  (22:00 UTC the day before), so name both ends that way:
  `airflow backfill create --dag-id feedback_report_monthly --from-date 2026-01-01T06:00:00+08:00
  --to-date 2026-06-01T06:00:00+08:00` (# renders 2026-01 to 2026-06; plain days such as 2026-01-01 …
  2026-06-30 give February to June).
  Param `month` ("2026-10") for a manual run (`airflow dags trigger … --conf '{"month": "2026-10"}'`), or
  `feedback report monthly --from 2026-01 --to 2026-06` without Airflow.
* **Exactly once**: a rerun with the same figures archives nothing and mails nothing; changed figures become a
  new archived version, mailed once. Param `resend` mails the current version again.
* **Data quality**: failed checks are stated in the report and the mail, never hidden.
* **Empty month**: a month in which no item was received is archived with a failed check "本期有反馈事项 / the
  period has feedback items" in its data-quality section, and **not mailed** (the task logs one line; the result
  has `empty: true`): management never gets a blank report that reads like a quiet month. To mail it anyway:
  `feedback report monthly --month 2026-05 --force --resend`. From the CLI, a future or empty month is refused
  unless `--force`; `--dry-run [--out DIR]` renders the files without archiving or mailing.
* **Poison isolation**: a section that one bad value breaks is held (`feedback quarantine list`, stage
  `reports`) and the report still goes out with that section marked unavailable; the task returns `held`. After
  the fix and `feedback quarantine release`, re-run the month: a new, complete version is archived and mailed.
"""

from feedback_airflow.report_dags import report_dag

feedback_report_monthly = report_dag(
    "monthly",
    dag_id="feedback_report_monthly",
    cron="0 6 1 * *",  # business time (settings.yaml timezone)
    period_param="month",
    period_pattern=r"^\d{4}-\d{2}$",
    doc=__doc__,
)
