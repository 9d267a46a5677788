"""The base of every configuration file: strict models and one-line errors with the key path.

Configuration is data that operations teams edit (channels, taxonomy, SLA
policies, calendars). A mistake there must stop the run with the file, the key
path inside it and what was expected, never half-apply or surface as a
traceback deep inside a task. Models forbid unknown keys, so a typo is an error
rather than a silently ignored setting.

Each area loads its own file with these helpers (settings.yaml in
`feedback.settings`, channels.yaml in `feedback.channels.config`, the SLA files
in `feedback.sla`, ...); `feedback.config_check` loads them all for
`feedback config check`. This module imports no other area, so any module can
use it (tests/unit/test_configfile.py holds it to that).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from feedback.errors import ConfigError
from feedback.paths import project_root

M = TypeVar("M", bound=BaseModel)
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class Strict(BaseModel):
    """Strict and frozen: a typo in the YAML is an error, and a loaded configuration never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def require_unique(names: list[str], what: str) -> None:
    """Validator helper: a list of named entries where a repeated name would make one entry shadow another."""
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


# --- loading -----------------------------------------------------------------------------------


def display_path(path: Path) -> str:
    """The path as messages show it: relative to the project when inside it, so errors read the same everywhere."""
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


def _expected(err: ErrorDetails) -> str:
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
        "literal_error": f"expected one of {(err.get('ctx') or {}).get('expected', '?')}, got {shown}",
        "string_pattern_mismatch": f"expected a lowercase name (letters, digits, _), got {shown}",
    }
    if kind in messages:
        return messages[kind]
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return f"{err['msg'].lower()}, got {shown}"
    return err["msg"].removeprefix("Value error, ")


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
    shown = display_path(path)
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
