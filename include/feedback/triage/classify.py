"""Rule-based classification, routing and priority of one feedback item (反馈分类与优先级判定).

`Classifier.from_config()` compiles the taxonomy once; `decide(text, ...)` returns a
`Decision`: the class(es) of the preset, the owning department and handler group,
priority with its reasons, the customer's tone, a confidence and every rule id that
fired, so an operator can see why an item went where it went and correct it.

Rules are explicit and versioned (classification standards are revised quarterly),
which is why they come first; a model learned from operators' corrections
(`feedback.triage.learned`) is only used where it measurably beats them.

Text given to `decide` is already masked; rules never look at contact data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feedback.errors import ConfigError
from feedback.triage.priority import EmotionDetector, PriorityEngine
from feedback.triage.taxonomy import (
    AnchorScan,
    CompiledMatcher,
    MatcherSet,
    Preset,
    Taxonomy,
    category_label,
    compile_matcher,
    department_label,
    load_taxonomy,
    normalise,
)

if TYPE_CHECKING:
    from feedback.triage.learned import LearnedModel

__all__ = ["Classifier", "Decision", "category_label", "department_label"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What triage decided about one item, and why. `as_dict()` is JSON-ready."""

    categories: list[str]
    department: str
    handler_group: str
    priority: str
    emotion: str
    confidence: float
    rule_ids: list[str]
    priority_reasons: list[str]
    needs_review: bool
    preset: str = "A"
    source: str = "rules"  # "rules", or "learned" when a chosen learned model set the class
    scores: dict[str, float] = field(default_factory=dict)
    # Who set the class: "rules" (a classification rule fired), "model" (a learned model), or
    # "fallback" (nothing fired: the preset's fallback class, sent to review).
    decided_by: str = "rules"
    # One line per piece of evidence, "rule id: the words that fired it" (class rules, priority
    # triggers, tone), so an operator can read why; a model adds its top features here.
    explanation: list[str] = field(default_factory=list)
    negative: bool = False  # negative wording or angry tone (what lets a public platform item move up)

    @property
    def category(self) -> str:
        """The primary class (the only one in a single-label preset)."""
        return self.categories[0]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["confidence"] = round(self.confidence, 3)
        out["scores"] = {k: round(v, 3) for k, v in self.scores.items()}
        return out


@dataclass(frozen=True, slots=True)
class _Rule:
    matcher: CompiledMatcher
    votes: str
    weight: float
    department: str | None
    handler_group: str | None


