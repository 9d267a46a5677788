"""A company's labelled history as training data: `feedback triage import-labels FILE.csv`.

A helpdesk export (columns `text`, `category`, optional `priority`) is the fastest way to
teach the learned classifier a company's own words. Exports are messy, so every row is
validated and a bad row gets one clear line: its line number and what is wrong, never its
text (an export holds customers' words and contacts; values we quote are masked and cut
short). Good rows are imported even when others are bad; the caller decides the exit
status. Texts are masked with the triage masker before they are stored, and a re-import of
the same file updates labels instead of doubling them (keyed by the normalised masked text).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from feedback.errors import FeedbackError
from feedback.triage.corrections import PRIORITIES, text_key
from feedback.triage.taxonomy import normalise

if TYPE_CHECKING:
    from feedback.privacy.masking import Masker
    from feedback.triage.classify import Classifier

REQUIRED = ("text", "category")
OPTIONAL = ("priority",)
MAX_TEXT = 20_000
QUOTE_LIMIT = 40
PRIORITY_ALIASES = {"紧急": "urgent", "高": "high", "中": "medium", "低": "low", "normal": "medium"}


class LabelFileError(FeedbackError):
    """The file as a whole cannot be read (missing, not UTF-8, no header, a required column missing)."""


@dataclass(frozen=True)
class BadRow:
    line: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclass(frozen=True)
class GoodRow:
    line: int
    text: str             # masked
    key: str
    category: str
    priority: str | None
    masked: bool = False  # the text carried contact data (masked before storage)


@dataclass
class ImportReport:
    """What an import did: rows read, imported (new), updated, unchanged, and the bad rows with their reasons."""

    file: str
    rows: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    masked: int = 0                  # rows whose text carried contact data (masked before storage)
    bad: list[BadRow] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "rows": self.rows, "imported": self.imported, "updated": self.updated,
                "unchanged": self.unchanged, "masked": self.masked, "bad": len(self.bad),
                "bad_rows": [str(b) for b in self.bad], "dry_run": self.dry_run}


class _Categories:
    """A category cell → the preset's class: its code, its zh/en label or one of its hint aliases."""

    def __init__(self, classifier: Classifier) -> None:
        preset = classifier.taxonomy.presets[classifier.preset]
        self.names = list(preset.classes)
        self.lookup: dict[str, str] = {}
        for code, cat in preset.classes.items():
            for alias in [code, *cat.label.values(), *cat.hint_aliases]:
                self.lookup.setdefault(_fold(alias), code)

    def resolve(self, value: str) -> str | None:
        return self.lookup.get(_fold(value))


def _fold(value: str) -> str:
    return " ".join(normalise(value).replace("-", " ").replace("_", " ").split())


def _quote(value: str, masker: Masker) -> str:
    """A cell value safe to show an operator: masked, on one line, cut short."""
    shown = " ".join(masker.mask(value).text.split())
    return repr(shown if len(shown) <= QUOTE_LIMIT else shown[: QUOTE_LIMIT - 1] + "…")


