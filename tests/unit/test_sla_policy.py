"""SLA policies: presets A and B per priority, VIP factor, calendar per priority, config errors.

Hand-computed on the default calendar (Asia/Shanghai, 09:00-12:00 + 13:30-18:00 = 7.5 h a day,
Mon-Fri, China holidays). The item arrives Mon 2026-09-28 10:00, so the first day has 6.5 business
hours left; 2026-10-01..07 is 国庆 and Sat 2026-10-10 an adjusted working day (调休).
Working days after 09-28: 09-29 (1), 09-30 (2), 10-08 (3), 10-09 (4), 10-10 (5), 10-12 (6), 10-13 (7),
10-14 (8), 10-15 (9), 10-16 (10), 10-19 (11), 10-20 (12), 10-21 (13), 10-22 (14), 10-23 (15).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback.errors import ConfigError
from feedback.paths import config_dir
from feedback.sla.calendar import load_calendars
from feedback.sla.deadlines import Deadline, stage_deadlines
from feedback.sla.policy import load_policies, load_policy, parse_allowance

SH = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)
M = timedelta(minutes=1)
CALS = load_calendars()
START = datetime(2026, 9, 28, 10, tzinfo=SH)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def due(policy, priority, tier="normal", start=START, calendars=CALS) -> dict[str, datetime]:
    return {d.stage: d.due_at for d in stage_deadlines(policy, priority, tier, start, calendars)}


def test_presets_and_stages():
    default, policies = load_policies()
    assert default == "A" and set(policies) == {"A", "B"}
    assert load_policy().name == "A"
    assert load_policy().stages == ["first_response", "resolution"]
    assert load_policy(preset="B").stages == ["first_response", "engaged", "solution", "closed"]
    b = load_policy("B")
    assert [b.level(p) for p in ("urgent", "high", "medium", "low")] == ["一级", "二级", "三级", "三级"]
    assert b.satisfied_by["engaged"] == ["status_changed:in_progress", "resolved", "closed"]
    assert b.pause_statuses == ["waiting_customer"] and b.warning_share == 0.8


def test_calendar_per_priority_defaults():
    a = load_policy()
    assert [a.calendar_for(p) for p in ("urgent", "high", "medium", "low")] == \
        ["always", "default", "default", "default"]


# --- preset A ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        # urgent on `always` (7x24): plain 2h and 24h.
        ("urgent", {"first_response": sh(2026, 9, 28, 12), "resolution": sh(2026, 9, 29, 10)}),
        # high: 4h = 2h before lunch + 13:30..15:30. 48h: 6.5 (09-28) +7.5 (09-29) +7.5 (09-30)
        # +7.5 (10-08) +7.5 (10-09) +7.5 (10-10 调休) = 44, then Mon 10-12: 3h morning + 1h → 14:30.
        ("high", {"first_response": sh(2026, 9, 28, 15, 30), "resolution": sh(2026, 10, 12, 14, 30)}),
        # medium: 24h = 6.5 + 7.5 + 7.5 = 21.5 by 09-30, then 10-08 09:00 + 2.5h = 11:30. 7 wd → 10-13 10:00.
        ("medium", {"first_response": sh(2026, 10, 8, 11, 30), "resolution": sh(2026, 10, 13, 10)}),
        # low: 3 wd → 10-08 10:00; 15 wd → Fri 10-23 10:00.
        ("low", {"first_response": sh(2026, 10, 8, 10), "resolution": sh(2026, 10, 23, 10)}),
    ],
)
def test_preset_a_deadlines(priority, expected):
    assert due(load_policy("A"), priority) == expected


def test_deadline_fields():
    first, resolution = stage_deadlines(load_policy(), "medium", "normal", START, CALS)
    assert first == Deadline("first_response", sh(2026, 10, 8, 11, 30), 24 * H, "default", "A/medium/first_response")
    assert resolution.allowance == 7 * 7.5 * H                 # 7 working days as business time
    assert resolution.rule == "A/medium/resolution" and resolution.due_at.utcoffset() == timedelta(0)
    urgent = stage_deadlines(load_policy(), "urgent", None, START, CALS)
    assert {d.calendar for d in urgent} == {"always"}


# --- preset B ----------------------------------------------------------------------------------


def test_preset_b_deadlines():
    b = load_policy("B")
    # 一级 on `always`: 30 min, 1h, 4h, 24h of plain time.
    assert due(b, "urgent") == {"first_response": sh(2026, 9, 28, 10, 30), "engaged": sh(2026, 9, 28, 11),
                                "solution": sh(2026, 9, 28, 14), "closed": sh(2026, 9, 29, 10)}
    # 二级: 2h → 12:00 (the end of the morning period, not 13:30); 3h → 13:30 + 1h = 14:30;
    # 12h = 6.5 on 09-28, 5.5 left on 09-29: 3h morning + 2.5h → 16:00;
    # 72h = 6.5 + 8 x 7.5 (09-29, 09-30, 10-08, 10-09, 10-10, 10-12, 10-13, 10-14) = 66.5,
    # 5.5h left on Thu 10-15: 3h morning + 2.5h → 16:00.
    assert due(b, "high") == {"first_response": sh(2026, 9, 28, 12), "engaged": sh(2026, 9, 28, 14, 30),
                              "solution": sh(2026, 9, 29, 16), "closed": sh(2026, 10, 15, 16)}
    # 三级 (medium and low alike): 4h → 15:30, 6h → 17:30, 24h → 10-08 11:30, 5 wd → Sat 10-10 10:00 (调休).
    expected = {"first_response": sh(2026, 9, 28, 15, 30), "engaged": sh(2026, 9, 28, 17, 30),
                "solution": sh(2026, 10, 8, 11, 30), "closed": sh(2026, 10, 10, 10)}
    assert due(b, "medium") == expected and due(b, "low") == expected
    assert [d.rule for d in stage_deadlines(b, "low", "normal", START, CALS)][-1] == "B/三级/closed"


# --- customer tier -----------------------------------------------------------------------------


def test_vip_factor():
    a = load_policy()
    # urgent: 2h x 0.5 = 1h, 24h x 0.5 = 12h (24x7).
    assert due(a, "urgent", "vip") == {"first_response": sh(2026, 9, 28, 11), "resolution": sh(2026, 9, 28, 22)}
    # medium resolution: 7 wd x 0.5 = 3.5 wd = 26.25 business hours: 6.5 + 7.5 + 7.5 = 21.5 by 09-30,
    # 4.75h on 10-08: 3h morning + 1h45 → 15:15.
    assert due(a, "medium", "vip")["resolution"] == sh(2026, 10, 8, 15, 15)
    # low first response: 3 wd x 0.5 = 11.25 business hours: 6.5 on 09-28, 09-29 3h + 1h45 → 15:15.
    assert due(a, "low", "vip")["first_response"] == sh(2026, 9, 29, 15, 15)
    first = stage_deadlines(a, "high", "VIP", START, CALS)[0]    # tier names are case-insensitive
    assert first.allowance == 2 * H and first.rule == "A/high/first_response/vip x0.5"
    assert first.due_at == sh(2026, 9, 28, 12)


def test_vip_factor_never_below_the_minimum():
    b = load_policy("B")
    first, engaged, *_ = stage_deadlines(b, "urgent", "vip", START, CALS)
    # 30 min x 0.5 = 15 min, raised to the 30 min minimum; 1h x 0.5 = 30 min stays.
    assert first.allowance == 30 * M and first.rule == "B/一级/first_response/vip x0.5 min 30m"
    assert engaged.allowance == 30 * M and engaged.due_at == sh(2026, 9, 28, 10, 30)


@pytest.mark.parametrize("tier", [None, "normal", "普通", ""])
def test_normal_tiers_are_unchanged(tier):
    assert due(load_policy(), "high", tier) == due(load_policy(), "high", "normal")


def test_unknown_priority_or_tier_is_refused():
    with pytest.raises(ValueError, match="unknown priority 'critical'"):
        stage_deadlines(load_policy(), "critical", "normal", START, CALS)
    with pytest.raises(ValueError, match="unknown customer tier 'gold'"):
        stage_deadlines(load_policy(), "high", "gold", START, CALS)
    with pytest.raises(ValueError, match="naive datetime"):
        stage_deadlines(load_policy(), "high", "normal", datetime(2026, 9, 28, 10), CALS)


def _policy_file(tmp_path, body: str):
    (tmp_path / "sla_policies.yaml").write_text("default_preset: T\npresets:\n  T:\n" + body)
    return tmp_path


BASE = """\
    stages:
      - {name: respond, satisfied_by: [responded]}
      - {name: fix, satisfied_by: [resolved]}
    allowances:
      urgent: {respond: 2h, fix: 2wd}
      high: {respond: 20m, fix: 2wd}
      medium: {respond: 4h, fix: 4wd}
      low: {respond: 4h, fix: 3wd}
