"""Evaluate the rules on the hand-labelled set: `python -m feedback.triage.evaluate` (`make eval`).

Rules are revised quarterly; a change is only an improvement if the numbers say so.
This prints precision, recall, F1 and support per class for preset A (single label),
per label for preset B (multi-label) and per level for priority, on the dev split
(which rules may be tuned on) and the holdout split (which they must not be), plus
accuracy and the needs-review rate, and writes the same tables to docs/eval.md.

`--show-errors` lists the dev items the rules get wrong (never the holdout ones), which
is what a person tuning rules should look at.

It then measures on real text nobody here wrote (feedback.triage.corpus_eval): the
development corpora in FEEDBACK_CORPORA (default ../shared/corpora), skipped with a clear
message when absent. The urgent decisions are printed with their text on the terminal so
their precision can be read; the report file gets counts and row numbers only.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field

from feedback.configfile import Strict, load_file
from feedback.errors import FeedbackError
from feedback.paths import project_root
from feedback.triage import corpus_eval
from feedback.triage.classify import Classifier, Decision
from feedback.triage.taxonomy import LEVELS
from feedback.vocabulary import PriorityCode

SPLITS = ("dev", "holdout")


def default_data_path() -> Path:
    return project_root() / "tests" / "data" / "labelled_feedback.yaml"


# --- the labelled set --------------------------------------------------------------------------


class Expected(Strict):
    category_a: str
    categories_b: list[str] = Field(min_length=1)
    priority: PriorityCode


class LabelledItem(Strict):
    id: str
    split: Literal["dev", "holdout"]
    channel: str = "webform"
    customer_tier: str = "normal"
    subject: str | None = None
    text: str = Field(min_length=1)
    tags: list[str] = []
    expected: Expected


class LabelledSet(Strict):
    items: list[LabelledItem]


def load_labelled(path: Path | None = None) -> list[LabelledItem]:
    """The labelled items, validated (a typo in a label must fail loudly, not skew a score)."""
    items = load_file(path or default_data_path(), LabelledSet).items
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"labelled set: id {item.id!r} is used twice")
        seen.add(item.id)
    return items


# --- metrics -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Report:
    """Per-class scores and summary figures for one task on one split."""

    task: str
    split: str
    rows: list[ClassScore]
    n: int
    accuracy: float  # exact match (subset accuracy for multi-label)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def macro_f1(self) -> float:
        scored = [r for r in self.rows if r.support > 0]
        return sum(r.f1 for r in scored) / len(scored) if scored else 0.0


def per_class(truth: Sequence[set[str]], predicted: Sequence[set[str]], labels: Iterable[str]) -> list[ClassScore]:
    """Precision / recall / F1 / support per label; works for single- and multi-label alike."""
    rows = []
    for label in labels:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if label in t and label in p)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if label not in t and label in p)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if label in t and label not in p)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(ClassScore(label, precision, recall, f1, tp + fn))
    return rows


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Macro-F1 over the labels present in `truth` (used to compare rules with a learned model)."""
    labels = sorted(set(truth))
    rows = per_class([{t} for t in truth], [{p} for p in predicted], labels)
    return sum(r.f1 for r in rows) / len(rows) if rows else 0.0


def _decide(clf: Classifier, item: LabelledItem) -> Decision:
    return clf.decide(item.text, subject=item.subject, channel=item.channel, customer_tier=item.customer_tier)


@dataclass
class Evaluation:
    reports: dict[tuple[str, str], Report]
    errors: list[str]
    decisions_per_second: float | None = None


