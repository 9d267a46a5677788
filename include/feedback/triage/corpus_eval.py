"""Triage measured on real text nobody on the project wrote (the development corpora).

The labelled set beside the rules flatters them (its author wrote both). This module runs
the shipped rules over the corpora in `FEEDBACK_CORPORA` (default ../shared/corpora from
the project root; see its README) and reports what a new user would see:

- BANKING77 (English bank requests, 77 intents): preset A per-class precision / recall
  through the project's intent mapping (tests/data/banking77_preset_a.yaml), accuracy on
  the intents whose type is clear, and the share where no class rule fired;
- waimai_10k (Chinese delivery reviews, positive / negative): negatives in `other`,
  positives as praise, no-rule shares, the priority mix;
- the support tweets (inbound ones): the class mix and the no-rule share;
- the project's own hand labels (row numbers and labels only, tests/data/handlabels_*.csv);
- every urgent decision with the words that fired it, so its precision can be read: the
  texts go to the terminal only, never into the repository (docs/eval.md gets counts and
  row numbers);
- throughput with masking (decisions per second, masking included, one process).

The corpora are not part of the project; when the folder is absent this says so and skips.
"""

from __future__ import annotations

import csv
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from feedback.paths import project_root
from feedback.triage.classify import Classifier, Decision

BANKING_FILES = ("banking77-train.csv", "banking77-test.csv")


METHOD = """## Real text (development corpora)

Measured on text nobody on the project wrote (`FEEDBACK_CORPORA`, default `../shared/corpora`;
skipped with a message when absent). No corpus text is stored in the project or in this file:
the urgent decisions are listed by row number here and printed with their text by
`python -m feedback.triage.evaluate --show-urgent` (terminal only). Hand labels are row numbers
plus the project's own labels (`tests/data/handlabels_*.csv`); the BANKING77 intent mapping is
`tests/data/banking77_preset_a.yaml`.

**Chinese segmentation.** Rules match words: a Chinese hit may not cut a word in two (着火 is not in
挨着火车). Candidates measured on the 11,987 waimai reviews (one core, same machine): jieba 0.42.1
10,486 texts/s (HMM on; 13,601 without HMM, which loses 送餐, 差评, 多收); rjieba 0.2.2 (the Rust
jieba-rs binding, same dictionary and HMM) 311,476 texts/s with the same segmentation on every
sample we compared; spacy-pkuseg 1.0.2 downloads its model on first use, which an Airflow worker
without internet access cannot do (pkuseg the same); jieba-fast 0.53 is unmaintained since 2018.
Of 32 domain words (起球, 掉色, 异味, 假货, 配送费, 骑手, 验证码 ...) both jiebas keep 24 whole; the 8
others are compositions (不/新鲜, 凉/了, 没/生效) whose ends still fall on word boundaries, which is
all the matcher needs. Chosen: **rjieba==0.2.2** (speed: triage must stay well above 5,000
decisions/s with masking, and jieba alone would cost ~100 µs of a 200 µs budget per item).
"""


def corpora_dir() -> Path:
    """FEEDBACK_CORPORA, or ../shared/corpora next to the project."""
    env = os.environ.get("FEEDBACK_CORPORA")
    return Path(env) if env else (project_root().parent / "shared" / "corpora").resolve()


def data_dir() -> Path:
    return project_root() / "tests" / "data"


@dataclass(frozen=True, slots=True)
class Row:
    """One corpus text: where it is (file and 1-based data row, header not counted) and its label."""

    corpus: str
    file: str
    row: int
    text: str
    label: str | None = None


def read_banking(root: Path) -> list[Row]:
    rows = []
    for name in BANKING_FILES:
        with (root / "text" / name).open(encoding="utf-8", newline="") as fh:
            for i, rec in enumerate(csv.DictReader(fh), start=1):
                rows.append(Row("banking77", name, i, rec["text"], rec["category"]))
    return rows


def read_waimai(root: Path) -> list[Row]:
    with (root / "text" / "waimai_10k.csv").open(encoding="utf-8", newline="") as fh:
        return [Row("waimai", "waimai_10k.csv", i, rec["review"], "positive" if rec["label"] == "1" else "negative")
                for i, rec in enumerate(csv.DictReader(fh), start=1)]


def read_tweets(root: Path) -> list[Row]:
    with (root / "text" / "twcs-sample.csv").open(encoding="utf-8", newline="") as fh:
        return [Row("tweets", "twcs-sample.csv", i, rec["text"]) for i, rec in enumerate(csv.DictReader(fh), start=1)
                if rec.get("inbound") == "True"]


