"""The business time zone comes from settings.yaml only; every other place that shows or counts local time follows it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedback.business_time import business_zone
from feedback.errors import ConfigError
from feedback.notify.digest import local_time
from feedback.notify.escalation import load_ladder
from feedback.reports.sections import Period
from feedback.sla.calendar import BusinessCalendar, CalendarSpec

CONFIG = Path(__file__).resolve().parents[2] / "include" / "config"


@pytest.fixture
def berlin(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped configuration with another business zone, in use for the test."""
    configs = tmp_path / "config"
    shutil.copytree(CONFIG, configs)
    settings = configs / "settings.yaml"
    settings.write_text(settings.read_text().replace("timezone: Asia/Shanghai", "timezone: Europe/Berlin"))
    monkeypatch.setenv("FEEDBACK_CONFIG_DIR", str(configs))
    return configs


def test_the_shipped_zone_is_shanghai():
    assert business_zone().key == "Asia/Shanghai"


def test_every_default_follows_settings(berlin):
    assert business_zone().key == "Europe/Berlin"
    noon_utc = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)
    assert local_time(noon_utc) == "2026-10-05 14:00"                   # CEST, not Shanghai's 20:00
    assert load_ladder().timezone.key == "Europe/Berlin"
    assert Period.month("2026-10").bounds()[0] == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
    assert BusinessCalendar("plain", CalendarSpec()).zone.key == "Europe/Berlin"
    assert BusinessCalendar("tokyo", CalendarSpec(zone="Asia/Tokyo")).zone.key == "Asia/Tokyo"   # a calendar may name its own


def test_an_escalation_file_naming_another_zone_is_refused(berlin):
    ladder = berlin / "escalation.yaml"
    ladder.write_text(ladder.read_text().replace("version: 1\n", "version: 1\ntimezone: Asia/Shanghai\n", 1))
    with pytest.raises(ConfigError, match=r"escalation.yaml: timezone: 'Asia/Shanghai' differs from settings.yaml "
                                          r"timezone 'Europe/Berlin'"):
        load_ladder()
    ladder.write_text(ladder.read_text().replace("timezone: Asia/Shanghai", "timezone: Europe/Berlin"))
    assert load_ladder().timezone.key == "Europe/Berlin"                  # the same zone said twice is allowed


def test_the_shipped_calendars_count_in_the_business_zone(berlin):
    """No shipped calendar pins a zone of its own, so moving settings.yaml moves the SLA clock with it."""
    from feedback.sla.calendar import load_calendars

    calendars = load_calendars()
    assert calendars and {cal.zone.key for cal in calendars.values()} == {"Europe/Berlin"}