def evaluate(items: Sequence[LabelledItem], clf_a: Classifier, clf_b: Classifier) -> Evaluation:
    """Score preset A, preset B and priority (computed with preset A) on each split."""
    reports: dict[tuple[str, str], Report] = {}
    errors: list[str] = []
    for split in SPLITS:
        subset = [i for i in items if i.split == split]
        if not subset:
            continue
        dec_a = [_decide(clf_a, i) for i in subset]
        dec_b = [_decide(clf_b, i) for i in subset]

        truth_a = [{i.expected.category_a} for i in subset]
        pred_a = [set(d.categories) for d in dec_a]
        n = len(subset)
        review = sum(d.needs_review for d in dec_a)
        confident = [(t, p) for t, p, d in zip(truth_a, pred_a, dec_a, strict=True) if not d.needs_review]
        reports[("preset_a", split)] = Report(
            "preset_a", split, per_class(truth_a, pred_a, clf_a.classes), n,
            sum(t == p for t, p in zip(truth_a, pred_a, strict=True)) / n,
            {"needs_review_rate": review / n,
             "accuracy_not_review": (sum(t == p for t, p in confident) / len(confident)) if confident else 0.0},
        )

        truth_b = [set(i.expected.categories_b) for i in subset]
        pred_b = [set(d.categories) for d in dec_b]
        rows_b = per_class(truth_b, pred_b, clf_b.classes)
        tp = sum(len(t & p) for t, p in zip(truth_b, pred_b, strict=True))
        fp = sum(len(p - t) for t, p in zip(truth_b, pred_b, strict=True))
        fn = sum(len(t - p) for t, p in zip(truth_b, pred_b, strict=True))
        micro = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        reports[("preset_b", split)] = Report(
            "preset_b", split, rows_b, n, sum(t == p for t, p in zip(truth_b, pred_b, strict=True)) / n,
            {"micro_f1": micro, "needs_review_rate": sum(d.needs_review for d in dec_b) / n},
        )

        truth_p = [i.expected.priority for i in subset]
        pred_p = [d.priority for d in dec_a]
        within_one = sum(abs(LEVELS.index(t) - LEVELS.index(p)) <= 1 for t, p in zip(truth_p, pred_p, strict=True))
        under = sum(LEVELS.index(p) > LEVELS.index(t) for t, p in zip(truth_p, pred_p, strict=True))
        reports[("priority", split)] = Report(
            "priority", split, per_class([{t} for t in truth_p], [{p} for p in pred_p], LEVELS), n,
            sum(t == p for t, p in zip(truth_p, pred_p, strict=True)) / n,
            {"within_one_level": within_one / n, "under_prioritised": under / n},
        )

        if split == "dev":
            for item, da, db in zip(subset, dec_a, dec_b, strict=True):
                wrong = []
                if da.categories[0] != item.expected.category_a:
                    wrong.append(f"A {da.categories[0]} (want {item.expected.category_a})")
                if set(db.categories) != set(item.expected.categories_b):
                    wrong.append(f"B {sorted(db.categories)} (want {sorted(item.expected.categories_b)})")
                if da.priority != item.expected.priority:
                    wrong.append(f"priority {da.priority} (want {item.expected.priority}; {', '.join(da.priority_reasons)})")
                if wrong:
                    errors.append(f"{item.id}: {'; '.join(wrong)} | rules {', '.join(da.rule_ids)} | {item.text[:60]}")
    return Evaluation(reports, errors)