def banking_mapping(path: Path | None = None) -> dict[str, tuple[str, bool]]:
    """intent -> (preset A class, clear) from tests/data/banking77_preset_a.yaml."""
    data = yaml.safe_load((path or data_dir() / "banking77_preset_a.yaml").read_text(encoding="utf-8"))
    return {intent: (v["class"], bool(v["clear"])) for intent, v in data["intents"].items()}


@dataclass(frozen=True, slots=True)
class HandLabel:
    file: str
    row: int
    category: str
    priority: str


def read_handlabels(path: Path) -> list[HandLabel]:
    """Hand labels: `file,row,category,priority` (no corpus text is ever stored in the project)."""
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.startswith("#")]
    return [HandLabel(r["file"], int(r["row"]), r["category"], r["priority"]) for r in csv.DictReader(lines)]


def read_verdicts(path: Path) -> dict[tuple[str, int], tuple[str, str]]:
    """(file, row) -> (verdict, why) from tests/data/urgent_verdicts.csv: the urgent decisions read by a person.

    verdict is `defensible`, `borderline` (defensible under the documented rule, a supervisor could say
    high) or `not`; only row numbers are stored, never the texts.
    """
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.startswith("#")]
    return {(r["file"], int(r["row"])): (r["verdict"], r["why"]) for r in csv.DictReader(lines)}


URGENT_POLICY = """Urgent comes only from a trigger (domain.md §3): a key operation failed (payment failed, money taken),
data lost, a core function unusable, a safety risk, public exposure (media, 12315 / consumer hotline, posting it
online), an enterprise-wide failure. Bumps (VIP, angry tone, a negative public platform item or a low star
rating) raise an item one level at most and never into urgent (`modifiers.ceiling: high`). Food: an illness after
eating (diarrhoea, vomiting, hospital, food poisoning) is a safety trigger, urgent; a hair, an insect, steel wool
or mould in the food is a hygiene failure, high (`p.high.food_health`), until someone is ill."""


def urgent_section(urgent: Sequence[tuple[Row, Decision]], verdicts: dict[tuple[str, int], tuple[str, str]]) -> Section:
    """Counts, triggers and rows of the urgent decisions, with the tally of the person's verdicts on them."""
    sec = Section("Urgent decisions")
    reasons = Counter(reason for _, d in urgent for reason in d.priority_reasons if reason.startswith("trigger:"))
    per_corpus = Counter(r.corpus for r, _ in urgent)
    judged = Counter(verdicts.get((r.file, r.row), ("unjudged", ""))[0] for r, _ in urgent)
    why = Counter(verdicts[(r.file, r.row)][1] for r, _ in urgent if (r.file, r.row) in verdicts)
    now = {(r.file, r.row) for r, _ in urgent}
    lost = sorted(k for k, (v, _) in verdicts.items() if v != "not" and k not in now)
    n = len(urgent)
    sec.lines += [
        URGENT_POLICY,
        "",
        f"- {n} urgent decisions: " + ", ".join(f"{k} {v}" for k, v in per_corpus.most_common()),
        "- by trigger: " + ", ".join(f"{k.removeprefix('trigger:')} {v}" for k, v in reasons.most_common()),
        f"- read one by one (`tests/data/urgent_verdicts.csv`): **defensible {judged['defensible']}**, "
        f"borderline {judged['borderline']}, not defensible {judged['not']}, not yet read {judged['unjudged']}; "
        f"defensible share {_pct(judged['defensible'], n)} (with borderline {_pct(judged['defensible'] + judged['borderline'], n)})",
        "- what they are: " + ", ".join(f"{k} {v}" for k, v in why.most_common()),
        "- judged urgent-worthy but no longer urgent: " + ("; ".join(f"{f}:{r}" for f, r in lost) or "none"),
        "- rows: " + "; ".join(f"{r.file}:{r.row}" for r, _ in urgent[:200]),
    ]
    return sec


# --- measuring ---------------------------------------------------------------------------------


def no_rule(d: Decision) -> bool:
    """True when no class rule fired (the fallback class was given for lack of evidence)."""
    return d.decided_by == "fallback"


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)


@dataclass
class CorpusReport:
    sections: list[Section]
    urgent: list[tuple[Row, Decision]]  # shown on the terminal with their text, never written


def _pct(n: int, d: int) -> str:
    return f"{n / d:.1%}" if d else "n/a"


def _class_table(truth: Sequence[str], pred: Sequence[str], labels: Iterable[str]) -> list[str]:
    out = ["| class | precision | recall | support | predicted |", "|---|---:|---:|---:|---:|"]
    for label in labels:
        tp = sum(1 for t, p in zip(truth, pred, strict=True) if t == label and p == label)
        npred = sum(1 for p in pred if p == label)
        nsup = sum(1 for t in truth if t == label)
        prec = f"{tp / npred:.3f}" if npred else "-"
        rec = f"{tp / nsup:.3f}" if nsup else "-"
        out.append(f"| {label} | {prec} | {rec} | {nsup} | {npred} |")
    return out


