"""The vocabulary's codes are the stored strings: the register's CHECK constraints and the YAML agree with them."""

from __future__ import annotations

import re

import pytest

from feedback import vocabulary as v
from feedback.paths import migrations_dir


def _check_values(table: str, column: str) -> set[str]:
    """The values the latest migration allows in `table.column` (CREATE TABLE or ADD CONSTRAINT)."""
    allowed: set[str] = set()
    for path in sorted(migrations_dir().glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        blocks = re.findall(rf"CREATE TABLE {table} \((.*?)\n\);", text, re.S)
        blocks += re.findall(rf"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_check\s+(CHECK.*?);", text, re.S)
        for block in blocks:
            found = re.search(rf"{column}\b[^,]*?CHECK \({column} IN \(([^)]*)\)\)", block, re.S) \
                or re.search(rf"CHECK \({column} IN \(([^)]*)\)\)", block if block.startswith("CHECK") else "", re.S)
            if found:
                allowed = set(re.findall(r"'([^']*)'", found.group(1)))
    return allowed


@pytest.mark.parametrize(("enum", "table", "column"), [
    (v.Priority, "feedback", "priority"),
    (v.ItemStatus, "feedback", "status"),
    (v.CallbackStatus, "callback_task", "status"),
    (v.Outcome, "callback_task", "outcome"),
    (v.AlertKind, "sla_breach", "kind"),
])
def test_codes_are_the_registers_stored_strings(enum, table, column):
    assert set(v.codes(enum)) == _check_values(table, column)


def test_every_member_has_both_names():
    for enum in v.ENUMS:
        for member in enum:
            zh, en = v.label(member, "zh-CN"), v.label(member, "en")
            assert zh and en and zh != en, member
            assert v.label(member, "zh") == zh


def test_same_code_in_two_enums_keeps_each_name():
    assert v.label(v.Stage.CLOSED, "zh-CN") == "问题关闭"
    assert v.label(v.ItemStatus.CLOSED, "zh-CN") == "已关闭"
    assert v.label(v.Outcome.UNREACHABLE, "zh-CN") == "未联系上"
    assert v.label(v.CallbackStatus.UNREACHABLE, "zh-CN") == "无法联系"


def test_short_names_differ_only_where_the_console_shortens():
    assert v.short_label(v.ItemStatus.RESOLVED, "zh") == "已解决"
    assert v.short_label(v.ItemStatus.RESOLVED, "en") == v.label(v.ItemStatus.RESOLVED, "en")
    assert v.short_label(v.Priority.URGENT, "zh") == "紧急"


def test_priorities_are_listed_highest_first():
    assert v.codes(v.Priority) == ("urgent", "high", "medium", "low")
    assert v.unknown(v.Priority, ["urgent", "critical", "low", "p0"]) == ["critical", "p0"]


def test_the_yaml_models_take_their_priorities_and_statuses_from_the_vocabulary():
    """sla_policies.yaml and taxonomy.yaml are validated against these codes: a priority the enum lacks is refused."""
    from feedback.sla import policy
    from feedback.triage import taxonomy

    assert policy.PRIORITIES == taxonomy.LEVELS == v.codes(v.Priority)
    assert policy.STATUSES == v.codes(v.ItemStatus)
    assert policy.Priority is taxonomy.Level is v.PriorityCode
    preset = policy.PresetSpec.model_validate({
        "stages": [{"name": "first_response", "satisfied_by": ["responded"]}],
        "allowances": {p: {"first_response": "2h"} for p in v.codes(v.Priority)},
    })
    assert set(preset.calendar_by_priority) <= set(v.codes(v.Priority))
    with pytest.raises(ValueError, match="urgent"):
        policy.PresetSpec.model_validate({
            "stages": [{"name": "first_response", "satisfied_by": ["responded"]}],
            "allowances": {p: {"first_response": "2h"} for p in v.codes(v.Priority)},
            "calendar_by_priority": {"critical": "always"},
        })
