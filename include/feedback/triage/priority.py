"""Priority (优先级判定) and the customer's tone (情绪), from the taxonomy's `priority:` and `emotion:`.

The level decides every deadline downstream (domain.md §3), so the rule is simple
enough to explain in one line per item:

1. base level: the highest configured trigger that fired (支付失败 → urgent, 频繁闪退 →
   high, 界面文案 → medium, 建议 → low; a trigger may be limited to some classes with
   `only_for`), else the class's default level;
2. bumps: VIP tier, angry (or anxious) tone, the channel: a public platform item moves up
   only when it is negative (a low star rating, angry tone or negative wording), never on
   the channel alone, so `high` keeps its meaning; together at most `max_total_bump` levels;
3. caps: bumps never lift an item above `ceiling` (high: urgent comes only from a trigger, so a
   hair in a takeaway on a public platform stays high), never above a class's ceiling (praise stays low).

Every step that applied is written to `priority_reasons` so an operator sees why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from feedback.triage.taxonomy import LEVELS, CompiledMatcher, MatcherSet, Taxonomy, compile_matcher

_RANK = {level: i for i, level in enumerate(LEVELS)}  # 0 = urgent


@dataclass(frozen=True, slots=True)
class PriorityResult:
    level: str
    reasons: list[str]
    rule_ids: list[str]


@dataclass(frozen=True, slots=True)
class EmotionResult:
    emotion: str
    rule_ids: list[str]
    negative: bool = False  # negative wording (差评, 失望, terrible) or angry: what gates the channel bump


@dataclass(frozen=True, slots=True)
class TriggerHit:
    """A priority trigger that fired, with the words that fired it (shown to operators)."""

    rule_id: str
    rank: int
    reason: str
    only_for: frozenset[str]
    span: tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Trigger:
    matcher: CompiledMatcher
    rank: int
    reason: str
    only_for: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Marker:
    matcher: CompiledMatcher
    emotion: str
    weight: float


class EmotionDetector:
    """Angry / anxious / calm from configured markers (!!!, 太差了, 气死, unacceptable; 着急, ASAP).

    Tone is evidence, not a verdict: markers add weights and a threshold decides, so one
    exclamation mark in a thank-you note does not make it angry.
    """

    def __init__(self, taxonomy: Taxonomy):
        cfg = taxonomy.emotion
        self._angry_threshold = cfg.angry_threshold
        self._anxious_threshold = cfg.anxious_threshold
        self._negative_threshold = cfg.negative_threshold
        self._markers = tuple(
            _Marker(compile_matcher(m, taxonomy.negation_sets), m.emotion, m.weight) for m in cfg.markers
        )
        self.matchers = MatcherSet(m.matcher for m in self._markers)

    def detect(self, norm_text: str, present: set[str] | None = None) -> EmotionResult:
        """`norm_text` is already normalised (see taxonomy.normalise); `present` its anchors (AnchorScan), if known."""
        angry = anxious = negative = 0.0
        fired: list[str] = []
        for i in self.matchers.candidates(present):
            marker = self._markers[i]
            if marker.matcher.fires(norm_text):
                fired.append(marker.matcher.id)
                if marker.emotion == "angry":
                    angry += marker.weight
                elif marker.emotion == "negative":
                    negative += marker.weight
                else:
                    anxious += marker.weight
        is_negative = negative >= self._negative_threshold or angry >= self._angry_threshold
        if angry >= self._angry_threshold:
            return EmotionResult("angry", fired, True)
        if anxious >= self._anxious_threshold:
            return EmotionResult("anxious", fired, is_negative)
        return EmotionResult("calm", fired, is_negative)


class PriorityEngine:
    """Compiled priority rules; `decide` is pure and cheap (triggers are compiled once)."""

    def __init__(self, taxonomy: Taxonomy):
        cfg = taxonomy.priority
        self._default = _RANK[cfg.default]
        self._class_defaults = {name: _RANK[level] for name, level in cfg.class_defaults.items()}
        self._triggers = tuple(
            _Trigger(compile_matcher(t, taxonomy.negation_sets), _RANK[t.level], t.reason, frozenset(t.only_for))
            for t in cfg.triggers
        )
        self.matchers = MatcherSet(t.matcher for t in self._triggers)
        mod = cfg.modifiers
        self._vip_tiers = frozenset(t.lower() for t in mod.vip_tiers)
        self._vip_bump = mod.vip_bump
        self._emotion_bump: dict[str, int] = {tone: bump for tone, bump in mod.emotion_bump.items()}
        self._channel_bump = {k.lower(): v for k, v in mod.channel_bump.items()}
        self._low_rating = mod.low_rating
        self._max_bump = mod.max_total_bump
        self._ceiling = _RANK[mod.ceiling]
        self._class_ceiling = {name: _RANK[level] for name, level in mod.class_ceiling.items()}

    def triggers_fired(self, norm_text: str) -> list[tuple[str, int, str, frozenset[str]]]:
        """(rule id, rank, reason, only_for) of every trigger that fires, in file order."""
        return [(h.rule_id, h.rank, h.reason, h.only_for) for h in self.trigger_hits(norm_text)]

    def trigger_hits(self, norm_text: str, present: set[str] | None = None) -> list[TriggerHit]:
        """Every trigger that fires with the span of text that fired it, in file order.

        `present`: the text's anchors (taxonomy.AnchorScan), when the caller has them: triggers
        that cannot fire are skipped without running their regex.
        """
        hits = []
        for i in self.matchers.candidates(present):
            t = self._triggers[i]
            span = t.matcher.find(norm_text)
            if span is not None:
                hits.append(TriggerHit(t.matcher.id, t.rank, t.reason, t.only_for, span))
        return hits

    def decide(
        self,
        norm_text: str,
        categories: Iterable[str],
        *,
        emotion: str = "calm",
        channel: str = "webform",
        customer_tier: str = "normal",
        fired: list[tuple[str, int, str, frozenset[str]]] | None = None,
        negative: bool | None = None,
        rating: float | None = None,
    ) -> PriorityResult:
        """The level for an item already classified into `categories`, with the reasons.

        `negative` (the tone detector's verdict; angry counts as negative when not given) and
        `rating` (the platform's stars, 1-5) decide whether a channel bump applies: a public
        item is a reputational risk only when it says something bad.
        """
        cats = list(categories)
        if fired is None:
            fired = self.triggers_fired(norm_text)
        applicable = [f for f in fired if not f[3] or any(c in f[3] for c in cats)]
        rule_ids = [f[0] for f in fired]
        reasons: list[str] = []
        if applicable:
            rank = min(f[1] for f in applicable)
            seen: set[str] = set()
            for _, r, reason, _ in applicable:
                if r == rank and reason not in seen:
                    reasons.append(f"trigger:{reason}")
                    seen.add(reason)
        else:
            known = [self._class_defaults[c] for c in cats if c in self._class_defaults]
            rank = min(known) if known else self._default
            reasons.append(f"default:{'+'.join(cats) or 'none'}")

        bump = 0
        if customer_tier.lower() in self._vip_tiers and self._vip_bump:
            bump += self._vip_bump
            reasons.append("vip_bump")
        tone = self._emotion_bump.get(emotion, 0)
        if tone:
            bump += tone
            reasons.append(f"{emotion}_tone")
        chan = self._channel_bump.get(channel.lower(), 0)
        is_negative = (emotion == "angry") if negative is None else negative
        low_rating = rating is not None and rating <= self._low_rating
        if chan and (is_negative or low_rating):
            bump += chan
            reasons.append(f"channel_bump:{channel.lower()}")
            reasons.append("low_rating" if low_rating else "negative")
        if bump > self._max_bump:
            bump = self._max_bump
            reasons.append(f"bump_limit:{self._max_bump}")

        level = rank - bump
        if bump and level < 0:
            level = 0
            reasons.append(f"capped:{LEVELS[0]}")
        if bump and level < min(rank, self._ceiling):
            # Bumps stop at the ceiling (high by default: urgent comes only from a trigger, never from
            # VIP, tone or channel); a trigger at or above it keeps its own level.
            level = min(rank, self._ceiling)
            reasons.append(f"capped:{LEVELS[self._ceiling]}")
        ceilings = [self._class_ceiling[c] for c in cats if c in self._class_ceiling]
        if ceilings and len(ceilings) == len(cats):
            class_cap = max(ceilings)  # the most permissive of the item's classes
            if level < class_cap:
                level = class_cap
                reasons.append(f"class_ceiling:{LEVELS[class_cap]}")
        return PriorityResult(LEVELS[max(0, min(level, len(LEVELS) - 1))], reasons, rule_ids)
