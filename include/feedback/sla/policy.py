"""SLA policies: the per-stage deadlines of an item from its priority and customer tier.

The process manuals disagree on stages and allowances (domain.md section 3), so the
rules are data (`include/config/sla_policies.yaml`) with the documents' variants as
presets: A (doc 000: first response / resolution per priority) and B (doc 003: four
stages for 一级/二级/三级). Triage calls `policy.deadlines(...)` once per item with
its received time; the SLA monitor later uses `satisfied_by`, `pause_statuses`
and `warning_share` of the same policy.

Duration units (documented in the YAML too): `m` / `h` are business time on the
stage's calendar, `wd` working days (`BusinessCalendar.add_working_days`). A
customer tier may shorten allowances by a factor (never below its `minimum`, never
above the normal allowance) or bring its own table. Working days scaled by a
factor become business time: `n wd × f` = `n × f × calendar.day_length`, which is
the same business instant `add_working_days` would give when `n × f` is whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PlainValidator, field_validator, model_validator

from feedback import vocabulary
from feedback.config import (
    DEFAULT_OVERDUE_REASONS,
    Name,
    OverdueReason,
    Strict,
    check_overdue_reasons,
    load_file,
)
from feedback.errors import ConfigError
from feedback.paths import config_dir
from feedback.sla.calendar import BusinessCalendar

POLICIES_FILE = "sla_policies.yaml"
PRIORITIES = vocabulary.codes(vocabulary.Priority)
TIERS = ("vip", "normal")
STATUSES = vocabulary.codes(vocabulary.ItemStatus)
EVENTS = ("created", "responded", "customer_replied", "resolved", "reopened", "closed")
Priority = vocabulary.PriorityCode
Tier = Literal["vip", "normal"]
Status = vocabulary.ItemStatusCode
_TIER_ALIASES = {"vip": "vip", "normal": "normal", "普通": "normal", "": "normal"}
_DURATION_RE = re.compile(r"^(?:(?P<wd>\d+)wd|(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?)$")
_PRESET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,30}$")


# --- durations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowance:
    """A parsed duration of the YAML: business time (`business`) or whole working days."""

    text: str
    business: timedelta | None = None
    working_days: int | None = None

    def __str__(self) -> str:
        return self.text


def parse_allowance(value: object) -> Allowance:
    """`"2h"`, `"30m"`, `"1h30m"` → business time; `"7wd"` → 7 working days.

    Strings only, with a unit, so that `24` (hours? days?) is never guessed.
    """
    if isinstance(value, Allowance):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration with a unit such as 30m, 2h, 1h30m or 7wd, got {value!r}")
    text = value.strip().lower().replace(" ", "")
    match = _DURATION_RE.match(text)
    if not text or not match:
        hint = (" ('d' is not a unit: use h for business hours, wd for working days, or put the priority "
                "on a 24x7 calendar for round-the-clock time)") if re.fullmatch(r"\d+d", text) else ""
        raise ValueError(f"expected a duration such as 30m, 2h, 1h30m or 7wd, got {value!r}{hint}")
    if match["wd"] is not None:
        days = int(match["wd"])
        if days == 0:
            raise ValueError(f"a duration must be positive, got {value!r}")
        return Allowance(text, working_days=days)
    span = timedelta(hours=int(match["h"] or 0), minutes=int(match["m"] or 0))
    if not span:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return Allowance(text, business=span)


def _check_event(value: str) -> str:
    if value in EVENTS:
        return value
    kind, _, status = value.partition(":")
    if kind == "status_changed" and status in STATUSES:
        return value
    raise ValueError(f"unknown event {value!r}: expected one of {', '.join(EVENTS)} "
                     f"or status_changed:<status> with a status of {', '.join(STATUSES)}")


Duration = Annotated[Allowance, PlainValidator(parse_allowance)]
Event = Annotated[str, AfterValidator(_check_event)]
Table = dict[str, dict[str, Duration]]


# --- configuration models --------------------------------------------------------------------


class StageSpec(Strict):
    name: Name
    label: str = ""
    satisfied_by: list[Event] = Field(min_length=1)


class TierSpec(Strict):
    factor: float = Field(1.0, gt=0, le=1)
    minimum: Duration | None = None
    allowances: Table = {}

    @field_validator("minimum")
    @classmethod
    def _business_minimum(cls, value: Allowance | None) -> Allowance | None:
        if value is not None and value.business is None:
            raise ValueError(f"expected business time such as 30m or 1h, got {value.text!r} (working days)")
        return value


class PresetSpec(Strict):
    description: str = ""
    levels: dict[Priority, str] = {}
    stages: list[StageSpec] = Field(min_length=1)
    allowances: Table
    calendar: Name = "default"
    calendar_by_priority: dict[Priority, Name] = {"urgent": "always"}
    tiers: dict[Tier, TierSpec] = {}
    pause_statuses: list[Status] = ["waiting_customer"]
    warning_share: float = Field(0.8, gt=0, lt=1)

    def level(self, priority: str) -> str:
        """The allowance row of a priority: `levels` maps it, else the priority names its own row."""
        return self.levels.get(priority, priority)  # type: ignore[call-overload]

    @model_validator(mode="after")
    def _complete(self) -> PresetSpec:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stages: a stage name is used twice in {names}")
        for priority in PRIORITIES:
            level = self.level(priority)
            if level not in self.allowances:
                via = f"levels.{priority} is {level!r}, which" if priority in self.levels else \
                    f"priority {priority!r}"
                raise ValueError(f"{via} has no row under allowances (rows: {', '.join(self.allowances)})")
        _check_table(self.allowances, names, "allowances", complete=True)
        for tier, spec in self.tiers.items():
            _check_table(spec.allowances, names, f"tiers.{tier}.allowances", complete=False,
                         levels=list(self.allowances))
        return self


def _check_table(table: Table, stages: list[str], where: str, *, complete: bool,
                 levels: list[str] | None = None) -> None:
    for level, row in table.items():
        if levels is not None and level not in levels:
            raise ValueError(f"{where}.{level}: unknown level (levels: {', '.join(levels)})")
        for stage in row:
            if stage not in stages:
                raise ValueError(f"{where}.{level}.{stage}: unknown stage (stages: {', '.join(stages)})")
        missing = [s for s in stages if s not in row]
        if complete and missing:
            raise ValueError(f"{where}.{level}: stage {missing[0]!r} has no allowance")


class SlaPoliciesFile(Strict):
    """sla_policies.yaml: the presets and which one is used by default."""

    default_preset: str
    presets: dict[str, PresetSpec]
    overdue_reasons: list[OverdueReason] = Field(default_factory=lambda: list(DEFAULT_OVERDUE_REASONS), min_length=1)

    @field_validator("overdue_reasons")
    @classmethod
    def _reasons(cls, value: list[OverdueReason]) -> list[OverdueReason]:
        return check_overdue_reasons(value)

    @model_validator(mode="after")
    def _known_default(self) -> SlaPoliciesFile:
        for name in self.presets:
            if not _PRESET_RE.match(name):
                raise ValueError(f"presets: preset name {name!r}: expected letters, digits, _")
        if self.default_preset not in self.presets:
            raise ValueError(f"default_preset: no preset {self.default_preset!r} "
                             f"(presets: {', '.join(self.presets) or 'none'})")
        return self


# --- the policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """When one SLA stage of an item is due.

    `allowance` is the business time allowed on `calendar` (for working days the
    nominal `n × day_length`), so `calendar.between(start, due_at) == allowance` and the
    SLA monitor can warn at `warning_share` of it; None is reserved for a stage without
    a measurable allowance (no shipped rule produces it). `rule` names the policy row,
    e.g. `A/urgent/first_response` or `A/high/resolution/vip x0.5`.
    """

    stage: str
    due_at: datetime
    allowance: timedelta | None
    calendar: str
    rule: str


class SlaPolicy:
    """One preset of sla_policies.yaml, ready to compute deadlines."""

    def __init__(self, name: str, spec: PresetSpec) -> None:
        self.name = name
        self.spec = spec

    def __repr__(self) -> str:
        return f"SlaPolicy({self.name!r}, stages={self.stages})"

    @property
    def stages(self) -> list[str]:
        """Stage names in order (preset A: first_response, resolution)."""
        return [s.name for s in self.spec.stages]

    @property
    def satisfied_by(self) -> dict[str, list[str]]:
        """Stage → event types (`status_changed:<status>` for a status change) that meet it."""
        return {s.name: list(s.satisfied_by) for s in self.spec.stages}

    @property
    def pause_statuses(self) -> list[str]:
        """Statuses during which the SLA clock stops (pass those intervals to `between` as pauses)."""
        return list(self.spec.pause_statuses)

    @property
    def warning_share(self) -> float:
        """Share of an allowance after which a timeout warning (超时预警) is due, e.g. 0.8."""
        return self.spec.warning_share

    def level(self, priority: str) -> str:
        """The row of the allowance table a priority uses (preset B: urgent → 一级)."""
        _check_priority(priority)
        return self.spec.level(priority)

    def calendar_for(self, priority: str) -> str:
        """Name of the calendar the priority's deadlines are counted on."""
        _check_priority(priority)
        return self.spec.calendar_by_priority.get(priority, self.spec.calendar)  # type: ignore[call-overload]

    def calendar_names(self) -> set[str]:
        """Every calendar this policy needs, so a caller can load or check just those."""
        return {self.calendar_for(p) for p in PRIORITIES}

    def check_calendars(self, calendars: dict[str, BusinessCalendar]) -> None:
        """Fail with one line if the policy names a calendar calendars.yaml does not define."""
        for priority in PRIORITIES:
            name = self.calendar_for(priority)
            if name not in calendars:
                raise ConfigError(
                    f"{POLICIES_FILE}: presets.{self.name}: priority {priority!r} uses calendar {name!r}, "
                    f"which {_CALENDARS} does not define (calendars: {', '.join(sorted(calendars))})"
                )

    def deadlines(
        self,
        priority: str,
        customer_tier: str | None,
        start: datetime,
        calendars: dict[str, BusinessCalendar],
    ) -> list[Deadline]:
        """The deadline of every stage, in stage order, for an item received at `start`.

        Pass the item's received time (timezone-aware), never the clock, so a re-run
        gives the same deadlines. The earliest `due_at` is the item's next deadline.
        """
        _check_priority(priority)
        tier = _tier(customer_tier)
        cal_name = self.calendar_for(priority)
        if cal_name not in calendars:
            self.check_calendars(calendars)
        cal = calendars[cal_name]
        level = self.spec.level(priority)
        tier_spec = self.spec.tiers.get(tier)  # type: ignore[call-overload]
        out = []
        for stage in self.stages:
            rule = f"{self.name}/{level}/{stage}"
            own = tier_spec.allowances.get(level, {}).get(stage) if tier_spec else None
            if own is not None:
                due, allowance = _apply(cal, start, own)
                rule += f"/{tier} table"
            else:
                base = self.spec.allowances[level][stage]
                if tier_spec is None or tier_spec.factor == 1:
                    due, allowance = _apply(cal, start, base)
                else:
                    due, allowance, note = _scaled(cal, start, base, tier_spec)
                    rule += f"/{tier} x{tier_spec.factor:g}{note}"
            out.append(Deadline(stage=stage, due_at=due, allowance=allowance, calendar=cal_name, rule=rule))
        return out


