"""Typed loading of `include/config/*.yaml`.

Configuration is data that operations teams edit (channels, taxonomy, SLA
policies, calendars). A mistake there must stop the run with the file, the key
path inside it and what was expected, never half-apply or surface as a
traceback deep inside a task. Models forbid unknown keys, so a typo is an error
rather than a silently ignored setting.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from feedback.channels.rest.spec import RestSpec
from feedback.errors import ConfigError
from feedback.paths import config_dir, project_root

M = TypeVar("M", bound=BaseModel)
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _require_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what}: name {name!r} is used twice")
        seen.add(name)


def known_zone(value: str) -> str:
    """Validator for time-zone settings: an IANA name, or a message saying what is expected."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
    return value


# --- settings.yaml -----------------------------------------------------------------------------


class IntakeSettings(Strict):
    batch_size: int = Field(500, ge=1, le=100_000)
    max_payload_bytes: int = Field(1_000_000, ge=1024)


class MailSettings(Strict):
    """Limits of the e-mail intake: how much one run takes on, and what is too big to store."""

    max_message_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_attachment_bytes: int = Field(10 * 1024 * 1024, ge=0)
    attachments_dir: str = "attachments"
    max_messages_per_run: int = Field(10_000, ge=1)
    max_run_seconds: int = Field(240, ge=10)
    ack_per_sender_per_hour: int = Field(3, ge=0)
    message_id_domain: str = "feedback.local"


class ReportSettings(Strict):
    """Where report files go, who gets them, and the thresholds the monthly report flags."""

    archive: str = "archive"
    recipients: list[str] = ["management@example.com"]
    locale: Literal["zh-CN", "en"] | None = None
    attach_max_bytes: int = Field(10 * 1024 * 1024, ge=0)
    high_frequency_share: float = Field(0.10, gt=0, le=1)
    repeat_window_days: int = Field(30, ge=1)
    list_rows: int = Field(1000, ge=10, le=1_000_000)

    def archive_url(self, base: Path) -> str:
        """The archive as an fsspec URL: a URL as given (s3://…, gs://…), a relative folder under `base`."""
        if "://" in self.archive:
            return self.archive
        path = Path(self.archive)
        return str(path if path.is_absolute() else base / path)


class RetentionSettings(Strict):
    """How long personal data is kept (feedback_retention)."""

    raw_payload_days: int = Field(90, ge=1)
    contact_days_after_close: int = Field(365, ge=1)
    archive_closed_after_months: int = Field(12, ge=1)


class Settings(Strict):
    timezone: str = "Asia/Shanghai"
    locale: Literal["zh-CN", "en"] = "zh-CN"
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)


# --- overdue reasons (sla_policies.yaml, `overdue_reasons`) -------------------------------------

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
    _require_unique([r.code for r in reasons], "overdue_reasons")
    for lang in ("zh", "en"):
        names = [getattr(r, lang) for r in reasons]
        if len(set(names)) != len(names):
            raise ValueError(f"overdue_reasons: two reasons share the {lang} name "
                             f"{next(n for n in names if names.count(n) > 1)!r}")
    if OTHER_REASON not in {r.code for r in reasons}:
        raise ValueError(f"overdue_reasons: code {OTHER_REASON!r} is missing (free text and unknown codes "
                         "are counted under it)")
    return reasons


def overdue_reasons(directory: Path | None = None) -> tuple[OverdueReason, ...]:
    """The configured reasons in their configured order (sla_policies.yaml, else the defaults)."""
    from feedback.sla.policy import POLICIES_FILE, SlaPoliciesFile

    spec = load_file((directory or config_dir()) / POLICIES_FILE, SlaPoliciesFile)
    return tuple(spec.overdue_reasons)


# --- channels.yaml -----------------------------------------------------------------------------


