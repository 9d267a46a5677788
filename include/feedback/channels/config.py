"""channels.yaml: the intake channels (mailboxes, web forms and their drops, form providers, REST platforms).

The models of every channel kind live here, next to the channels that read them; a
platform's REST spec (paging, mapping) is `feedback.channels.rest.spec.RestSpec`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from feedback.channels.rest.spec import RestSpec
from feedback.configfile import Name, Strict, load_file, require_unique
from feedback.paths import config_dir

CHANNELS_FILE = "channels.yaml"


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
        require_unique([f.name for f in self.forms], "forms")
        require_unique([d.name for d in self.drops], "drops")
        require_unique([p.name for p in self.providers], "providers")
        return self


class Channels(Strict):
    mailboxes: list[Mailbox] = []
    webforms: WebForms = Field(default_factory=WebForms)
    platforms: list[Platform] = []

    @model_validator(mode="after")
    def _unique(self) -> Channels:
        require_unique([m.name for m in self.mailboxes], "mailboxes")
        require_unique([p.name for p in self.platforms], "platforms")
        return self


def load_channels(directory: Path | None = None) -> Channels:
    """channels.yaml of `directory` (default: the configuration in use), validated; a mistake is a ConfigError."""
    return load_file((directory or config_dir()) / CHANNELS_FILE, Channels)
