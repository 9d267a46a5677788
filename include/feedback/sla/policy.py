"""SLA policies: the per-stage deadlines of an item from its priority and customer tier.

The process manuals disagree on stages and allowances (domain.md section 3), so the
rules are data (`include/config/sla_policies.yaml`) with the documents' variants as
presets: A (doc 000: first response / resolution per priority) and B (doc 003: four
stages for 一级/二级/三级). This module holds the policy's model and loading; the
deadlines it gives an item are computed in `feedback.sla.deadlines`. The SLA
monitor uses `satisfied_by`, `pause_statuses` and `warning_share` of the same policy.

Duration units (documented in the YAML too): `m` / `h` are business time on the
stage's calendar, `wd` working days (`BusinessCalendar.add_working_days`). A
customer tier may shorten allowances by a factor (never below its `minimum`, never
above the normal allowance) or bring its own table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, cast

from pydantic import AfterValidator, Field, PlainValidator, field_validator, model_validator

from feedback import vocabulary
from feedback.configfile import Name, Strict, load_file, require_unique
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
        return self.levels.get(cast(Priority, priority), priority)   # any other text just misses

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


# --- overdue reasons (`overdue_reasons`) -------------------------------------------------------

# The reason under which free text and codes no longer listed are counted.
OTHER_REASON = "other"


class OverdueReason(Strict):
    """Why an item went overdue (超时原因): the code events carry, the names people read in both languages."""

    code: Name
    zh: str = Field(min_length=1, max_length=40)
    en: str = Field(min_length=1, max_length=60)


# Used when sla_policies.yaml lists none, so a register or a test config without the key still works.
DEFAULT_OVERDUE_REASONS: tuple[OverdueReason, ...] = (
    OverdueReason(code="spare_parts", zh="备件短缺", en="Spare parts shortage"),
    OverdueReason(code="waiting_customer", zh="等待客户", en="Waiting for the customer"),
    OverdueReason(code="cross_department", zh="跨部门协作", en="Cross-department coordination"),
    OverdueReason(code="system_failure", zh="系统故障", en="System failure"),
    OverdueReason(code=OTHER_REASON, zh="其他", en="Other"),
)


def check_overdue_reasons(reasons: list[OverdueReason]) -> list[OverdueReason]:
    """Codes and names unique, and `other` present: free text and codes no longer listed are counted under it."""
    require_unique([r.code for r in reasons], "overdue_reasons")
    for lang in ("zh", "en"):
        names = [getattr(r, lang) for r in reasons]
        if len(set(names)) != len(names):
            raise ValueError(f"overdue_reasons: two reasons share the {lang} name "
                             f"{next(n for n in names if names.count(n) > 1)!r}")
    if OTHER_REASON not in {r.code for r in reasons}:
        raise ValueError(f"overdue_reasons: code {OTHER_REASON!r} is missing (free text and unknown codes "
                         "are counted under it)")
    return reasons


# --- the file ----------------------------------------------------------------------------------


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


class SlaPolicy:
    """One preset of sla_policies.yaml; `sla.deadlines.stage_deadlines` computes an item's deadlines from it."""

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
        return self.spec.calendar_by_priority.get(cast(Priority, priority), self.spec.calendar)   # checked above

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


_CALENDARS = "calendars.yaml"


def _check_priority(priority: str) -> None:
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r} (expected one of {', '.join(PRIORITIES)})")


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


def overdue_reasons(directory: Path | None = None) -> tuple[OverdueReason, ...]:
    """The configured reasons in their configured order (sla_policies.yaml, else the defaults)."""
    spec = load_file((directory or config_dir()) / POLICIES_FILE, SlaPoliciesFile)
    return tuple(spec.overdue_reasons)


__all__ = [
    "DEFAULT_OVERDUE_REASONS", "OTHER_REASON", "Allowance", "OverdueReason", "PresetSpec", "SlaPoliciesFile",
    "SlaPolicy", "load_policies", "load_policy", "overdue_reasons", "parse_allowance",
]