class Mailbox(Strict):
    """A support mailbox: read over IMAP (connection feedback_imap_<name>) or from a drop folder."""

    name: Name
    connection: str | None = None
    folders: list[str] = ["INBOX"]
    sent_folder: str | None = None
    addresses: list[str] = []
    drop_path: str | None = None
    after_commit: Literal["keep", "delete", "move"] = "keep"
    move_to: str | None = None
    acknowledge: bool = True
    enabled: bool = True

    @model_validator(mode="after")
    def _move_target(self) -> Mailbox:
        if self.after_commit == "move" and not self.move_to:
            raise ValueError("after_commit: move needs move_to (the folder to move ingested mail into)")
        if self.sent_folder and self.sent_folder in self.folders:
            raise ValueError(f"sent_folder {self.sent_folder!r} is also listed in folders")
        return self

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.match(r"^[^@\s]+@[^@\s]+$", address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return [a.lower() for a in value]

    @property
    def connection_id(self) -> str:
        return self.connection or f"feedback_imap_{self.name}"

    def resolved_drop(self, base: Path) -> Path | None:
        if not self.drop_path:
            return None
        path = Path(self.drop_path)
        return path if path.is_absolute() else base / path


class PlatformIdentity(Strict):
    """Which platform and where: the part of a platform entry that is not the REST spec."""

    name: Name
    base_url: str
    enabled: bool = True
    connection: str | None = None
    # A receipt mail with the case number to a customer who left an e-mail address (notify.acknowledge);
    # false for a platform that confirms to its users itself.
    acknowledge: bool = True
    # "package.module:ClassName" of a feedback.channels.rest.source.RestSource subclass, for unusual APIs.
    python_class: str | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("python_class")
    @classmethod
    def _class_ref(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", value):
            raise ValueError(f"expected 'package.module:ClassName', got {value!r}")
        return value


class Platform(RestSpec, PlatformIdentity):
    """A REST source (platform, form provider) declared in channels.yaml; the engine is channels.rest.source.

    Bases in this order so a platform's own keys (name, base_url, …) come first in errors.
    """

    @property
    def connection_id(self) -> str:
        return self.connection or f"feedback_platform_{self.name}"


class FormField(Strict):
    """One field of a web form as the intake endpoint checks it (and the embeddable form mirrors)."""

    type: Literal["text", "email", "phone", "choice", "date"] = "text"
    max_length: int = Field(2000, ge=1, le=100_000)
    choices: list[str] = []
    required: bool = False

    @model_validator(mode="after")
    def _choices(self) -> FormField:
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice field needs choices (the values a customer may pick)")
        if self.type != "choice" and self.choices:
            raise ValueError(f"choices are only for type choice, not {self.type}")
        return self


# Values are the taxonomy's class names, which triage takes as category hints in any language.
FEEDBACK_CATEGORIES = ["function_problem", "service_complaint", "feature_request", "other", "praise"]
# Field names the endpoint handles itself: never part of a form's schema.
RESERVED_FORM_FIELDS = frozenset({"website", "locale", "attachments"})


def default_form_fields() -> dict[str, FormField]:
    """The contact form every company site starts from; the payload triage expects uses these names."""
    return {
        "name": FormField(),
        "phone": FormField(type="phone"),
        "email": FormField(type="email"),
        "subject": FormField(),
        "message": FormField(max_length=10_000, required=True),
        "category": FormField(type="choice", choices=list(FEEDBACK_CATEGORIES)),
        "order_no": FormField(),
        "expected_resolution": FormField(type="date"),
    }


class WebForm(Strict):
    """A company website's feedback form, posted to the intake endpoint (POST /feedback/intake/<name>)."""

    name: Name
    locale: Literal["zh-CN", "en"] = "zh-CN"
    required_fields: list[str] = ["message"]
    max_bytes: int = Field(65_536, ge=256)
    fields: dict[str, FormField] = Field(default_factory=default_form_fields)
    verify: Literal["none", "token", "hmac"] = "none"
    secret_connection: str | None = None
    max_attachments: int = Field(3, ge=0, le=20)
    max_attachment_bytes: int = Field(5 * 1024 * 1024, ge=0)
    allowed_origins: list[str] = []
    rate_limit_per_minute: int = Field(20, ge=1)
    # A receipt mail with the case number when the customer gave an e-mail address (notify.acknowledge).
    acknowledge: bool = True

    @model_validator(mode="after")
    def _schema(self) -> WebForm:
        for field_name in self.fields:
            if not re.match(r"^[a-z][a-z0-9_]{0,62}$", field_name):
                raise ValueError(f"field name {field_name!r}: expected a lowercase name (letters, digits, _)")
            if field_name in RESERVED_FORM_FIELDS:
                raise ValueError(f"field name {field_name!r} is reserved by the intake endpoint")
        missing = [n for n in self.required_fields if n not in self.fields]
        if missing:
            raise ValueError(f"required_fields {missing} are not among the form's fields")
        return self

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.match(r"^https?://[^/\s*]+$", origin.rstrip("/")):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path, no wildcard)")
        return [o.rstrip("/").lower() for o in value]

    @property
    def secret_connection_id(self) -> str:
        """The Airflow connection whose password is the token / HMAC secret."""
        return self.secret_connection or f"feedback_webform_{self.name}"

    @property
    def required_names(self) -> frozenset[str]:
        return frozenset(n for n, f in self.fields.items() if f.required) | frozenset(self.required_fields)

    def max_request_bytes(self, multipart: bool) -> int:
        """Largest body accepted: the fields' budget, plus the attachments' for multipart posts."""
        return self.max_bytes + (self.max_attachments * self.max_attachment_bytes if multipart else 0)


class WebFormDrop(Strict):
    """A folder where submissions land as JSON files (exports, the demo's delivery)."""

    name: Name
    path: str

    def resolved(self, base: Path) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else base / path


class WebForms(Strict):
    forms: list[WebForm] = []
    drops: list[WebFormDrop] = []
    # Form providers' response APIs (Typeform, …), pulled like platforms: same declarative spec.
    providers: list[Platform] = []

    @model_validator(mode="after")
    def _unique(self) -> WebForms:
        _require_unique([f.name for f in self.forms], "forms")
        _require_unique([d.name for d in self.drops], "drops")
        _require_unique([p.name for p in self.providers], "providers")
        return self


class Channels(Strict):
    mailboxes: list[Mailbox] = []
    webforms: WebForms = Field(default_factory=WebForms)
    platforms: list[Platform] = []

    @model_validator(mode="after")
    def _unique(self) -> Channels:
        _require_unique([m.name for m in self.mailboxes], "mailboxes")
        _require_unique([p.name for p in self.platforms], "platforms")
        return self


# --- loading -----------------------------------------------------------------------------------

FILES: dict[str, type[BaseModel]] = {
    "settings.yaml": Settings,
    "channels.yaml": Channels,
}


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(project_root().resolve()))
    except ValueError:
        return str(path)


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _expected(err: dict[str, Any]) -> str:
    kind = err["type"]
    given = err.get("input")
    shown = repr(given) if isinstance(given, str | int | float | bool) or given is None else type(given).__name__
    messages = {
        "missing": "a value is required",
        "extra_forbidden": "unknown key (check the spelling; allowed keys are in the docs)",
        "int_parsing": f"expected a whole number, got {shown}",
        "int_type": f"expected a whole number, got {shown}",
        "bool_parsing": f"expected true or false, got {shown}",
        "string_type": f"expected text, got {shown}",
        "list_type": f"expected a list, got {shown}",
        "dict_type": f"expected a mapping, got {shown}",
        "model_type": f"expected a mapping, got {shown}",
        "literal_error": f"expected one of {err.get('ctx', {}).get('expected', '?')}, got {shown}",
        "string_pattern_mismatch": f"expected a lowercase name (letters, digits, _), got {shown}",
    }
    if kind in messages:
        return messages[kind]
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return f"{err['msg'].lower()}, got {shown}"
    msg = err["msg"]
    return msg.removeprefix("Value error, ")


