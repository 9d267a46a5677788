"""The escalation ladder: who is told about an SLA warning or breach (超时预警 / 超时升级).

The manuals say supervisors step in on timeout warnings, and urgent or long-overdue
items go up to the customer-service director and the VP in charge (domain.md §3–4).
Who those people are changes with the organisation, not with the code, so the ladder
is data: `include/config/escalation.yaml`, validated at load with one-line errors
naming the file and the key path.

Routing (`Ladder.recipients_for`):
- a **warning** goes to the item's handler group (`groups:`; an unknown or empty group
  falls back to `groups.default`);
- a **breach** goes to the department's supervisor (`supervisors:`, same fallback);
- an **urgent** item's breach also goes at once to the roles in `urgent_breach`
  (default: the director);
- a breach at `escalation_level` N (raised by the SLA monitor after `levels[N-1].after`
  since the breach was detected) also goes to every role added by levels 1..N.
A recipient reached by several rules is listed once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PlainValidator, field_validator, model_validator

from feedback.business_time import business_zone
from feedback.configfile import Strict, display_path, known_zone, load_file
from feedback.errors import ConfigError
from feedback.notify.digest import DEFAULT_CONSOLE_URL  # digests link to <console_url>/overdue
from feedback.paths import config_dir

if TYPE_CHECKING:
    from feedback.notify.digest import AlertEntry

ESCALATION_FILE = "escalation.yaml"
BUILTIN_ROLES = ("director", "vp")
Locale = Literal["zh-CN", "en"]
WebhookFormat = Literal["wecom", "dingtalk", "slack", "generic"]

_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_URL_RE = re.compile(r"^https?://[^/\s]+\S*$")
_ELAPSED_RE = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?$")


def parse_elapsed(value: object) -> timedelta:
    """`"4h"`, `"30m"`, `"1h30m"`, `"2d"` → a plain elapsed duration.

    Escalation waits are wall-clock time since the breach was detected (a director
    wants to hear about a 4-hour-old urgent breach on a Sunday too), unlike SLA
    allowances, which are business time. A unit is required so `4` is never guessed.
    """
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration with a unit such as 30m, 4h, 1h30m or 2d, got {value!r}")
    text = value.strip().lower().replace(" ", "")
    match = _ELAPSED_RE.match(text)
    if not text or not match:
        raise ValueError(f"expected a duration such as 30m, 4h, 1h30m or 2d, got {value!r}")
    span = timedelta(days=int(match["d"] or 0), hours=int(match["h"] or 0), minutes=int(match["m"] or 0))
    if not span:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return span


Elapsed = Annotated[timedelta, PlainValidator(parse_elapsed)]


# --- the file's models -----------------------------------------------------------------------


class WebhookSpec(Strict):
    url: str
    format: WebhookFormat = "generic"

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not _URL_RE.match(value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value


class RecipientSpec(Strict):
    """One person, list or chat robot: exactly one of `email` and `webhook`."""

    email: str | None = None
    webhook: WebhookSpec | None = None
    locale: Locale = "zh-CN"
    name: str | None = None
    enabled: bool = True

    @field_validator("email")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL_RE.match(value):
            raise ValueError(f"expected an e-mail address such as ops@example.com, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_channel(self) -> RecipientSpec:
        if (self.email is None) == (self.webhook is None):
            raise ValueError("give exactly one of email: <address> or webhook: {url: ..., format: ...}")
        return self


Recipients = list[RecipientSpec]


def _check_codes(value: dict[str, Recipients], what: str) -> dict[str, Recipients]:
    for code in value:
        if not _CODE_RE.match(str(code)):
            raise ValueError(f"{what} code {code!r}: expected lowercase letters, digits, - or _")
    if "default" not in value:
        raise ValueError(f"needs a 'default' entry (who hears about items whose {what} is not listed)")
    if not any(r.enabled for r in value["default"]):
        raise ValueError("default: needs at least one enabled recipient")
    return value


class LevelSpec(Strict):
    after: Elapsed
    add: list[str] = Field(min_length=1)


class EscalationFile(Strict):
    version: Literal[1] = 1
    timezone: str | None = None      # older files named the zone here; settings.yaml `timezone` is the one source
    message_id_domain: str = "feedback.local"
    console_url: str = DEFAULT_CONSOLE_URL
    groups: dict[str, Recipients]
    supervisors: dict[str, Recipients]
    director: Recipients = []
    vp: Recipients = []
    roles: dict[str, Recipients] = {}
    urgent_breach: list[str] = ["director"]
    levels: list[LevelSpec] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else known_zone(value)

    @field_validator("message_id_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", value):
            raise ValueError(f"expected a domain name such as feedback.example.com, got {value!r}")
        return value

    @field_validator("console_url")
    @classmethod
    def _console_url(cls, value: str) -> str:
        if not _URL_RE.match(value):
            raise ValueError(f"expected the console's http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: dict[str, Recipients]) -> dict[str, Recipients]:
        return _check_codes(value, "handler group")

    @field_validator("supervisors")
    @classmethod
    def _supervisors(cls, value: dict[str, Recipients]) -> dict[str, Recipients]:
        return _check_codes(value, "department")

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, Recipients]) -> dict[str, Recipients]:
        for name in value:
            if not _CODE_RE.match(str(name)) or name in BUILTIN_ROLES:
                raise ValueError(f"role name {name!r}: expected a lowercase name other than director and vp "
                                 "(those have their own keys)")
        return value


# --- the ladder as code uses it ----------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """Where one digest goes. `address` is an e-mail address or, for webhooks, the URL."""

    channel: Literal["email", "webhook"]
    address: str
    locale: str = "zh-CN"
    format: str | None = None  # webhook payload format: wecom | dingtalk | slack | generic
    name: str | None = None

    @property
    def key(self) -> str:
        """A stable short name for dedup keys: the address for mail, a hash for a webhook URL.

        Webhook URLs often carry the robot's secret key, so they are hashed rather
        than copied into keys and logs.
        """
        if self.channel == "email":
            return self.address.lower()
        return "webhook-" + hashlib.sha256(self.address.encode("utf-8")).hexdigest()[:12]

    def __str__(self) -> str:  # for logs: never the webhook URL
        return self.key


@dataclass(frozen=True)
class Level:
    number: int
    after: timedelta
    add: tuple[str, ...]


def _recipients(specs: Iterable[RecipientSpec]) -> tuple[Recipient, ...]:
    out = []
    for spec in specs:
        if not spec.enabled:
            continue
        if spec.email is not None:
            out.append(Recipient("email", spec.email, spec.locale, None, spec.name))
        else:
            assert spec.webhook is not None
            out.append(Recipient("webhook", spec.webhook.url, spec.locale, spec.webhook.format, spec.name))
    return tuple(out)


def _unique(recipients: Iterable[Recipient]) -> list[Recipient]:
    seen: set[str] = set()
    out = []
    for recipient in recipients:
        if recipient.key not in seen:
            seen.add(recipient.key)
            out.append(recipient)
    return out


@dataclass(frozen=True)
class Ladder:
    """The validated escalation ladder; `recipients_for(entry)` is the routing rule."""

    source: str
    timezone: ZoneInfo
    message_id_domain: str
    groups: Mapping[str, tuple[Recipient, ...]]
    supervisors: Mapping[str, tuple[Recipient, ...]]
    roles: Mapping[str, tuple[Recipient, ...]]
    urgent_breach: tuple[str, ...] = ()
    levels: tuple[Level, ...] = field(default_factory=tuple)
    console_url: str = DEFAULT_CONSOLE_URL    # digests link to <console_url>/overdue

    @property
    def escalation_after(self) -> tuple[timedelta, ...]:
        """Wait before each escalation level (index 0 → level 1), for the SLA monitor."""
        return tuple(level.after for level in self.levels)

    def _first_adding(self, role: str) -> timedelta | None:
        return next((level.after for level in self.levels if role in level.add), None)

    @property
    def director_after(self) -> timedelta | None:
        """How long after detection a (non-urgent) breach reaches the director; None if it never does."""
        return self._first_adding("director")

    @property
    def vp_after(self) -> timedelta | None:
        """How long after detection a breach reaches the VP; None if it never does."""
        return self._first_adding("vp")

    @property
    def max_level(self) -> int:
        """The highest level with its own recipients; a higher level gets the same people."""
        return len(self.levels)

    def level_for(self, age: timedelta) -> int:
        """The escalation level a breach detected `age` ago should have (0 = first notice)."""
        return sum(1 for level in self.levels if age >= level.after)

    def group(self, code: str | None) -> tuple[Recipient, ...]:
        """A handler group's recipients; unknown, missing or all-disabled groups fall back to default."""
        return self.groups.get(code or "") or self.groups["default"]

    def supervisor(self, department: str | None) -> tuple[Recipient, ...]:
        """A department's supervisors, with the same fallback as `group`."""
        return self.supervisors.get(department or "") or self.supervisors["default"]

    def roles_for(self, entry: AlertEntry) -> list[str]:
        """Who is told, by rule: `group:<code>`, `supervisor:<dept>`, then role names (for docs and tests)."""
        if entry.kind == "warning":
            return [f"group:{entry.handler_group or 'default'}"]
        if entry.kind != "breach":
            raise ValueError(f"unknown alert kind {entry.kind!r}: expected warning or breach")
        names = [f"supervisor:{entry.department or 'default'}"]
        if entry.priority == "urgent":
            names += self.urgent_breach
        for level in self.levels[: max(0, entry.escalation_level)]:
            names += level.add
        return list(dict.fromkeys(names))

    def recipients_for(self, entry: AlertEntry) -> list[Recipient]:
        """Everyone who should read about `entry`, each once (see the module docstring for the rules)."""
        out: list[Recipient] = []
        for name in self.roles_for(entry):
            if name.startswith("group:"):
                out += self.group(entry.handler_group)
            elif name.startswith("supervisor:"):
                out += self.supervisor(entry.department)
            else:
                out += self.roles[name]
        return _unique(out)

    def all_recipients(self) -> list[Recipient]:
        """Every enabled recipient of the ladder, once each."""
        out: list[Recipient] = []
        for table in (self.groups, self.supervisors, self.roles):
            for recipients in table.values():
                out += recipients
        return _unique(out)


