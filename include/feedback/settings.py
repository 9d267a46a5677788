"""settings.yaml: the pipeline's general settings (business time zone, locale, intake, mail, reports, retention).

Read by the modules that need one setting each; `feedback.business_time` holds the
zone taken from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from feedback.configfile import Strict, known_zone, load_file
from feedback.paths import config_dir

SETTINGS_FILE = "settings.yaml"


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


def load_settings(directory: Path | None = None) -> Settings:
    """settings.yaml of `directory` (default: the configuration in use), validated; a mistake is a ConfigError."""
    return load_file((directory or config_dir()) / SETTINGS_FILE, Settings)
