"""Business time and SLA deadlines.

Deadlines in the process manuals are stated in business hours and working days
(工作日) of a company calendar: weekly working periods, Chinese public holidays and
the adjusted working days (调休) that come with them. Computing them by hand or with
plain `timedelta` arithmetic gets every holiday week wrong, so the whole pipeline
goes through this package:

- `feedback.sla.calendar`: `BusinessCalendar` (add business time, add working days,
  measure business time between two instants minus pauses) and `load_calendars()`
  for `include/config/calendars.yaml`;
- `feedback.sla.policy`: `SlaPolicy` / `load_policy()` for
  `include/config/sla_policies.yaml` (presets A and B of domain.md section 3);
- `feedback.sla.deadlines`: `stage_deadlines()`, the per-stage `Deadline`s of an
  item under a policy, and `deadline_rows()`, the rows stored with their warning instant.

Everything here is pure computation on timezone-aware datetimes (UTC out); no
database, no clock: the caller passes the item's received time.
"""