_CALENDARS = "calendars.yaml"


def _check_priority(priority: str) -> None:
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r} (expected one of {', '.join(PRIORITIES)})")


def _tier(value: str | None) -> str:
    tier = _TIER_ALIASES.get((value or "").strip().lower())
    if tier is None:
        raise ValueError(f"unknown customer tier {value!r} (expected one of {', '.join(TIERS)})")
    return tier


def _apply(cal: BusinessCalendar, start: datetime, allowance: Allowance) -> tuple[datetime, timedelta]:
    if allowance.working_days is not None:
        return cal.add_working_days(start, allowance.working_days), allowance.working_days * cal.day_length
    assert allowance.business is not None
    return cal.add(start, allowance.business), allowance.business


def _scaled(cal: BusinessCalendar, start: datetime, base: Allowance,
            tier: TierSpec) -> tuple[datetime, timedelta, str]:
    """Apply a tier factor: never below the tier's minimum, never above the normal allowance."""
    full = base.business if base.business is not None else (base.working_days or 0) * cal.day_length
    wanted = full * tier.factor
    note = ""
    minimum = tier.minimum.business if tier.minimum is not None else None
    if minimum is not None and minimum > wanted:
        wanted = minimum
        note = f" min {tier.minimum.text}"
    wanted = min(wanted, full)
    day = cal.day_length
    if base.working_days is not None and wanted % day == timedelta(0):
        return cal.add_working_days(start, wanted // day), wanted, note
    return cal.add(start, wanted), wanted, note


# --- loading -----------------------------------------------------------------------------------


def load_policies(directory: Path | None = None) -> tuple[str, dict[str, SlaPolicy]]:
    """(default preset name, every preset of sla_policies.yaml); a bad file is a one-line ConfigError."""
    spec = load_file((directory or config_dir()) / POLICIES_FILE, SlaPoliciesFile)
    return spec.default_preset, {name: SlaPolicy(name, p) for name, p in spec.presets.items()}


def load_policy(
    preset: str | None = None,
    directory: Path | None = None,
    calendars: dict[str, BusinessCalendar] | None = None,
) -> SlaPolicy:
    """The named preset (default: the file's `default_preset`).

    Pass `calendars` to check at load time that every calendar the policy names
    exists, rather than at the first item of that priority.
    """
    default, policies = load_policies(directory)
    name = preset or default
    if name not in policies:
        raise ConfigError(f"{POLICIES_FILE}: presets: no preset {name!r} (presets: {', '.join(policies)})")
    policy = policies[name]
    if calendars is not None:
        policy.check_calendars(calendars)
    return policy


__all__ = [
    "Allowance", "Deadline", "PresetSpec", "SlaPoliciesFile", "SlaPolicy", "load_policies", "load_policy",
    "parse_allowance",
]