def read_rows(data: str, *, classifier: Classifier, masker: Masker) -> tuple[list[GoodRow], list[BadRow], int]:
    """Validate every row of a CSV text: (good rows with masked text, bad rows, rows read)."""
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise LabelFileError("the file is empty: expected a header line with columns text, category[, priority]") \
            from None
    except csv.Error as exc:
        raise LabelFileError(f"line 1: not a CSV header ({exc})") from None
    columns = [h.strip().lower().lstrip("\ufeff") for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise LabelFileError(f"line 1: missing column {', '.join(repr(m) for m in missing)} "
                             f"(found: {', '.join(repr(c) for c in columns) or 'none'}); "
                             f"expected text, category and optionally priority")
    unknown = [c for c in columns if c not in (*REQUIRED, *OPTIONAL)]
    if unknown:
        raise LabelFileError(f"line 1: unknown column {', '.join(repr(u) for u in unknown)}; "
                             f"expected text, category and optionally priority")
    at = {name: columns.index(name) for name in (*REQUIRED, *OPTIONAL) if name in columns}
    categories = _Categories(classifier)
    good: list[GoodRow] = []
    bad: list[BadRow] = []
    seen: dict[str, int] = {}
    rows = 0
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows += 1
            bad.append(BadRow(line, f"not valid CSV ({exc})"))
            line = reader.line_num + 1
            continue
        start, line = line, reader.line_num + 1
        if not cells or all(not c.strip() for c in cells):
            continue                                  # blank line
        rows += 1
        if len(cells) != len(columns):
            bad.append(BadRow(start, f"expected {len(columns)} fields ({', '.join(columns)}), found {len(cells)}"))
            continue
        text = cells[at["text"]].strip()
        raw_category = cells[at["category"]].strip()
        raw_priority = cells[at["priority"]].strip() if "priority" in at else ""
        if not text:
            bad.append(BadRow(start, "text is empty"))
            continue
        if len(text) > MAX_TEXT:
            bad.append(BadRow(start, f"text is {len(text)} characters, at most {MAX_TEXT}"))
            continue
        if not raw_category:
            bad.append(BadRow(start, "category is empty"))
            continue
        category = categories.resolve(raw_category)
        if category is None:
            bad.append(BadRow(start, f"unknown category {_quote(raw_category, masker)} for preset "
                                     f"{classifier.preset}; one of: {', '.join(categories.names)}"))
            continue
        priority: str | None = None
        if raw_priority:
            folded = raw_priority.lower()
            priority = folded if folded in PRIORITIES else PRIORITY_ALIASES.get(folded)
            if priority is None:
                bad.append(BadRow(start, f"unknown priority {_quote(raw_priority, masker)}; one of: "
                                         f"{', '.join(PRIORITIES)} (or empty)"))
                continue
        masked = masker.mask(text).text
        key = text_key(masked)
        if key in seen:
            bad.append(BadRow(start, f"duplicate text: same as line {seen[key]}"))
            continue
        seen[key] = start
        good.append(GoodRow(start, masked, key, category, priority, masked != text))
    return good, bad, rows


def import_labels(engine: sa.Engine, path: Path, *, classifier: Classifier, masker: Masker, at: datetime, actor: str,
                  encoding: str = "utf-8-sig", dry_run: bool = False) -> ImportReport:
    """Validate `path` and store its good rows as `training_label` (source import), masked; one transaction."""
    if not path.is_file():
        raise LabelFileError(f"{path}: no such file")
    if classifier.multi_label:
        raise LabelFileError(f"preset {classifier.preset} is multi-label; labelled history trains single-label "
                             f"presets only")
    try:
        data = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise LabelFileError(f"{path}: not {encoding} (byte {exc.start}); give --encoding gb18030 for a GBK export")\
            from None
    except LookupError:
        raise LabelFileError(f"unknown encoding {encoding!r}") from None
    good, bad, rows = read_rows(data, classifier=classifier, masker=masker)
    report = ImportReport(file=path.name, rows=rows, bad=bad, dry_run=dry_run)
    report.masked = sum(g.masked for g in good)
    if not good:
        return report
    with engine.begin() as conn:
        existing: dict[str, str] = dict(conn.execute(
            sa.text("SELECT text_sha256, category || '|' || coalesce(priority, '') FROM feedback.training_label "
                    "WHERE preset = :p AND feedback_id IS NULL AND text_sha256 = ANY(:k)"),
            {"p": classifier.preset, "k": [g.key for g in good]}).all())
        params = []
        for g in good:
            before = existing.get(g.key)
            if before == f"{g.category}|{g.priority or ''}":
                report.unchanged += 1
                continue
            if before is None:
                report.imported += 1
            else:
                report.updated += 1
            params.append({"p": classifier.preset, "x": g.text, "k": g.key, "c": g.category, "pr": g.priority,
                           "b": f"{path.name}:{g.line}", "a": actor, "t": at})
        if params and not dry_run:
            conn.execute(
                sa.text("""INSERT INTO feedback.training_label (preset, source, text, text_sha256, category, priority,
                                                                batch, actor, labelled_at)
                           VALUES (:p, 'import', :x, :k, :c, :pr, :b, :a, :t)
                           ON CONFLICT (preset, text_sha256) WHERE feedback_id IS NULL DO UPDATE
                           SET category = EXCLUDED.category, priority = EXCLUDED.priority, batch = EXCLUDED.batch,
                               actor = EXCLUDED.actor, labelled_at = EXCLUDED.labelled_at"""),
                params,
            )
    return report