"""


def test_tier_factor_on_working_days_and_minimum_cap(tmp_path):
    policy = load_policy(directory=_policy_file(
        tmp_path, BASE + "    calendar_by_priority: {}\n    tiers:\n      vip: {factor: 0.5, minimum: 1h}\n"))
    start = sh(2026, 9, 28, 9)
    # 2 wd x 0.5 = exactly 1 wd: the same clock time next working day (not Mon 18:00).
    fix = stage_deadlines(policy, "urgent", "vip", start, CALS)[1]
    assert fix.due_at == sh(2026, 9, 29, 9) and fix.allowance == 7.5 * H
    # 3 wd x 0.5 = 1.5 wd = 11h15 of business time: Mon 7.5h, Tue 3h + 45 min → 14:15.
    assert stage_deadlines(policy, "low", "vip", start, CALS)[1].due_at == sh(2026, 9, 29, 14, 15)
    # 20 min x 0.5 = 10 min; the 1h minimum would exceed the normal 20 min, so VIP keeps 20 min.
    assert stage_deadlines(policy, "high", "vip", start, CALS)[0].allowance == 20 * M


def test_tier_own_table_wins_over_factor(tmp_path):
    policy = load_policy(directory=_policy_file(
        tmp_path, BASE + "    tiers:\n      vip:\n        factor: 0.5\n        allowances:\n"
                         "          medium: {fix: 1wd}\n"))
    start = sh(2026, 9, 28, 10)
    respond, fix = stage_deadlines(policy, "medium", "vip", start, CALS)
    assert respond.allowance == 2 * H                     # factor still applies where the table is silent
    assert fix.due_at == sh(2026, 9, 29, 10) and fix.rule == "T/medium/fix/vip table"


def test_calendar_per_priority_is_configurable(tmp_path):
    policy = load_policy(directory=_policy_file(
        tmp_path, BASE + "    calendar: default\n    calendar_by_priority: {high: support_7x12}\n"))
    # Sat 2026-09-19 10:00. high (20 min) on the 7x12 desk, which works Saturdays: 10:20.
    # medium (4h) on `default`: the next working day is the 调休 Sunday 09-20: 09:00 + 3h, 13:30 + 1h → 14:30.
    sat = sh(2026, 9, 19, 10)
    assert stage_deadlines(policy, "high", None, sat, CALS)[0].due_at == sh(2026, 9, 19, 10, 20)
    assert stage_deadlines(policy, "medium", None, sat, CALS)[0].due_at == sh(2026, 9, 20, 14, 30)
    # A given mapping replaces the default {urgent: always}: urgent falls back to `calendar`.
    assert policy.calendar_for("urgent") == "default" and policy.calendar_for("high") == "support_7x12"


def test_missing_calendar_is_a_config_error(tmp_path):
    directory = _policy_file(tmp_path, BASE + "    calendar_by_priority: {urgent: night_shift}\n")
    with pytest.raises(ConfigError, match=r"presets.T: priority 'urgent' uses calendar 'night_shift'"):
        load_policy(directory=directory, calendars=CALS)
    policy = load_policy(directory=directory)
    with pytest.raises(ConfigError, match="night_shift"):
        stage_deadlines(policy, "urgent", None, START, CALS)
    assert stage_deadlines(policy, "high", None, START, CALS)      # other priorities still work


def test_shipped_policies_reference_shipped_calendars():
    for name in ("A", "B"):
        load_policy(name, calendars=load_calendars(config_dir()))


# --- invariants --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["A", "B"]), st.sampled_from(["urgent", "high", "medium", "low"]),
       st.sampled_from(["normal", "vip"]),
       st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 11, 30), timezones=st.just(SH)))
def test_property_allowance_is_business_time_to_due(preset, priority, tier, start):
    policy = load_policy(preset)
    deadlines = stage_deadlines(policy, priority, tier, start, CALS)
    assert [d.stage for d in deadlines] == policy.stages
    for d in deadlines:
        assert d.due_at >= start
        assert CALS[d.calendar].between(start, d.due_at) == d.allowance
    normal = stage_deadlines(policy, priority, "normal", start, CALS)
    assert all(v.due_at <= n.due_at for v, n in zip(deadlines, normal, strict=True))   # VIP never later


# --- durations and configuration errors --------------------------------------------------------


def test_durations():
    assert parse_allowance("2h").business == 2 * H
    assert parse_allowance("1h30m").business == 90 * M
    assert parse_allowance("30m").business == 30 * M
    assert parse_allowance("7wd").working_days == 7 and parse_allowance("7wd").business is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (BASE.replace("fix: 2wd}", "fix: 1d}", 1),
         "presets.T.allowances.urgent.fix: expected a duration such as 30m, 2h, 1h30m or 7wd, got '1d' "
         "('d' is not a unit"),
        (BASE.replace("respond: 2h", "respond: 2", 1), "allowances.urgent.respond: expected a duration with a unit"),
        (BASE.replace("respond: 2h", "respond: 0m", 1), "a duration must be positive"),
        (BASE.replace("urgent: {respond: 2h, fix: 2wd}", "urgent: {respond: 2h}"),
         "presets.T: allowances.urgent: stage 'fix' has no allowance"),
        (BASE.replace("fix: 2wd}", "fix: 2wd, triage: 1h}", 1),
         "presets.T: allowances.urgent.triage: unknown stage (stages: respond, fix)"),
        (BASE.replace("      low: {respond: 4h, fix: 3wd}\n", ""),
         "presets.T: priority 'low' has no row under allowances"),
        (BASE + "    levels: {low: L3}\n", "presets.T: levels.low is 'L3', which has no row under allowances"),
        (BASE.replace("[responded]", "[answered]"), "presets.T.stages[0].satisfied_by[0]: unknown event 'answered'"),
        (BASE.replace("[responded]", "[status_changed:sleeping]"), "unknown event 'status_changed:sleeping'"),
        (BASE + "    warning_share: 1.5\n", "presets.T.warning_share: input should be less than 1, got 1.5"),
        (BASE + "    pause_statuses: [lunch]\n", "presets.T.pause_statuses[0]: expected one of"),
        (BASE + "    tiers:\n      vip: {factor: 0.5, minimum: 1wd}\n",
         "presets.T.tiers.vip.minimum: expected business time such as 30m or 1h, got '1wd'"),
        (BASE + "    tiers:\n      vip: {factor: 2}\n", "presets.T.tiers.vip.factor: input should be less than or equal"),
        (BASE + "    tiers:\n      gold: {factor: 0.5}\n", "presets.T.tiers.gold.[key]: expected one of"),
        (BASE + "    calender: default\n", "presets.T.calender: unknown key"),
    ],
)
def test_invalid_policies_file_is_explained(tmp_path, body, message):
    _policy_file(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_policy(directory=tmp_path)
    assert message in str(err.value)
    assert str(err.value).startswith("sla_policies.yaml") or "sla_policies.yaml:" in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_and_default_presets_are_explained(tmp_path):
    with pytest.raises(ConfigError, match=r"sla_policies.yaml: presets: no preset 'C' \(presets: A, B\)"):
        load_policy("C")
    (tmp_path / "sla_policies.yaml").write_text("default_preset: Z\npresets:\n  T:\n" + BASE)
    with pytest.raises(ConfigError, match="default_preset: no preset 'Z' \\(presets: T\\)"):
        load_policy(directory=tmp_path)