def _mix(decisions: Sequence[Decision], key: Callable[[Decision], str]) -> str:
    counts = Counter(key(d) for d in decisions)
    n = len(decisions)
    return ", ".join(f"{k} {v / n:.1%}" for k, v in counts.most_common())


def measure_banking(clf: Classifier, rows: Sequence[Row], mapping: dict[str, tuple[str, bool]]) -> Section:
    decisions = [clf.decide(r.text, channel="email") for r in rows]
    truth = [mapping[r.label or ""][0] for r in rows]
    pred = [d.category for d in decisions]
    clear = [i for i, r in enumerate(rows) if mapping[r.label or ""][1]]
    right_clear = sum(truth[i] == pred[i] for i in clear)
    always_other = sum(truth[i] == "other" for i in clear)
    sec = Section(f"BANKING77 ({len(rows):,} English bank requests, train + test), preset A")
    sec.lines += [
        f"- accuracy on the {len(clear):,} requests whose type is clear: **{_pct(right_clear, len(clear))}** "
        f"(always answering `other` would score {_pct(always_other, len(clear))}); on all requests "
        f"{_pct(sum(t == p for t, p in zip(truth, pred, strict=True)), len(rows))}",
        f"- no class rule fired: **{_pct(sum(no_rule(d) for d in decisions), len(rows))}** "
        f"(clear-type requests: {_pct(sum(no_rule(decisions[i]) for i in clear), len(clear))})",
        f"- needs review: {_pct(sum(d.needs_review for d in decisions), len(rows))}",
        f"- priority: {_mix(decisions, lambda d: d.priority)}",
        "",
        *_class_table(truth, pred, clf.classes),
    ]
    wrong_sc = Counter(r.label for r, t, p in zip(rows, truth, pred, strict=True)
                       if p == "service_complaint" and t != "service_complaint")
    if wrong_sc:
        sec.lines += ["", "`service_complaint` where the mapping says otherwise, by intent: "
                      + ", ".join(f"{k} {v}" for k, v in wrong_sc.most_common(6))]
    return sec


def measure_waimai(clf: Classifier, clf_b: Classifier, rows: Sequence[Row]) -> Section:
    decisions = [clf.decide(r.text, channel="platform") for r in rows]
    neg = [d for r, d in zip(rows, decisions, strict=True) if r.label == "negative"]
    pos = [d for r, d in zip(rows, decisions, strict=True) if r.label == "positive"]
    dec_b = [clf_b.decide(r.text, channel="platform") for r in rows if r.label == "negative"]
    sec = Section(f"waimai_10k ({len(rows):,} Chinese delivery reviews: {len(neg):,} negative, "
                  f"{len(pos):,} positive), platform channel")
    sec.lines += [
        f"- negative reviews in `other`: **{_pct(sum(d.category == 'other' for d in neg), len(neg))}**; "
        f"no class rule fired on {_pct(sum(no_rule(d) for d in neg), len(neg))}",
        f"- negative reviews as praise: {_pct(sum(d.category == 'praise' for d in neg), len(neg))}",
        f"- positive reviews as praise: **{_pct(sum(d.category == 'praise' for d in pos), len(pos))}**; "
        f"no class rule fired on {_pct(sum(no_rule(d) for d in pos), len(pos))}",
        f"- preset A classes of negative reviews: {_mix(neg, lambda d: d.category)}",
        f"- preset A classes of positive reviews: {_mix(pos, lambda d: d.category)}",
        f"- preset B labels of negative reviews: {_mix(dec_b, lambda d: '+'.join(sorted(d.categories)))}",
        f"- priority of negative reviews: {_mix(neg, lambda d: d.priority)}; of positive: "
        f"{_mix(pos, lambda d: d.priority)}",
    ]
    return sec


def measure_tweets(clf: Classifier, rows: Sequence[Row]) -> Section:
    decisions = [clf.decide(r.text, channel="platform") for r in rows]
    sec = Section(f"Support tweets ({len(rows)} inbound), preset A (no labels)")
    sec.lines += [
        f"- no class rule fired: **{_pct(sum(no_rule(d) for d in decisions), len(rows))}**",
        f"- classes: {_mix(decisions, lambda d: d.category)}",
        f"- priority: {_mix(decisions, lambda d: d.priority)}",
    ]
    return sec