def _business_zone(spec: EscalationFile, shown: str) -> ZoneInfo:
    """Digests show times in the business zone; a `timezone:` left in this file must agree with settings.yaml."""
    zone = business_zone()
    if spec.timezone is not None and spec.timezone != zone.key:
        raise ConfigError(f"{shown}: timezone: {spec.timezone!r} differs from settings.yaml timezone {zone.key!r} "
                          "(the business time zone is set in settings.yaml only; remove it here)")
    return zone


def _build(spec: EscalationFile, shown: str) -> Ladder:
    roles: dict[str, tuple[Recipient, ...]] = {
        "director": _recipients(spec.director),
        "vp": _recipients(spec.vp),
        **{name: _recipients(specs) for name, specs in spec.roles.items()},
    }

    def check_role(name: str, where: str) -> None:
        if name not in roles:
            known = ", ".join(roles)
            raise ConfigError(f"{shown}: {where}: unknown role {name!r} (known: {known}; add it under roles:)")
        if not roles[name]:
            key = name if name in BUILTIN_ROLES else f"roles.{name}"
            raise ConfigError(f"{shown}: {where}: role {name!r} has no enabled recipient "
                              f"(add one under {key}: or remove it here)")

    for i, name in enumerate(spec.urgent_breach):
        check_role(name, f"urgent_breach[{i}]")
    levels = []
    previous: timedelta | None = None
    for i, level in enumerate(spec.levels):
        for j, name in enumerate(level.add):
            check_role(name, f"levels[{i}].add[{j}]")
        if previous is not None and level.after <= previous:
            raise ConfigError(f"{shown}: levels[{i}].after: must be longer than levels[{i - 1}].after "
                              f"(levels go up with time)")
        previous = level.after
        levels.append(Level(i + 1, level.after, tuple(level.add)))
    return Ladder(
        source=shown,
        timezone=_business_zone(spec, shown),
        message_id_domain=spec.message_id_domain,
        groups={code: _recipients(specs) for code, specs in spec.groups.items()},
        supervisors={code: _recipients(specs) for code, specs in spec.supervisors.items()},
        roles=roles,
        urgent_breach=tuple(spec.urgent_breach),
        levels=tuple(levels),
        console_url=spec.console_url,
    )


def load_ladder(path: Path | None = None) -> Ladder:
    """Read and validate the escalation ladder (default `include/config/escalation.yaml`).

    Every mistake is one ConfigError line with the file and key path, so a typo in an
    address stops the monitor with a fix-it message instead of silently alerting nobody.
    """
    path = path or config_dir() / ESCALATION_FILE
    spec = load_file(path, EscalationFile)
    return _build(spec, display_path(path))
