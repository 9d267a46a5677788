"""`feedback config check`: load every configuration file of a folder, with the checks that span files.

Each area loads its own file when it runs; this is the one place that loads them
all, so a deployment (or `make check`) finds a bad file before a DAG does. It
imports every area, so only the CLI (and tests) import it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from feedback.callbacks.policy import check_calendars, load_policy
from feedback.channels.config import CHANNELS_FILE, load_channels
from feedback.notify.escalation import load_ladder
from feedback.paths import config_dir
from feedback.privacy.masking import load_mask_config
from feedback.settings import SETTINGS_FILE, load_settings
from feedback.sla.calendar import load_calendars
from feedback.sla.policy import load_policies
from feedback.triage.taxonomy import load_taxonomy


def _check_sla(directory: Path) -> None:
    calendars = load_calendars(directory)
    _, policies = load_policies(directory)
    for policy in policies.values():
        policy.check_calendars(calendars)


def _check_callbacks(directory: Path) -> None:
    check_calendars(load_policy(directory), load_calendars(directory))


# In the order they are checked and reported; each name is what the check reads.
CHECKERS: dict[str, Callable[[Path], object]] = {
    SETTINGS_FILE: load_settings,
    CHANNELS_FILE: load_channels,
    "privacy.yaml": lambda directory: load_mask_config(directory / "privacy.yaml"),
    "calendars.yaml + sla_policies.yaml": _check_sla,
    "taxonomy.yaml": lambda directory: load_taxonomy(directory / "taxonomy.yaml"),
    "escalation.yaml": lambda directory: load_ladder(directory / "escalation.yaml"),
    "callbacks.yaml": _check_callbacks,
}


def validate_all(directory: Path | None = None) -> list[str]:
    """Load every configuration file; returns the names checked. Raises on the first bad one."""
    folder = directory or config_dir()
    for check in CHECKERS.values():
        check(folder)
    return list(CHECKERS)
