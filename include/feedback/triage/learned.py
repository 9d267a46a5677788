"""An optional classifier learned from operators' corrections, used only where it beats the rules.

Operators correct the class of items the rules got wrong. Those corrections are the
best data the team has, but usually few: a model trained on them can easily be worse
than the rules. So a learned model (character n-gram TF-IDF + logistic regression,
which needs no word segmentation for Chinese) is *chosen* only when its
cross-validated macro-F1 on the corrected items beats the rules' macro-F1 on the same
held-out folds by a margin; otherwise `Classifier.decide(..., learned=model)` ignores it.

Models are stored with joblib (pickle): load only files this pipeline wrote.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import joblib
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from feedback.triage.taxonomy import normalise

if TYPE_CHECKING:
    from feedback.triage.classify import Classifier

MIN_GAIN = 0.02  # the learned model must beat the rules by this much macro-F1 to be used


@dataclass
class LearnedModel:
    """A trained pipeline plus the evidence for (or against) using it."""

    pipeline: Pipeline
    preset: str = "A"
    chosen: bool = False
    rules_scores: list[float] = field(default_factory=list)
    learned_scores: list[float] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [str(c) for c in self.pipeline.classes_]

    def predict(self, text: str) -> tuple[str, float]:
        """(label, probability) for one text (subject and body joined, as `decide` passes it)."""
        proba = self.pipeline.predict_proba([normalise(text)])[0]
        best = int(proba.argmax())
        return str(self.pipeline.classes_[best]), float(proba[best])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path)

    @classmethod
    def load(cls, path: Path) -> LearnedModel:
        """Load a model written by `save` (pickle: trusted files only)."""
        model = joblib.load(path)
        if not isinstance(model, cls):
            raise TypeError(f"{path} does not hold a LearnedModel")
        return model


def _pipeline() -> Pipeline:
    return Pipeline([
        ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1)),
        ("clf", LogisticRegression(max_iter=2000, class_weight="balanced")),
    ])


def train(examples: list[tuple[str, str]], *, preset: str = "A") -> LearnedModel:
    """Fit on (text, corrected label) pairs; `chosen` stays False until `train_and_choose` says so."""
    labels = {label for _, label in examples}
    if len(labels) < 2:
        raise ValueError("a learned classifier needs corrected examples of at least two classes")
    pipe = _pipeline()
    pipe.fit([normalise(t) for t, _ in examples], [label for _, label in examples])
    return LearnedModel(pipeline=pipe, preset=preset)


def choose(rules_scores: Sequence[float], learned_scores: Sequence[float], *,
           min_gain: float = MIN_GAIN) -> Literal["rules", "learned"]:
    """"learned" only if its mean held-out macro-F1 beats the rules' by `min_gain` and it wins most folds.

    Rules are explicit and reviewable, so ties and small or inconsistent gains go to the rules.
    """
    if not rules_scores or len(rules_scores) != len(learned_scores):
        return "rules"
    gain = statistics.fmean(learned_scores) - statistics.fmean(rules_scores)
    wins = sum(learned > rules for rules, learned in zip(rules_scores, learned_scores, strict=True))
    return "learned" if gain >= min_gain and wins * 2 > len(rules_scores) else "rules"


def cross_validate(examples: list[tuple[str, str]], classifier: Classifier, *, folds: int = 5,
                   seed: int = 0) -> tuple[list[float], list[float]]:
    """Per-fold macro-F1 of the rules and of a model trained on the other folds, on the same held-out items."""
    from feedback.triage.evaluate import macro_f1

    texts = [t for t, _ in examples]
    labels = [label for _, label in examples]
    smallest = min(Counter(labels).values())
    n_splits = max(2, min(folds, len(examples) // 2))
    splitter: KFold | StratifiedKFold
    if smallest >= n_splits:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    rules_scores: list[float] = []
    learned_scores: list[float] = []
    for train_idx, test_idx in splitter.split(texts, labels):
        train_labels = {labels[i] for i in train_idx}
        truth = [labels[i] for i in test_idx]
        rules_pred = [classifier.decide(texts[i]).categories[0] for i in test_idx]
        if len(train_labels) < 2:
            learned_pred = [next(iter(train_labels))] * len(test_idx)
        else:
            model = train([examples[i] for i in train_idx], preset=classifier.preset)
            learned_pred = [model.predict(texts[i])[0] for i in test_idx]
        rules_scores.append(macro_f1(truth, rules_pred))
        learned_scores.append(macro_f1(truth, learned_pred))
    return rules_scores, learned_scores


def train_and_choose(examples: list[tuple[str, str]], classifier: Classifier, *, folds: int = 5,
                     min_gain: float = MIN_GAIN) -> LearnedModel:
    """Cross-validate against the rules, then train on all corrections; `chosen` records the verdict."""
    if classifier.multi_label:
        raise ValueError(f"preset {classifier.preset} is multi-label; the learned classifier is single-label only")
    rules_scores, learned_scores = cross_validate(examples, classifier, folds=folds)
    model = train(examples, preset=classifier.preset)
    model.rules_scores, model.learned_scores = rules_scores, learned_scores
    model.chosen = choose(rules_scores, learned_scores, min_gain=min_gain) == "learned"
    return model
