"""The leak gate: a Great Expectations checkpoint that no stored text holds a contact.

Masking is the first line; this is the second, independent one. After each
triage batch (before it commits) every text column of the batch's `feedback`
and `feedback_event` rows is checked for phone numbers, e-mail addresses and
ID card numbers. A hit fails the batch, so a masking bug stops the pipeline
instead of spreading personal data into the register, reports and alerts.
The failure says which table, column and kind, and how many rows — never the
value itself.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from feedback.errors import FeedbackError

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

# Patterns on purpose independent of feedback.privacy.masking (a second opinion).
MOBILE = r"(?<![0-9A-Za-z０-９*])(?:(?:\+|00)?86[-\s]?)?[1１][3-9３-９](?:[-\s]?\d){9}(?![0-9０-９])"
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
PATTERNS = {"phone": MOBILE, "email": EMAIL}
_ID_CANDIDATE = re.compile(r"(?<![0-9])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class LeakDetected(FeedbackError):
    """Personal data was about to be stored outside the vault."""


def id_cards_in(text: Any) -> str | None:
    """Checksum-valid 18-digit ID numbers in a value (joined), or None; GX expects None."""
    if not isinstance(text, str):
        return None
    found = [
        m.group()
        for m in _ID_CANDIDATE.finditer(text)
        if _ID_CHECK[sum(int(c) * w for c, w in zip(m.group()[:17], _ID_WEIGHTS, strict=True)) % 11]
        == m.group()[17].upper()
    ]
    return ",".join(found) if found else None


@dataclass(frozen=True)
class Violation:
    table: str
    column: str
    kind: str
    rows: int

    def __str__(self) -> str:
        return f"{self.table}.{self.column}: {self.rows} row(s) with {self.kind}"


# Joins a row's text columns into the one column the checkpoint reads. No pattern can match
# across it: phone digits allow a single separator character, addresses and IDs none.
JOIN = " ¦ "
ALL_TEXT = "all_text_columns"


def _frame(rows: list[dict[str, Any]]):
    import pandas as pd

    frame = pd.DataFrame(rows)
    text_columns = []
    for column in list(frame.columns):
        values = frame[column]
        if values.map(lambda v: isinstance(v, str | list | dict)).any():
            frame[column] = values.map(lambda v: None if v is None else str(v))
            text_columns.append(column)
    texts = frame[text_columns].fillna("") if text_columns else pd.DataFrame(index=frame.index)
    frame[ALL_TEXT] = texts.agg(JOIN.join, axis=1) if text_columns else ""
    frame[f"{ALL_TEXT}__id_card"] = frame[ALL_TEXT].map(id_cards_in)
    return frame, text_columns


def _violations(table: str, frame, columns: list[str]) -> list[Violation]:
    """Counts per column and kind, computed without ever keeping a matched value."""
    found = []
    for column in columns:
        series = frame[column].dropna()
        for kind, pattern in PATTERNS.items():
            count = int(series.str.contains(pattern, regex=True).sum())
            if count:
                found.append(Violation(table, column, kind, count))
        count = int(series.map(id_cards_in).notna().sum())
        if count:
            found.append(Violation(table, column, "id_card", count))
    return found


_CHECKPOINTS: dict[str, Any] = {}
_CONTEXT: list[Any] = []
_LOCK = threading.Lock()


def _checkpoint(table: str):
    """The checkpoint for one table, built once per process and re-run on each batch's rows."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    key = table
    with _LOCK:
        if key in _CHECKPOINTS:
            return _CHECKPOINTS[key]
        if not _CONTEXT:
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            _CONTEXT.append((context, context.data_sources.add_pandas("leak_gate")))
        context, source = _CONTEXT[0]
        name = f"leak_gate_{table}_{len(_CHECKPOINTS)}"
        suite = context.suites.add(gx.ExpectationSuite(name=name))
        for pattern in PATTERNS.values():
            suite.add_expectation(gx.expectations.ExpectColumnValuesToNotMatchRegex(column=ALL_TEXT, regex=pattern))
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeNull(column=f"{ALL_TEXT}__id_card"))
        batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("batch")
        validation = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[validation],
                # BOOLEAN_ONLY: GX must not carry the unexpected values (they are the leak).
                result_format={"result_format": "BOOLEAN_ONLY"},
            )
        )
        _CHECKPOINTS[key] = checkpoint
        return checkpoint


def check(tables: dict[str, list[dict[str, Any]]]) -> list[Violation]:
    """Run the checkpoint over the given rows per table; returns the violations (empty = clean)."""
    violations: list[Violation] = []
    for table, rows in tables.items():
        if not rows:
            continue
        frame, columns = _frame(rows)
        if not columns:
            continue
        checkpoint = _checkpoint(table)
        if not checkpoint.run(batch_parameters={"dataframe": frame}).success:
            violations.extend(_violations(table, frame, columns) or [Violation(table, "?", "unknown", 0)])
    return violations


def enforce(tables: dict[str, list[dict[str, Any]]]) -> None:
    """Raise LeakDetected naming table, column, kind and row count when the checkpoint fails."""
    violations = check(tables)
    if violations:
        raise LeakDetected(
            "leak gate: personal data found outside the vault ("
            + "; ".join(str(v) for v in violations)
            + "); the batch was not stored. Fix the masking rule and re-run triage."
        )