def measure_throughput(clf: Classifier, items: Sequence[LabelledItem], minimum: int = 20_000) -> float:
    """Decisions per second on the labelled texts, repeated to at least `minimum` decisions."""
    rounds = max(1, -(-minimum // max(1, len(items))))
    start = time.perf_counter()
    for _ in range(rounds):
        for item in items:
            _decide(clf, item)
    return rounds * len(items) / (time.perf_counter() - start)


# --- rendering ---------------------------------------------------------------------------------

_TITLES = {
    "preset_a": "Preset A (doc 000), single label",
    "preset_b": "Preset B (doc 001), multi-label, per label",
    "priority": "Priority (preset A levels), per level",
}


def render(ev: Evaluation, n_items: int, counts: dict[str, int], command: str, when: datetime) -> str:
    """Markdown for docs/eval.md (also what `main` prints)."""
    out = [
        "# Triage evaluation",
        "",
        f"Produced by `{command}` on {when:%Y-%m-%d %H:%M} UTC. Re-run it after changing",
        "`include/config/taxonomy.yaml`; this file is rewritten.",
        "",
        f"Labelled set: `tests/data/labelled_feedback.yaml`, {n_items} hand-written items "
        f"(dev {counts.get('dev', 0)}, holdout {counts.get('holdout', 0)}). Rules are tuned on dev only;",
        "holdout items were set aside before the rules were written and are reported, never tuned on.",
        "The author of the rules also wrote the items, so even holdout figures flatter the rules",
        "somewhat compared with real traffic; read them as a regression guard and a comparison",
        "between rule versions, not as a promise about production accuracy.",
        "",
    ]
    summary = ["| split | A accuracy | A macro-F1 | A needs review | B exact match | B macro-F1 | B micro-F1 "
               "| priority accuracy | priority macro-F1 | priority within one level |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for split in SPLITS:
        a, b, p = (ev.reports.get((t, split)) for t in ("preset_a", "preset_b", "priority"))
        if not (a and b and p):
            continue
        summary.append(
            f"| {split} | {a.accuracy:.3f} | {a.macro_f1:.3f} | {a.extra['needs_review_rate']:.1%} | "
            f"{b.accuracy:.3f} | {b.macro_f1:.3f} | {b.extra['micro_f1']:.3f} | {p.accuracy:.3f} | "
            f"{p.macro_f1:.3f} | {p.extra['within_one_level']:.3f} |"
        )
    out += ["## Summary", "", *summary, ""]
    for task in ("preset_a", "preset_b", "priority"):
        out += [f"## {_TITLES[task]}", ""]
        for split in SPLITS:
            rep = ev.reports.get((task, split))
            if rep is None:
                continue
            out += [f"**{split}** ({rep.n} items; accuracy {rep.accuracy:.3f}, macro-F1 {rep.macro_f1:.3f}"
                    + "".join(f", {k.replace('_', ' ')} {v:.3f}" for k, v in rep.extra.items()) + ")", "",
                    "| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
            out += [f"| {r.label} | {r.precision:.3f} | {r.recall:.3f} | {r.f1:.3f} | {r.support} |" for r in rep.rows]
            out.append("")
    out += [
        "Priority is computed after classification with preset A (a trigger or the class default,",
        "then at most one bump for VIP / angry tone / platform channel, praise capped at low).",
        "`needs review` is the share of items whose confidence is below `review_threshold`;",
        "`accuracy not review` is preset A accuracy on the items that were not sent to review.",
        "",
    ]
    if ev.decisions_per_second:
        out += [f"Throughput (informational, no threshold): {ev.decisions_per_second:,.0f} decisions/s "
                "(preset A, one process, labelled texts repeated).", ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m feedback.triage.evaluate`: exit 0, or 2 with one line if an input is broken."""
    parser = argparse.ArgumentParser(prog="python -m feedback.triage.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="labelled set (default tests/data/labelled_feedback.yaml)")
    parser.add_argument("--taxonomy", type=Path, default=None, help="taxonomy file (default include/config/taxonomy.yaml)")
    parser.add_argument("--out", type=Path, default=project_root() / "docs" / "eval.md", help="markdown report to write")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write the report")
    parser.add_argument("--show-errors", action="store_true", help="list the dev items the rules get wrong")
    parser.add_argument("--no-corpora", action="store_true", help="skip the measurement on the development corpora")
    parser.add_argument("--show-urgent", action="store_true",
                        help="print every urgent corpus decision with its text (terminal only)")
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(args_list)

    try:
        items = load_labelled(args.data)
        clf_a = Classifier.from_config(preset="A", path=args.taxonomy)
        clf_b = Classifier.from_config(preset="B", path=args.taxonomy)
    except (FeedbackError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    ev = evaluate(items, clf_a, clf_b)
    ev.decisions_per_second = measure_throughput(clf_a, items)
    counts = {s: sum(1 for i in items if i.split == s) for s in SPLITS}
    shown = [a for a in args_list if a not in {"--show-errors", "--no-write", "--show-urgent"}]
    command = " ".join(["python -m feedback.triage.evaluate", *shown])
    text = render(ev, len(items), counts, command, datetime.now(UTC))
    corpus_report = None
    if not args.no_corpora:
        corpus_report = corpus_eval.run(clf_a, clf_b)
        if corpus_report is None:
            note = (f"Development corpora not found at {corpus_eval.corpora_dir()} (set FEEDBACK_CORPORA): "
                    "real-text measurement skipped.")
            sys.stderr.write(note + "\n")
            text += "\n## Real text (development corpora)\n\n" + note + "\n"
        else:
            text += "\n" + corpus_eval.METHOD + "\n" + corpus_eval.render(corpus_report)
    sys.stdout.write(text + "\n")
    if corpus_report is not None and args.show_urgent:
        sys.stdout.write("\n" + corpus_eval.render_urgent(corpus_report) + "\n")
    if args.show_errors:
        sys.stdout.write(f"\n{len(ev.errors)} dev items with at least one wrong field:\n")
        for line in ev.errors:
            sys.stdout.write(f"  {line}\n")
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        sys.stdout.write(f"\nwritten: {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
