"""callbacks.yaml: when a callback is due, who makes it, and what the customer's answer does.

The process manuals disagree (domain.md section 5): doc 001 calls back within 3
working days, doc 004 within 24 hours; doc 000 rates 满意/一般/不满意, doc 001
满意/基本满意/不满意, doc 003 scores 1–100 in bands. So the rules are data with the
documents' variants shipped as presets (`scales:`), one of them active (`scale:`).
A bad file stops with the file, the key path and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

from pydantic import Field, PlainSerializer, PlainValidator, field_validator, model_validator

from feedback.configfile import Name, Strict, load_file
from feedback.errors import ConfigError
from feedback.paths import config_dir
from feedback.sla.policy import Allowance, parse_allowance

if TYPE_CHECKING:
    from feedback.sla.calendar import BusinessCalendar

CALLBACKS_FILE = "callbacks.yaml"
OUTCOMES = ("satisfied", "neutral", "dissatisfied")
Outcome = Literal["satisfied", "neutral", "dissatisfied"]
Duration = Annotated[Allowance, PlainValidator(parse_allowance), PlainSerializer(lambda a: a.text, return_type=str)]
AgentId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")]


class InvalidAnswer(ValueError):
    """A rating or score that the active scale does not know (the message names the allowed ones)."""


# --- due times ---------------------------------------------------------------------------------


class DueRule(Strict):
    """`within` after the resolution: `3wd` working days or `24h` business time on `calendar`.

    Without `calendar`, the item's own calendar is used (its SLA policy's calendar for
    its priority); `calendar: always` makes `24h` plain elapsed time.
    """

    within: Duration
    calendar: Name | None = None


class DuePolicy(Strict):
    """The earliest applicable rule wins: default, and urgent / VIP where they apply."""

    default: DueRule = DueRule(within=parse_allowance("3wd"))
    urgent: DueRule | None = DueRule(within=parse_allowance("24h"), calendar="always")
    vip: DueRule | None = DueRule(within=parse_allowance("24h"), calendar="always")

    def calendars(self) -> set[str]:
        return {r.calendar for r in (self.default, self.urgent, self.vip) if r is not None and r.calendar}


# --- the team and the queue --------------------------------------------------------------------


class AgentSpec(Strict):
    id: AgentId
    name: str = Field(min_length=1, max_length=80)
    supervisor: bool = False
    active: bool = True


class TeamPolicy(Strict):
    """The callback team: agents listed here are kept in `callback_agent` (source `config`)."""

    name: Name = "callback"
    agents: list[AgentSpec] = []
    include_supervisors: bool = False   # whether supervisors get tasks assigned like agents

    @model_validator(mode="after")
    def _unique(self) -> TeamPolicy:
        seen: set[str] = set()
        for agent in self.agents:
            if agent.id in seen:
                raise ValueError(f"agents: id {agent.id!r} is listed twice")
            seen.add(agent.id)
        return self


class AssignmentPolicy(Strict):
    mode: Literal["round_robin", "least_loaded"] = "round_robin"


class QueuePolicy(Strict):
    claim_minutes: int = Field(30, ge=1, le=24 * 60)
    max_unreachable_attempts: int = Field(3, ge=1, le=20)
    retry_after_minutes: int = Field(120, ge=0, le=7 * 24 * 60)
    max_open_claims: int = Field(1, ge=1, le=50)
    share_overdue: bool = True   # an overdue task assigned to someone else may be claimed by anyone


class SurveyPolicy(Strict):
    enabled: bool = True
    expiry_days: int = Field(7, ge=1, le=90)
    reminder_after_days: int = Field(2, ge=1, le=60)
    max_reminders: int = Field(1, ge=0, le=1)
    base_url: str = "http://localhost:8080/feedback/survey"
    phone_grace_hours: int = Field(24, ge=0, le=24 * 14)   # phone calls wait this long for a survey answer
    message_id_domain: str = "feedback.local"

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or " " in value:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _reminder_before_expiry(self) -> SurveyPolicy:
        if self.max_reminders and self.reminder_after_days >= self.expiry_days:
            raise ValueError("reminder_after_days must be less than expiry_days (a reminder after expiry is useless)")
        return self


# --- scales --------------------------------------------------------------------------------------


class ChoiceSpec(Strict):
    label: str = Field(min_length=1, max_length=20)      # what the team says and stores: 满意
    en: str = Field(min_length=1, max_length=40)         # shown next to it on the survey page
    outcome: Outcome


class BandSpec(Strict):
    min: int = Field(ge=0, le=100)                       # lowest score of the band
    label: str = Field(min_length=1, max_length=20)
    en: str = Field(min_length=1, max_length=40)
    outcome: Outcome


class ScaleSpec(Strict):
    description: str = ""
    kind: Literal["choice", "score"]
    choices: list[ChoiceSpec] = []
    min: int = Field(1, ge=0, le=100)
    max: int = Field(100, ge=1, le=100)
    bands: list[BandSpec] = []

    @model_validator(mode="after")
    def _shape(self) -> ScaleSpec:
        if self.kind == "choice":
            if len(self.choices) < 2 or self.bands:
                raise ValueError("a choice scale lists at least two choices and no bands")
            labels = [c.label for c in self.choices] + [c.en.lower() for c in self.choices]
            if len(set(labels)) != len(labels):
                raise ValueError("choices: a label is used twice")
            return self
        if self.choices or not self.bands:
            raise ValueError("a score scale lists bands (and no choices)")
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        mins = [b.min for b in self.bands]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError("bands: list them from the highest `min` down, each `min` once")
        if mins[-1] != self.min or mins[0] > self.max:
            raise ValueError(f"bands: the lowest band must start at min ({self.min}) and every band "
                             f"within {self.min}-{self.max}, so every score falls in one band")
        return self


@dataclass(frozen=True)
class Judgement:
    """An answer read on a scale: the outcome it means, the label stored, the score if any."""

    outcome: str
    label: str
    score: int | None
    scale: str


class Scale:
    """The active satisfaction scale: reads a rating (label, English label or outcome) or a score."""

    def __init__(self, name: str, spec: ScaleSpec) -> None:
        self.name = name
        self.spec = spec

    @property
    def kind(self) -> str:
        return self.spec.kind

    def options(self) -> list[tuple[str, str, str]]:
        """(label, English label, outcome) of each choice or band, best first, for forms and help texts."""
        items = self.spec.choices if self.kind == "choice" else self.spec.bands
        return [(i.label, i.en, i.outcome) for i in items]

    def judge(self, rating: str | None = None, score: int | str | None = None) -> Judgement:
        """Read one answer; raises InvalidAnswer naming what the scale accepts."""
        if self.kind == "score":
            if score is None and rating is not None and str(rating).strip().isdigit():
                score = rating
            if score is None or str(score).strip() == "":
                raise InvalidAnswer(f"scale {self.name} needs a score from {self.spec.min} to {self.spec.max}")
            try:
                value = int(str(score).strip())
            except ValueError:
                raise InvalidAnswer(f"scale {self.name}: the score must be a whole number "
                                    f"from {self.spec.min} to {self.spec.max}") from None
            if not self.spec.min <= value <= self.spec.max:
                raise InvalidAnswer(f"scale {self.name}: score {value} is outside {self.spec.min}-{self.spec.max}")
            band = next(b for b in self.spec.bands if value >= b.min)
            return Judgement(band.outcome, band.label, value, self.name)
        if score is not None and str(score).strip() != "":
            raise InvalidAnswer(f"scale {self.name} takes a rating ({self._allowed()}), not a score")
        text = (rating or "").strip()
        for choice in self.spec.choices:
            if text in (choice.label, choice.outcome) or text.lower() == choice.en.lower():
                return Judgement(choice.outcome, choice.label, None, self.name)
        raise InvalidAnswer(f"scale {self.name}: unknown rating; expected one of {self._allowed()}")

    def _allowed(self) -> str:
        return " / ".join(c.label for c in self.spec.choices)


# --- outcomes ------------------------------------------------------------------------------------


class OutcomeRule(Strict):
    action: Literal["close", "reopen"]
    escalate: bool = False


class UnreachableRule(Strict):
    """After max_unreachable_attempts: keep the item resolved (default) or close it anyway."""

    action: Literal["keep", "close"] = "keep"


def _default_outcomes() -> dict[Outcome, OutcomeRule]:
    return {"satisfied": OutcomeRule(action="close"), "neutral": OutcomeRule(action="close"),
            "dissatisfied": OutcomeRule(action="reopen", escalate=True)}


class CallbacksFile(Strict):
    """callbacks.yaml."""

    version: Literal[1] = 1
    due: DuePolicy = Field(default_factory=DuePolicy)
    team: TeamPolicy = Field(default_factory=TeamPolicy)
    assignment: AssignmentPolicy = Field(default_factory=AssignmentPolicy)
    queue: QueuePolicy = Field(default_factory=QueuePolicy)
    survey: SurveyPolicy = Field(default_factory=SurveyPolicy)
    scale: str
    scales: dict[str, ScaleSpec]
    outcomes: dict[Outcome, OutcomeRule] = Field(default_factory=_default_outcomes)
    unreachable: UnreachableRule = Field(default_factory=UnreachableRule)

    @model_validator(mode="after")
    def _complete(self) -> CallbacksFile:
        if self.scale not in self.scales:
            raise ValueError(f"scale: no scale {self.scale!r} under scales (scales: {', '.join(self.scales)})")
        missing = [o for o in OUTCOMES if o not in self.outcomes]
        if missing:
            raise ValueError(f"outcomes: {missing[0]!r} has no rule (each of {', '.join(OUTCOMES)} needs one)")
        if self.outcomes["satisfied"].action != "close":
            raise ValueError("outcomes.satisfied: a satisfied customer closes the item (action: close)")
        return self


class CallbackPolicy:
    """callbacks.yaml, validated, with the active scale ready to read answers."""

    def __init__(self, spec: CallbacksFile, source: str = CALLBACKS_FILE) -> None:
        self.spec = spec
        self.source = source
        self.scale = Scale(spec.scale, spec.scales[spec.scale])

    @property
    def due(self) -> DuePolicy:
        return self.spec.due

    @property
    def team(self) -> TeamPolicy:
        return self.spec.team

    @property
    def assignment(self) -> AssignmentPolicy:
        return self.spec.assignment

    @property
    def queue(self) -> QueuePolicy:
        return self.spec.queue

    @property
    def survey(self) -> SurveyPolicy:
        return self.spec.survey

    @property
    def unreachable(self) -> UnreachableRule:
        return self.spec.unreachable

    def with_scale(self, name: str) -> CallbackPolicy:
        """The same policy with another preset scale active (tests, a team trying a scale)."""
        if name not in self.spec.scales:
            raise ValueError(f"no scale {name!r} (scales: {', '.join(self.spec.scales)})")
        return CallbackPolicy(self.spec.model_copy(update={"scale": name}), self.source)

    def replace(self, **sections: Strict) -> CallbackPolicy:
        """A copy with whole sections replaced (e.g. `assignment=AssignmentPolicy(mode="least_loaded")`).

        Sections are validated models already; the file-level checks are run again on the result.
        """
        spec = CallbacksFile.model_validate(self.spec.model_copy(update=sections).model_dump())
        return CallbackPolicy(spec, self.source)

    def rule_for(self, outcome: str) -> OutcomeRule:
        return self.spec.outcomes[cast(Outcome, outcome)]   # an unknown outcome raises KeyError as before


def load_policy(directory: Path | None = None) -> CallbackPolicy:
    """callbacks.yaml from the configuration folder; a bad file is a one-line ConfigError."""
    path = (directory or config_dir()) / CALLBACKS_FILE
    return CallbackPolicy(load_file(path, CallbacksFile), str(path.name))


def check_calendars(policy: CallbackPolicy, calendars: Mapping[str, BusinessCalendar]) -> None:
    """Fail with one line when a due rule names a calendar calendars.yaml does not define."""

    for name in sorted(policy.spec.due.calendars()):
        if name not in calendars:
            raise ConfigError(f"{CALLBACKS_FILE}: due: calendar {name!r} is not defined in calendars.yaml "
                              f"(calendars: {', '.join(sorted(calendars))})")


__all__ = [
    "AgentSpec", "AssignmentPolicy", "CallbackPolicy", "CallbacksFile", "DuePolicy", "DueRule", "InvalidAnswer",
    "Judgement", "OutcomeRule", "QueuePolicy", "Scale", "SurveyPolicy", "TeamPolicy", "check_calendars",
    "load_policy",
]
