"""The learned classifier: it decides the class where the rules are silent or weak, and says why.

Rules are explicit, reviewed and keep the urgency triggers; but real customers write in
words no lexicon lists ("wanna recover my pwd", 洗一次就起球). A company has the data to fill
that gap: its operators' corrections and its labelled history (`feedback triage
import-labels`). A linear model over character n-grams (1-3, within word boundaries: needs no
segmentation, survives typos) plus words (Chinese segmented by rjieba, as the rules are)
learns from both.

How it is consulted (`LearnedModel.consult`, called by `Classifier.decide`):

- rules silent (no class rule fired) → the model decides, with its probability as the
  confidence (so a hesitant model still sends the item to review);
- rules weak (confidence below the review threshold) → the model decides when it is surer
  than the rules are;
- rules strong → the rules decide; the model is not even asked.

Each model decision names its top features (the n-grams and words with the largest
contributions to the winning class), so a supervisor can see why.

A model is *chosen* (used by triage) only when rules-plus-model beat the rules alone on
held-out labels by a margin (macro-F1); its evaluation is stored with it in
`classifier_model` (`feedback.triage.corrections`), where versions can be rolled back.

Models are stored with joblib (pickle): load only what this pipeline wrote.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import joblib
import numpy as np
import rjieba
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, StratifiedShuffleSplit
from sklearn.pipeline import FeatureUnion, Pipeline

from feedback.triage.taxonomy import normalise

if TYPE_CHECKING:
    from feedback.triage.classify import Classifier

MIN_GAIN = 0.02        # rules+model must beat the rules by this much macro-F1 to be used
TOP_FEATURES = 5       # features named in a model decision's explanation
HOLDOUT_FROM = 2000    # from this many examples on, one stratified 20% hold-out instead of k folds
HOLDOUT_SHARE = 0.2


def words(text: str) -> list[str]:
    """Word tokens for the model: rjieba segments Chinese, English splits on spaces; punctuation dropped.

    Module-level (not a lambda) so a pickled model finds it again.
    """
    return [w for w in rjieba.cut(text) if w.strip() and any(ch.isalnum() for ch in w)]


@dataclass(frozen=True)
class ModelVerdict:
    """What the model said about one text, and why (its strongest features for the class)."""

    label: str
    probability: float
    reason: str                      # "rules silent" / "rules weak (0.40 < 0.50)"
    features: list[tuple[str, float]]

    def explain(self) -> str:
        """One explanation line: `model: <class> p=0.83 (rules silent); top features: 'pwd' 0.41, …`."""
        shown = ", ".join(f"{name!r} {weight:.2f}" for name, weight in self.features)
        return f"model: {self.label} p={self.probability:.2f} ({self.reason}); top features: {shown or 'none'}"


@dataclass
class LearnedModel:
    """A trained pipeline plus the evidence for (or against) using it."""

    pipeline: Pipeline
    preset: str = "A"
    chosen: bool = False
    rules_scores: list[float] = field(default_factory=list)     # per held-out split: macro-F1 of the rules alone
    learned_scores: list[float] = field(default_factory=list)   # ... of the rules with this model consulted
    evaluation: dict[str, Any] = field(default_factory=dict)    # accuracy, macro-F1, per class (see `evaluate`)

    @property
    def labels(self) -> list[str]:
        return [str(c) for c in self.pipeline.classes_]

    def _vector(self, text: str) -> sp.csr_matrix:
        """The text's feature row: each vectoriser directly, then stacked (FeatureUnion's own per-call overhead is
        larger than both vectorisers together on one short text)."""
        features = self.pipeline.named_steps["features"]
        norm = normalise(text)
        row: sp.csr_matrix = sp.hstack([vec.transform([norm]) for _, vec in features.transformer_list], format="csr")
        return row

    def probabilities(self, text: str) -> np.ndarray:
        proba: np.ndarray = self.pipeline.named_steps["clf"].predict_proba(self._vector(text))[0]   # sklearn: untyped
        return proba

    def predict(self, text: str) -> tuple[str, float]:
        """(label, probability) for one text (subject and body joined, as `decide` passes it)."""
        proba = self.probabilities(text)
        best = int(proba.argmax())
        return str(self.pipeline.classes_[best]), float(proba[best])

    def top_features(self, text: str, label: str, n: int = TOP_FEATURES,
                     row: sp.csr_matrix | None = None) -> list[tuple[str, float]]:
        """The features of `text` that pushed hardest towards `label` (tf-idf value x coefficient)."""
        clf = self.pipeline.named_steps["clf"]
        row = self._vector(text) if row is None else row
        classes = [str(c) for c in clf.classes_]
        coef = clf.coef_[0] * (1 if label == classes[1] else -1) if len(classes) == 2 else \
            clf.coef_[classes.index(label)]
        contributions = row.data * coef[row.indices]
        names = self._feature_names()
        order = np.argsort(-contributions)[:n]
        return [(_readable(names[row.indices[i]]), round(float(contributions[i]), 3))
                for i in order if contributions[i] > 0]

    def _feature_names(self) -> np.ndarray:
        names: np.ndarray | None = getattr(self, "_names", None)
        if names is None:
            names = self.pipeline.named_steps["features"].get_feature_names_out()
            self._names = names
        return names

    def consult(self, norm: str, *, categories: Sequence[str], confidence: float, rules_fired: bool,
                threshold: float, classes: Iterable[str]) -> ModelVerdict | None:
        """The model's decision where the rules are silent or weak; None where the rules should stand.

        `norm` is the normalised subject + text the rules saw; `confidence` the rules'
        confidence and `threshold` the review threshold under which the rules count as weak.
        """
        if rules_fired and confidence >= threshold:
            return None                                  # the rules are sure: they decide
        row = self._vector(norm)
        probabilities = self.pipeline.named_steps["clf"].predict_proba(row)[0]
        best = int(probabilities.argmax())
        label, proba = str(self.pipeline.classes_[best]), float(probabilities[best])
        if label not in set(classes):
            return None
        if rules_fired:
            if proba <= confidence and label != categories[0]:
                return None                              # weak rules, but the model is no surer
            reason = f"rules weak ({confidence:.2f} < {threshold:.2f})"
        else:
            reason = "rules silent"
        return ModelVerdict(label, proba, reason, self.top_features(norm, label, row=row))

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


def _readable(name: str) -> str:
    """'chars__ pw' → 'pw' (char n-gram), 'words__密码' → '密码' (word)."""
    return name.split("__", 1)[-1].strip() or name


def _pipeline(size: int) -> Pipeline:
    min_df = 1 if size < 500 else 2      # on a large history, once-seen n-grams are noise and bloat the model
    return Pipeline([
        ("features", FeatureUnion([
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=min_df,
                                      max_features=200_000)),
            ("words", TfidfVectorizer(tokenizer=words, token_pattern=None, lowercase=False, sublinear_tf=True,
                                      min_df=min_df)),
        ])),
        ("clf", LogisticRegression(max_iter=2000, class_weight="balanced", C=4.0)),
    ])


def train(examples: list[tuple[str, str]], *, preset: str = "A") -> LearnedModel:
    """Fit on (text, label) pairs; `chosen` stays False until `train_and_choose` says so."""
    labels = {label for _, label in examples}
    if len(labels) < 2:
        raise ValueError("a learned classifier needs corrected examples of at least two classes")
    pipe = _pipeline(len(examples))
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


def _splits(labels: list[str], folds: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """k folds for a few hundred corrections; one stratified hold-out for a company's large history."""
    if len(labels) >= HOLDOUT_FROM and min(Counter(labels).values()) >= 2:
        splits: Iterator[tuple[np.ndarray, np.ndarray]] = StratifiedShuffleSplit(   # sklearn: untyped
            n_splits=1, test_size=HOLDOUT_SHARE, random_state=seed).split(labels, labels)
        return splits
    smallest = min(Counter(labels).values())
    n_splits = max(2, min(folds, len(labels) // 2))
    if smallest >= n_splits:
        splits = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(labels, labels)
    else:
        splits = KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(labels)
    return splits


def combined(classifier: Classifier, model: LearnedModel, text: str) -> tuple[str, str, str]:
    """(rules' class, rules-plus-model class, who decided) for one text, exactly as `decide` consults the model."""
    rules = classifier.decide(text)
    verdict = model.consult(normalise(text), categories=rules.categories, confidence=rules.confidence,
                            rules_fired=bool(rules.scores), threshold=classifier.taxonomy.review_threshold,
                            classes=classifier.classes)
    if verdict is None:
        return rules.categories[0], rules.categories[0], rules.decided_by
    return rules.categories[0], verdict.label, "model"


def cross_validate(examples: list[tuple[str, str]], classifier: Classifier, *, folds: int = 5,
                   seed: int = 0) -> tuple[list[float], list[float]]:
    """Per-split macro-F1 of the rules and of rules-plus-model (trained on the other items), same held-out items."""
    rules_scores, learned_scores, _ = _evaluate(examples, classifier, folds=folds, seed=seed)
    return rules_scores, learned_scores


def _evaluate(examples: list[tuple[str, str]], classifier: Classifier, *, folds: int,
              seed: int) -> tuple[list[float], list[float], dict[str, Any]]:
    from feedback.triage.evaluate import macro_f1

    texts = [t for t, _ in examples]
    labels = [label for _, label in examples]
    rules_scores: list[float] = []
    learned_scores: list[float] = []
    truth_all: list[str] = []
    rules_all: list[str] = []
    model_all: list[str] = []
    by_model = 0
    for train_idx, test_idx in _splits(labels, folds, seed):
        train_labels = {labels[i] for i in train_idx}
        truth = [labels[i] for i in test_idx]
        if len(train_labels) < 2:
            rules_pred = [classifier.decide(texts[i]).categories[0] for i in test_idx]
            learned_pred = list(rules_pred)
        else:
            model = train([examples[i] for i in train_idx], preset=classifier.preset)
            outcomes = [combined(classifier, model, texts[i]) for i in test_idx]
            rules_pred = [o[0] for o in outcomes]
            learned_pred = [o[1] for o in outcomes]
            by_model += sum(o[2] == "model" for o in outcomes)
        rules_scores.append(macro_f1(truth, rules_pred))
        learned_scores.append(macro_f1(truth, learned_pred))
        truth_all += truth
        rules_all += rules_pred
        model_all += learned_pred
    evaluation = {
        "method": "holdout 20%" if len(examples) >= HOLDOUT_FROM else f"{len(rules_scores)}-fold",
        "held_out": len(truth_all),
        "accuracy": {"rules": _accuracy(truth_all, rules_all), "rules_with_model": _accuracy(truth_all, model_all)},
        "macro_f1": {"rules": round(statistics.fmean(rules_scores), 4),
                     "rules_with_model": round(statistics.fmean(learned_scores), 4)},
        "decided_by_model": round(by_model / len(truth_all), 4) if truth_all else 0.0,
        "per_class": per_class(truth_all, model_all),
    }
    return rules_scores, learned_scores, evaluation


def _accuracy(truth: list[str], predicted: list[str]) -> float:
    return round(sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth), 4) if truth else 0.0


def per_class(truth: list[str], predicted: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall and support per class (the classes in either list)."""
    out: dict[str, dict[str, float]] = {}
    for label in sorted(set(truth) | set(predicted)):
        tp = sum(t == p == label for t, p in zip(truth, predicted, strict=True))
        said = sum(p == label for p in predicted)
        real = sum(t == label for t in truth)
        out[label] = {"precision": round(tp / said, 4) if said else 0.0,
                      "recall": round(tp / real, 4) if real else 0.0, "support": real}
    return out


def train_and_choose(examples: list[tuple[str, str]], classifier: Classifier, *, folds: int = 5,
                     min_gain: float = MIN_GAIN, seed: int = 0) -> LearnedModel:
    """Evaluate rules-plus-model against the rules on held-out labels, then train on all; `chosen` is the verdict."""
    if classifier.multi_label:
        raise ValueError(f"preset {classifier.preset} is multi-label; the learned classifier is single-label only")
    rules_scores, learned_scores, evaluation = _evaluate(examples, classifier, folds=folds, seed=seed)
    model = train(examples, preset=classifier.preset)
    model.rules_scores, model.learned_scores = rules_scores, learned_scores
    model.chosen = choose(rules_scores, learned_scores, min_gain=min_gain) == "learned"
    model.evaluation = {**evaluation, "examples": len(examples), "classes": dict(Counter(label for _, label in examples))}
    return model