class Classifier:
    """A preset's rules, the priority rules and the tone markers, compiled once.

    Thread-safe and stateless after construction: build one per process (or task) and
    call `decide` for every item.
    """

    def __init__(self, taxonomy: Taxonomy, preset: str | None = None):
        name = preset or taxonomy.default_preset
        if name not in taxonomy.presets:
            raise ConfigError(
                f"taxonomy preset {name!r} does not exist; known presets: {', '.join(taxonomy.presets)}"
            )
        self.taxonomy = taxonomy
        self.preset: str = name
        self._preset: Preset = taxonomy.presets[name]
        self._rules = tuple(
            _Rule(compile_matcher(r, taxonomy.negation_sets), r.votes, r.weight, r.department, r.handler_group)
            for r in self._preset.rules
        )
        self._order = {c: i for i, c in enumerate([*self._preset.tie_order, *self._preset.classes])}
        self._hints: dict[str, str] = {}
        for cname, cat in self._preset.classes.items():
            for alias in [cname, *cat.label.values(), *cat.hint_aliases]:
                self._hints.setdefault(normalise(alias).strip(), cname)
        self._emotion = EmotionDetector(taxonomy)
        self._priority = PriorityEngine(taxonomy)
        # One scan per text for the literals every rule's hits contain: rules that cannot fire are skipped.
        self._matchers = MatcherSet(r.matcher for r in self._rules)
        self._scan = AnchorScan(self._matchers.anchors | self._emotion.matchers.anchors
                                | self._priority.matchers.anchors)
        self._prior = taxonomy.confidence.prior
        self._nothing_fired = taxonomy.confidence.nothing_fired
        self._review_threshold = taxonomy.review_threshold

    @classmethod
    def from_config(cls, preset: str | None = None, path: Path | None = None) -> Classifier:
        """Load `include/config/taxonomy.yaml` (or `path`) and compile the preset (default: the file's)."""
        return cls(load_taxonomy(path), preset)

    @property
    def classes(self) -> list[str]:
        return list(self._preset.classes)

    def route(self, category: str) -> tuple[str, str]:
        """(department, handler group) that own a category: where a corrected item goes."""
        owner = self._preset.classes[category]
        return owner.department, owner.handler_group

    @property
    def multi_label(self) -> bool:
        return self._preset.multi_label

    def scores(self, text: str, *, subject: str | None = None) -> tuple[dict[str, float], list[str]]:
        """Per-class rule scores and the ids of the classification rules that fired."""
        norm = _join(text, subject)
        return self._score(norm)

    def _score(self, norm: str, spans: dict[str, tuple[int, int]] | None = None,
               present: set[str] | None = None) -> tuple[dict[str, float], list[str]]:
        scores: dict[str, float] = {}
        fired: list[str] = []
        rules = self._rules
        for i in self._matchers.candidates(present):
            rule = rules[i]
            span = rule.matcher.find(norm)
            if span is not None:
                fired.append(rule.matcher.id)
                scores[rule.votes] = scores.get(rule.votes, 0.0) + rule.weight
                if spans is not None:
                    spans[rule.matcher.id] = span
        return scores, fired

    def _rank(self, scores: dict[str, float]) -> list[tuple[str, float]]:
        return sorted(scores.items(), key=lambda kv: (-kv[1], self._order.get(kv[0], 999)))

    def decide(
        self,
        text: str,
        *,
        subject: str | None = None,
        channel: str = "webform",
        customer_tier: str = "normal",
        category_hint: str | None = None,
        learned: LearnedModel | None = None,
        rating: float | None = None,
    ) -> Decision:
        """Classify, route and prioritise one (already masked) item.

        `category_hint` is what the customer picked in a form ("功能问题"); it counts as
        one more vote (`hint_weight`), because customers often pick the wrong box.
        `learned` is used for the class only if that model was chosen over the rules
        on held-out corrections (`LearnedModel.chosen`) and was trained for this preset.
        `rating` is a platform's star rating (1-5) when the item has one: a low rating lets
        a public platform item move up one level.
        """
        norm = _join(text, subject)
        present = self._scan.present(norm)
        spans: dict[str, tuple[int, int]] = {}
        scores, rule_ids = self._score(norm, spans, present)
        class_rules_fired = bool(rule_ids)
        if category_hint:
            hinted = self._hints.get(normalise(category_hint).strip())
            if hinted and self._preset.hint_weight > 0:
                scores[hinted] = scores.get(hinted, 0.0) + self._preset.hint_weight
                rule_ids.append(f"hint:{hinted}")

        ranked = self._rank(scores)
        source = "rules"
        if not ranked:
            categories = [self._preset.fallback]
            confidence = self._nothing_fired
        elif self._preset.multi_label:
            top = ranked[0][1]
            chosen = [c for c, s in ranked if s >= self._preset.min_score and s >= self._preset.min_share * top]
            if not chosen:
                chosen = [ranked[0][0]]
            categories = chosen
            best_out = next((s for c, s in ranked if c not in chosen), 0.0)
            confidence = top / (top + best_out + self._prior)
        else:
            top = ranked[0][1]
            second = ranked[1][1] if len(ranked) > 1 else 0.0
            categories = [ranked[0][0]]
            confidence = top / (top + second + self._prior)

        verdict = None   # the learned model decides only where the rules are silent or weak (learned.consult)
        if learned is not None and learned.chosen and learned.preset == self.preset and not self._preset.multi_label:
            verdict = learned.consult(norm, categories=categories, confidence=confidence, rules_fired=bool(scores),
                                      threshold=self._review_threshold, classes=self._preset.classes)
            if verdict is not None:
                categories, confidence, source = [verdict.label], verdict.probability, "learned"
                rule_ids.append(f"learned:{verdict.label}")
        decided_by = "model" if source == "learned" else ("rules" if scores else "fallback")

        primary = categories[0]
        category = self._preset.classes[primary]
        department, handler_group = category.department, category.handler_group
        routed = [r for r in self._rules if r.votes == primary and r.department and r.matcher.id in rule_ids]
        if routed:
            best = max(routed, key=lambda r: r.weight)
            department = best.department or department
            handler_group = best.handler_group or handler_group

        tone = self._emotion.detect(norm, present)
        hits = self._priority.trigger_hits(norm, present)
        prio = self._priority.decide(
            norm, categories, emotion=tone.emotion, channel=channel, customer_tier=customer_tier,
            fired=[(h.rule_id, h.rank, h.reason, h.only_for) for h in hits], negative=tone.negative, rating=rating,
        )
        explanation = [f"{rid}: {_snippet(norm, span)}" for rid, span in spans.items()]
        if not class_rules_fired:
            explanation.append(f"no class rule fired: {categories[0]}")
        explanation += [f"{h.rule_id}: {_snippet(norm, h.span)}" for h in hits]
        if verdict is not None:
            explanation.append(verdict.explain())
        return Decision(
            categories=categories,
            department=department,
            handler_group=handler_group,
            priority=prio.level,
            emotion=tone.emotion,
            confidence=confidence,
            rule_ids=[*rule_ids, *prio.rule_ids, *tone.rule_ids],
            priority_reasons=prio.reasons,
            needs_review=confidence < self._review_threshold,
            preset=self.preset,
            source=source,
            scores=scores,
            decided_by=decided_by,
            explanation=explanation,
            negative=tone.negative,
        )


def _snippet(norm: str, span: tuple[int, int], reach: int = 6) -> str:
    """The words that fired a rule, with a few characters of context: 「…字样 [hit] 字样…」."""
    start, end = span
    before = norm[max(0, start - reach):start].replace("\n", " ")
    after = norm[end:end + reach].replace("\n", " ")
    return f"{before}[{norm[start:end]}]{after}"


def _join(text: str, subject: str | None) -> str:
    return normalise(f"{subject}\n{text}" if subject else text or "")