def parse_model(data: Any, model: type[M], source: str) -> M:
    """Validate already-loaded data, raising ConfigError naming `source` and the key path."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{source}: {_key_path(first['loc'])}: {_expected(first)}{suffix}") from None


def load_file(path: Path, model: type[M]) -> M:
    """Read and validate one YAML file; every failure is a one-line ConfigError."""
    shown = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: file not found (set FEEDBACK_CONFIG_DIR or restore the file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{shown}{where}: invalid YAML: {problem}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{shown}: (top level): expected a mapping of keys, got {type(data).__name__}")
    return parse_model(data, model, shown)


def load(name: str, directory: Path | None = None) -> BaseModel:
    """Load a known config file by name, e.g. `load("channels.yaml")`."""
    if name not in FILES:
        raise ConfigError(f"unknown configuration file {name!r}; known: {', '.join(sorted(FILES))}")
    return load_file((directory or config_dir()) / name, FILES[name])


def settings(directory: Path | None = None) -> Settings:
    return load("settings.yaml", directory)  # type: ignore[return-value]


def channels(directory: Path | None = None) -> Channels:
    return load("channels.yaml", directory)  # type: ignore[return-value]


def _check_privacy(directory: Path) -> None:
    from feedback.privacy.masking import load_mask_config

    load_mask_config(directory / "privacy.yaml")


def _check_sla(directory: Path) -> None:
    from feedback.sla.calendar import load_calendars
    from feedback.sla.policy import load_policies

    calendars = load_calendars(directory)
    _, policies = load_policies(directory)
    for policy in policies.values():
        policy.check_calendars(calendars)


def _check_taxonomy(directory: Path) -> None:
    from feedback.triage.taxonomy import load_taxonomy

    load_taxonomy(directory / "taxonomy.yaml")


def _check_escalation(directory: Path) -> None:
    from feedback.notify.escalation import load_ladder

    load_ladder(directory / "escalation.yaml")


def _check_callbacks(directory: Path) -> None:
    from feedback.callbacks.policy import check_calendars, load_policy
    from feedback.sla.calendar import load_calendars

    check_calendars(load_policy(directory), load_calendars(directory))


# Files whose models live with the code that uses them; checked through their own loaders.
CHECKERS = {
    "privacy.yaml": _check_privacy,
    "calendars.yaml + sla_policies.yaml": _check_sla,
    "taxonomy.yaml": _check_taxonomy,
    "escalation.yaml": _check_escalation,
    "callbacks.yaml": _check_callbacks,
}


def validate_all(directory: Path | None = None) -> list[str]:
    """Load every configuration file; returns the names checked. Raises on the first bad one."""
    folder = directory or config_dir()
    for name in FILES:
        load(name, folder)
    for check in CHECKERS.values():
        check(folder)
    return [*FILES, *CHECKERS]