def measure_handlabels(clf: Classifier, by_file: dict[str, dict[int, Row]], path: Path, channel: str) -> Section:
    labels = read_handlabels(path)
    rows = [by_file[h.file][h.row] for h in labels]
    decisions = [clf.decide(r.text, channel=channel) for r in rows]
    cat_right = sum(d.category == h.category for d, h in zip(decisions, labels, strict=True))
    prio_right = sum(d.priority == h.priority for d, h in zip(decisions, labels, strict=True))
    order = ("urgent", "high", "medium", "low")
    within = sum(abs(order.index(d.priority) - order.index(h.priority)) <= 1
                 for d, h in zip(decisions, labels, strict=True))
    sec = Section(f"Hand labels `{path.relative_to(project_root())}` ({len(labels)} rows, preset A)")
    sec.lines += [
        f"- category accuracy **{_pct(cat_right, len(labels))}**; priority accuracy **{_pct(prio_right, len(labels))}** "
        f"(within one level {_pct(within, len(labels))})",
        "",
        *_class_table([h.category for h in labels], [d.category for d in decisions], clf.classes),
    ]
    return sec


def measure_throughput(clf: Classifier, texts: Sequence[str], minimum: int = 20_000) -> float:
    """Decisions per second with masking (the text is masked first, as triage does), one process."""
    from feedback.privacy.masking import Masker, load_mask_config

    masker = Masker(load_mask_config())
    rounds = max(1, -(-minimum // max(1, len(texts))))
    start = time.process_time()  # CPU time of this process: a shared, busy machine does not skew it
    for _ in range(rounds):
        for t in texts:
            clf.decide(masker.mask(t).text)
    return rounds * len(texts) / (time.process_time() - start)


def run(clf_a: Classifier, clf_b: Classifier, root: Path | None = None) -> CorpusReport | None:
    """Measure on every corpus present under `root`; None when the folder is absent."""
    root = root or corpora_dir()
    if not (root / "text").is_dir():
        return None
    sections: list[Section] = []
    urgent: list[tuple[Row, Decision]] = []
    by_file: dict[str, dict[int, Row]] = {}
    all_rows: list[Row] = []
    if all((root / "text" / f).exists() for f in BANKING_FILES):
        rows = read_banking(root)
        all_rows += rows
        sections.append(measure_banking(clf_a, rows, banking_mapping()))
        for r in rows:
            by_file.setdefault(r.file, {})[r.row] = r
    if (root / "text" / "waimai_10k.csv").exists():
        rows = read_waimai(root)
        all_rows += rows
        sections.append(measure_waimai(clf_a, clf_b, rows))
        by_file["waimai_10k.csv"] = {r.row: r for r in rows}
    if (root / "text" / "twcs-sample.csv").exists():
        rows = read_tweets(root)
        all_rows += rows
        sections.append(measure_tweets(clf_a, rows))
    for name, channel in (("handlabels_waimai.csv", "platform"), ("handlabels_banking77.csv", "email")):
        path = data_dir() / name
        if path.exists() and by_file:
            sections.append(measure_handlabels(clf_a, by_file, path, channel))
    channels = {"banking77": "email", "waimai": "platform", "tweets": "platform"}
    for r in all_rows:
        d = clf_a.decide(r.text, channel=channels[r.corpus])
        if d.priority == "urgent":
            urgent.append((r, d))
    sections.append(urgent_section(urgent, read_verdicts(data_dir() / "urgent_verdicts.csv")))
    sample = [r.text for r in all_rows[:: max(1, len(all_rows) // 4000)]]
    rate = measure_throughput(clf_a, sample)
    sections.append(Section("Throughput", [
        f"- **{rate:,.0f} decisions/s with masking** (preset A, one process, CPU time, {len(sample):,} corpus "
        "texts of all three corpora repeated to 20,000 decisions)"]))
    return CorpusReport(sections, urgent)


def render(report: CorpusReport) -> str:
    out = []
    for sec in report.sections:
        out += [f"### {sec.title}", "", *sec.lines, ""]
    return "\n".join(out)


def render_urgent(report: CorpusReport) -> str:
    """The urgent decisions with the text that fired them: for the terminal only (corpus text)."""
    verdicts = read_verdicts(data_dir() / "urgent_verdicts.csv")
    out = [f"{len(report.urgent)} urgent decisions (read them: is each defensible? verdicts: tests/data/urgent_verdicts.csv)"]
    for r, d in report.urgent:
        why = [e for e in d.explanation if e.startswith("p.urgent.")]
        verdict = verdicts.get((r.file, r.row), ("UNREAD", ""))[0]
        out.append(f"  {r.file}:{r.row}  [{verdict}]  {'; '.join(why)}  | {r.text[:120]}")
    return "\n".join(out)
