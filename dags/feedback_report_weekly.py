"""
### feedback_report_weekly

The weekly reports for the Monday-to-Sunday week just ended: the response-time monitoring report
(响应时效监控周报表: per department and priority, first responses on time, average response time, breaches) and
the satisfaction tiers with the top issue tags, through the same pipeline as the monthly report: a Great
Expectations check, Excel + PDF, archived as `feedback-weekly-YYYY-Www.*` and mailed to `reports.recipients`.

* **Schedule**: Mondays 07:00 (business time: settings.yaml `timezone`); the week comes from the data interval. Param `week` ("2026-W43")
  for a manual run; `resend` mails the current version again.
* **Poison isolation**: as for the monthly report, a section one bad value breaks is held and marked unavailable;
  the report still goes out (`held` in the task's result).
"""

from feedback_airflow.report_dags import report_dag

feedback_report_weekly = report_dag(
    "weekly",
    dag_id="feedback_report_weekly",
    cron="0 7 * * 1",  # business time (settings.yaml timezone)
    period_param="week",
    period_pattern=r"^\d{4}-W\d{2}$",
    doc=__doc__,
)
