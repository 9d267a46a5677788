"""The taxonomy file (`include/config/taxonomy.yaml`): typed models, loading and compiled rules.

Classification standards and priority rules are revised quarterly by the operations
teams (流程迭代), so they are data, not code. This module validates that data
strictly (unknown keys, duplicate rule ids, references to classes, departments or
negation sets that do not exist, regexes that do not compile: each a one-line error
naming the file, the key path and the rule id) and compiles every rule once into a
matcher, so the classifier does no parsing per item.

Matching happens on normalised text: NFKC (full-width letters and punctuation become
half-width, so `！` is `!` and `Ａｐｐ` is `app`) and lower case. Keyword and phrase
terms are normalised the same way when compiled; regex patterns are used as written
(write them for the normalised text: half-width punctuation, lower case).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import Field, ValidationInfo, field_validator, model_validator

from feedback.configfile import Name, Strict, load_file
from feedback.paths import config_dir
from feedback.triage.text import CJK_TEXT, LATIN_TEXT, normalise_english, scripts, segment
from feedback.vocabulary import Priority, PriorityCode, codes

LEVELS: tuple[str, ...] = codes(Priority)  # highest first
Level = PriorityCode
Locale = Literal["zh-CN", "en"]
EMOTIONS: tuple[str, ...] = ("angry", "anxious", "calm")
RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,79}$")]
PresetName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$")]

TAXONOMY_FILE = "taxonomy.yaml"

# Clause boundaries in normalised text: a negation or a phrase gap never crosses them.
_CLAUSE_BREAK = re.compile(r"[,.!?;:\n。、]")
_ASCII_WORD = re.compile(r"[a-z0-9]")


def normalise(text: str) -> str:
    """The form every rule sees: NFKC, lower case and one English spelling (feedback.triage.text),
    so width, case, contractions and everyday misspellings never decide a match."""
    return normalise_english(unicodedata.normalize("NFKC", text).lower())


# --- models ------------------------------------------------------------------------------------


class Negation(Strict):
    """A pattern that cancels a rule's hit when found near it (or anywhere in the text).

    `scope`: before / after / around the hit, or anywhere; `window`: the most characters
    allowed between the negation and the hit; `same_clause`: the gap may not cross a
    comma or sentence end (so "支付失败，不是第一次了" keeps its hit).
    """

    pattern: str
    scope: Literal["before", "after", "around", "anywhere"] = "around"
    window: int = Field(6, ge=0, le=200)
    same_clause: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            _negation_regex(value)
        except re.error as exc:
            raise ValueError(f"invalid regex {value!r}: {exc}") from None
        return value


class Matcher(Strict):
    """What a rule looks for.

    kind `keyword`: any of `terms` (ASCII ends of a term match at word boundaries; a
    trailing `*` makes a prefix, `crash*` matches crashes, crashed); kind `phrase`: all
    `terms` in this order within one clause, at most `window` characters apart
    ("支付…失败"); kind `regex`: `pattern`, case-insensitive, on the normalised text.

    Keyword and phrase hits must not cut a Chinese word in two (the text is segmented,
    feedback.triage.text): 着火 is not in 挨着火车. `context`: the hit only counts when one
    of these words is within `context_window` characters of it (冒火星 near 插座, "media"
    near "contact"), optionally in the same clause.
    """

    id: RuleId
    kind: Literal["keyword", "phrase", "regex"] = "keyword"
    terms: list[str] = []
    pattern: str | None = None
    window: int = Field(6, ge=0, le=80)
    negations: list[Negation] = []
    negation_sets: list[Name] = []
    context: list[str] = []
    context_window: int = Field(12, ge=1, le=200)
    context_same_clause: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> Matcher:
        if self.kind == "regex":
            if not self.pattern:
                raise ValueError(f"rule {self.id!r}: kind regex needs a `pattern`")
            if self.terms:
                raise ValueError(f"rule {self.id!r}: kind regex takes `pattern`, not `terms`")
        else:
            if self.pattern:
                raise ValueError(f"rule {self.id!r}: kind {self.kind} takes `terms`, not `pattern`")
            wanted = 2 if self.kind == "phrase" else 1
            if len([t for t in self.terms if t.strip(" *")]) < wanted:
                raise ValueError(f"rule {self.id!r}: kind {self.kind} needs at least {wanted} non-empty term(s)")
        try:
            re.compile(matcher_regex(self))
        except re.error as exc:
            raise ValueError(f"rule {self.id!r}: invalid regex: {exc}") from None
        return self


class ClassRule(Matcher):
    """A classification rule: when it fires it adds `weight` to the class it `votes` for.

    `department` / `handler_group` optionally route more precisely than the class does
    (其他问题 → 财务部 for a billing question, 市场部 for campaign rules).
    """

    votes: Name
    weight: float = Field(1.0, gt=0, le=100)
    department: Name | None = None
    handler_group: str | None = None


class Trigger(Matcher):
    """A priority trigger: when it fires the item is at least `level` (reason shown to operators)."""

    level: Level
    reason: Name
    only_for: list[Name] = []


class EmotionMarker(Matcher):
    """Evidence of the customer's tone (情绪): markers add `weight` toward `emotion`.

    `negative` markers (差评, 失望, terrible) do not change the stored tone (angry / anxious /
    calm); they say the item is negative, which is what lets a public platform item move up.
    """

    emotion: Literal["angry", "anxious", "negative"]
    weight: float = Field(1.0, gt=0, le=100)


class Category(Strict):
    label: dict[Locale, str]
    department: Name
    handler_group: str = Field(min_length=1)
    hint_aliases: list[str] = []

    @field_validator("label")
    @classmethod
    def _both_locales(cls, value: dict[str, str]) -> dict[str, str]:
        missing = {"zh-CN", "en"} - set(value)
        if missing:
            raise ValueError(f"label needs both zh-CN and en (missing {', '.join(sorted(missing))})")
        return value


class Department(Strict):
    label: dict[Locale, str]

    @field_validator("label")
    @classmethod
    def _both_locales(cls, value: dict[str, str]) -> dict[str, str]:
        return Category._both_locales(value)


class Preset(Strict):
    """One classification scheme: its classes, their owners, and the rules that vote.

    Single-label presets take the class with the highest score; multi-label presets take
    every class scoring at least `min_score` and at least `min_share` of the top score.
    Nothing fired means `fallback` with low confidence (so the item goes to review).
    """

    description: str = ""
    multi_label: bool = False
    fallback: Name
    min_score: float = Field(1.0, gt=0)
    min_share: float = Field(0.0, ge=0, le=1)
    hint_weight: float = Field(1.0, ge=0)
    tie_order: list[Name] = []
    classes: dict[Name, Category]
    rules: list[ClassRule]

    @model_validator(mode="after")
    def _references(self) -> Preset:
        known = ", ".join(self.classes)
        if self.fallback not in self.classes:
            raise ValueError(f"fallback: unknown class {self.fallback!r} (known: {known})")
        for name in self.tie_order:
            if name not in self.classes:
                raise ValueError(f"tie_order: unknown class {name!r} (known: {known})")
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                raise ValueError(f"rules[{i}]: rule id {rule.id!r} is used twice")
            seen.add(rule.id)
            if rule.votes not in self.classes:
                raise ValueError(f"rules[{i}]: rule {rule.id!r} votes for unknown class {rule.votes!r} (known: {known})")
        return self


class Confidence(Strict):
    """Confidence = top score / (top + runner-up + prior): a vote share shrunk toward doubt."""

    prior: float = Field(1.0, ge=0)
    nothing_fired: float = Field(0.2, ge=0, le=1)


class Emotion(Strict):
    angry_threshold: float = Field(2.0, gt=0)
    anxious_threshold: float = Field(1.0, gt=0)
    negative_threshold: float = Field(1.0, gt=0)
    markers: list[EmotionMarker] = []


class Modifiers(Strict):
    """Bumps on top of the base level (domain.md §3): VIP, tone, channel; then the caps.

    A `channel_bump` applies only to negative items (negative wording, angry tone, or a star
    rating at or below `low_rating`): the channel alone never raises an item. `ceiling` is the
    highest level a bump can reach (the shipped file says high: urgent comes only from a trigger);
    a trigger above it keeps its level.
    """

    vip_tiers: list[str] = ["vip"]
    vip_bump: int = Field(1, ge=0, le=3)
    emotion_bump: dict[Literal["angry", "anxious", "calm"], int] = {"angry": 1}
    channel_bump: dict[str, int] = {}
    low_rating: float = Field(2, ge=0, le=10)
    max_total_bump: int = Field(1, ge=0, le=3)
    ceiling: Level = "urgent"
    class_ceiling: dict[Name, Level] = {}

    @field_validator("emotion_bump", "channel_bump")
    @classmethod
    def _small(cls, value: dict[str, int]) -> dict[str, int]:
        for key, bump in value.items():
            if not 0 <= bump <= 3:
                raise ValueError(f"{key}: a bump is 0 to 3 levels, got {bump}")
        return value


class PriorityConfig(Strict):
    default: Level = "medium"
    class_defaults: dict[Name, Level] = {}
    triggers: list[Trigger] = []
    modifiers: Modifiers = Field(default_factory=Modifiers)


class Taxonomy(Strict):
    """The whole file. Field order matters: later validators check references to earlier fields."""

    version: Literal[1] = 1
    default_preset: PresetName
    review_threshold: float = Field(0.5, ge=0, le=1)
    confidence: Confidence = Field(default_factory=Confidence)
    departments: dict[Name, Department]
    negation_sets: dict[Name, list[Negation]] = {}
    presets: dict[PresetName, Preset]
    emotion: Emotion = Field(default_factory=Emotion)
    priority: PriorityConfig = Field(default_factory=PriorityConfig)

    @field_validator("presets")
    @classmethod
    def _preset_references(cls, presets: dict[str, Preset], info: ValidationInfo) -> dict[str, Preset]:
        departments = info.data.get("departments")
        sets = info.data.get("negation_sets", {})
        for pname, preset in presets.items():
            for cname, category in preset.classes.items():
                if departments is not None and category.department not in departments:
                    raise ValueError(
                        f"{pname}.classes.{cname}.department: unknown department {category.department!r} "
                        f"(known: {', '.join(departments)})"
                    )
            for i, rule in enumerate(preset.rules):
                if departments is not None and rule.department and rule.department not in departments:
                    raise ValueError(
                        f"{pname}.rules[{i}]: rule {rule.id!r} routes to unknown department {rule.department!r}"
                    )
                _check_sets(rule, sets, f"{pname}.rules[{i}]")
        return presets

    @field_validator("emotion")
    @classmethod
    def _emotion_references(cls, emotion: Emotion, info: ValidationInfo) -> Emotion:
        sets = info.data.get("negation_sets", {})
        for i, marker in enumerate(emotion.markers):
            _check_sets(marker, sets, f"markers[{i}]")
        return emotion

    @field_validator("priority")
    @classmethod
    def _priority_references(cls, priority: PriorityConfig, info: ValidationInfo) -> PriorityConfig:
        sets = info.data.get("negation_sets", {})
        presets: dict[str, Preset] = info.data.get("presets") or {}
        classes = {c for p in presets.values() for c in p.classes}
        known = ", ".join(sorted(classes))

        def check_class(name: str, where: str) -> None:
            if presets and name not in classes:
                raise ValueError(f"{where}: unknown class {name!r} (known in any preset: {known})")

        for name in priority.class_defaults:
            check_class(name, "class_defaults")
        for name in priority.modifiers.class_ceiling:
            check_class(name, "modifiers.class_ceiling")
        ids = {r.id: f"presets.{p}" for p, preset in presets.items() for r in preset.rules}
        emotion: Emotion | None = info.data.get("emotion")
        for marker in emotion.markers if emotion else []:
            if marker.id in ids:
                raise ValueError(f"rule id {marker.id!r} (emotion.markers) is also used in {ids[marker.id]}")
            ids[marker.id] = "emotion.markers"
        for i, trigger in enumerate(priority.triggers):
            where = f"triggers[{i}]"
            if trigger.id in ids:
                raise ValueError(f"{where}: rule id {trigger.id!r} is also used in {ids[trigger.id]}")
            ids[trigger.id] = "priority.triggers"
            for name in trigger.only_for:
                check_class(name, f"{where}: rule {trigger.id!r} only_for")
            _check_sets(trigger, sets, where)
        return priority

    @model_validator(mode="after")
    def _default_exists(self) -> Taxonomy:
        if self.default_preset not in self.presets:
            raise ValueError(f"default_preset {self.default_preset!r} is not one of the presets ({', '.join(self.presets)})")
        return self


def _check_sets(rule: Matcher, sets: dict[str, list[Negation]], where: str) -> None:
    for name in rule.negation_sets:
        if name not in sets:
            raise ValueError(f"{where}: rule {rule.id!r} uses unknown negation set {name!r} (define it under negation_sets)")


# --- loading -----------------------------------------------------------------------------------


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Read and validate the taxonomy; every mistake is a one-line ConfigError."""
    return load_file(path or config_dir() / TAXONOMY_FILE, Taxonomy)


@lru_cache(maxsize=4)
def _cached(path: str) -> Taxonomy:
    return load_taxonomy(Path(path))


def department_label(code: str, locale: str = "zh-CN", taxonomy: Taxonomy | None = None) -> str:
    """The department's name for people (产品技术部 / Product & Engineering); the code if unknown.

    Reports and mails show names; the register stores codes so a renamed department
    does not rewrite history.
    """
    tax = taxonomy or _cached(str(config_dir() / TAXONOMY_FILE))
    dept = tax.departments.get(code)
    if dept is None:
        return code
    return dept.label.get(cast(Locale, locale)) or dept.label.get("zh-CN") or code   # another locale just misses


def category_label(code: str, locale: str = "zh-CN", preset: str | None = None,
                   taxonomy: Taxonomy | None = None) -> str:
    """The class's name for people (功能问题 / Function problem); the code if unknown."""
    tax = taxonomy or _cached(str(config_dir() / TAXONOMY_FILE))
    order = [preset] if preset else [tax.default_preset, *tax.presets]
    for name in order:
        category = tax.presets.get(name) and tax.presets[name].classes.get(code)
        if category:
            return category.label.get(cast(Locale, locale)) or category.label.get("zh-CN") or code
    return code


# --- compiling ---------------------------------------------------------------------------------
#
# Speed matters (triage runs every rule on every item): keyword and phrase rules compile to plain
# alternations of literals without flags, which `re` scans fast; ASCII word boundaries are checked
# in Python on each hit. The text is lower case already, so regexes are compiled without
# IGNORECASE and must be written in lower case (checked at load).

_ESCAPE = re.compile(r"\\.")
_NEGATION_REACH = 60  # longest negation match considered, in characters
_UPPER = re.compile(r"[A-Z]")


def _lowercase_pattern(pattern: str) -> None:
    if _UPPER.search(_ESCAPE.sub("", pattern)):
        raise re.error("write the pattern in lower case (text is lower-cased before matching)")


def _literal(term: str) -> str:
    return re.escape(normalise(term.rstrip("*")).strip()).replace(r"\ ", " ")


def matcher_regex(rule: Matcher) -> str:
    """The one regex a rule compiles to (keywords become an alternation, phrases a gapped sequence)."""
    if rule.kind == "regex":
        _lowercase_pattern(rule.pattern or "")
        return rule.pattern or ""
    terms = [t for t in rule.terms if t.strip(" *")]
    if rule.kind == "keyword":
        ordered = sorted({_literal(t) for t in terms}, key=lambda t: (-len(t), t))
        return "|".join(ordered)
    gap = rf"[^,.!?;:\n。]{{0,{rule.window}}}?"
    return gap.join("(?:" + _literal(t) + ")" for t in terms)


def _negation_regex(pattern: str) -> re.Pattern[str]:
    _lowercase_pattern(pattern)
    return re.compile(pattern)


_MAX_PREFIXES = 64


def _first_literals(items: Any) -> set[str] | None:
    """The literal strings every match of a parsed regex sequence starts with, or None if unknown."""
    # the parser's node types, used read-only; typeshed has no stubs for re's private modules
    from re import _constants as c  # type: ignore[attr-defined]

    seq = list(items)
    for i, (op, av) in enumerate(seq):
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            continue  # zero-width: look at what follows
        if op is c.LITERAL:
            run = chr(av)
            for op2, av2 in seq[i + 1:]:
                if op2 is not c.LITERAL:
                    break
                run += chr(av2)
            return {run}
        if op is c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            return None if add_flags or del_flags else _first_literals(sub)
        if op is c.BRANCH:
            out: set[str] = set()
            for alt in av[1]:
                firsts = _first_literals(alt)
                if firsts is None:
                    return None
                out |= firsts
            return out if len(out) <= _MAX_PREFIXES else None
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, _high, sub = av
            return _first_literals(sub) if low >= 1 else None
        if op is c.IN and all(o is c.LITERAL for o, _ in av) and len(av) <= _MAX_PREFIXES:
            return {chr(v) for _, v in av}
        return None
    return None


def _first_literal_set(pattern: str) -> frozenset[str] | None:
    """The literals every match of a pattern starts with, if derivable (and none of them empty)."""
    from re import _parser  # type: ignore[attr-defined]  # private: typeshed has no stubs for it

    try:
        firsts = _first_literals(list(_parser.parse(pattern)))
    except Exception:  # noqa: BLE001 - an optimisation only: fall back to the full regex
        return None
    if not firsts or any(not f for f in firsts):
        return None
    return frozenset(firsts)


def _prefilter(pattern: str) -> re.Pattern[str] | None:
    """A plain alternation of the literals a pattern's matches start with (fast to scan), if derivable.

    `re` scans a pure literal alternation quickly but not a regex whose branches begin with
    groups; searching the prefilter first skips most texts and tells the full regex where
    the earliest possible match starts.
    """
    firsts = _first_literal_set(pattern)
    if firsts is None:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(firsts, key=lambda f: (-len(f), f))))


def _required_literals(items: Any) -> set[str] | None:
    """Literals of which every match of a parsed regex sequence contains one, or None if unknown.

    Each element of the sequence that every match must pass through gives a candidate set
    (a run of literals, a class of literal characters, a group, a branch whose every
    alternative gives one, a repeat of at least one); the most selective candidate is kept
    (longest shortest literal, then fewest). Assertions are skipped (what they look at need
    not be part of the match), and so are groups with flags of their own.
    """
    # the parser's node types, used read-only; typeshed has no stubs for re's private modules
    from re import _constants as c  # type: ignore[attr-defined]

    seq = list(items)
    best: set[str] | None = None

    def consider(found: set[str] | None) -> None:
        nonlocal best
        if not found or any(not f for f in found) or len(found) > _MAX_PREFIXES:
            return
        if best is None or (min(map(len, found)), -len(found)) > (min(map(len, best)), -len(best)):
            best = found

    run = ""
    for op, av in [*seq, (None, None)]:
        if op is c.LITERAL:
            run += chr(av)
            continue
        if run:
            consider({run})
            run = ""
        if op is c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if not add_flags and not del_flags:
                consider(_required_literals(sub))
        elif op is c.ATOMIC_GROUP:
            consider(_required_literals(av))
        elif op is c.BRANCH:
            out: set[str] = set()
            for alt in av[1]:
                found = _required_literals(alt)
                if found is None:
                    out = set()
                    break
                out |= found
            consider(out)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, _high, sub = av
            if low >= 1:
                consider(_required_literals(sub))
        elif op is c.IN and all(o is c.LITERAL for o, _ in av):
            consider({chr(v) for _, v in av})
    return best


def _regex_anchors(pattern: str) -> frozenset[str] | None:
    from re import _parser  # type: ignore[attr-defined]  # private: typeshed has no stubs for it

    try:
        parsed = _parser.parse(pattern)
    except Exception:  # noqa: BLE001 - an optimisation only: the rule is always run
        return None
    if parsed.state.flags & (re.IGNORECASE | re.LOCALE):
        return None
    found = _required_literals(list(parsed))
    return frozenset(found) if found else None


def matcher_anchors(rule: Matcher) -> frozenset[str] | None:
    """Literals of which every hit of the rule contains at least one; None when they cannot be derived.

    A text holding none of them cannot fire the rule, so `AnchorScan` finds which rules are
    worth running on a text in one pass instead of running every rule's regex (issue 17).
    Keywords: their terms; a phrase: its first term; a regex: see `_required_literals`.
    """
    if rule.kind == "regex":
        return _regex_anchors(rule.pattern or "")
    literals = [normalise(t.rstrip("*")).strip() for t in rule.terms if t.strip(" *")]
    if rule.kind != "keyword":
        literals = literals[:1]
    if not literals or any(not lit for lit in literals):
        return None
    return frozenset(literals)


class AnchorScan:
    """Which anchors (see `matcher_anchors`) a text holds, from one pass over its two-character pieces.

    Anchors are bucketed by their first two characters (one-character anchors by that
    character), so a text is cut into its pairs of characters once and only the anchors
    whose bucket occurs in it are looked for. Exact: an anchor is reported if and only if
    it is a substring of the text.
    """

    def __init__(self, anchors: Iterable[str]):
        singles: set[str] = set()
        pairs: dict[tuple[str, str], list[str]] = {}
        for anchor in set(anchors):
            if len(anchor) == 1:
                singles.add(anchor)
            else:
                pairs.setdefault((anchor[0], anchor[1]), []).append(anchor)
        self._singles = singles
        self._pairs = {k: tuple(v) for k, v in pairs.items()}
        self._pair_keys = frozenset(self._pairs)

    def present(self, text: str) -> set[str]:
        found = self._singles.intersection(text)
        for key in self._pair_keys.intersection(zip(text, text[1:], strict=False)):
            for anchor in self._pairs[key]:
                if len(anchor) == 2 or anchor in text:
                    found.add(anchor)
        return found


class MatcherSet:
    """Matchers in their order, with the anchors that let `candidates` skip those a text cannot fire."""

    def __init__(self, matchers: Iterable[CompiledMatcher]):
        self.matchers = tuple(matchers)
        self._always = frozenset(i for i, m in enumerate(self.matchers) if m.anchors is None)
        by_anchor: dict[str, set[int]] = {}
        for i, m in enumerate(self.matchers):
            for anchor in m.anchors or ():
                by_anchor.setdefault(anchor, set()).add(i)
        self._by_anchor = {a: frozenset(ix) for a, ix in by_anchor.items()}

    @property
    def anchors(self) -> frozenset[str]:
        return frozenset(self._by_anchor)

    def candidates(self, present: set[str] | None) -> list[int] | range:
        """Positions of the matchers that may fire on a text holding `present` (all when None), in order."""
        if present is None:
            return range(len(self.matchers))
        found = set(self._always)
        by_anchor = self._by_anchor
        for anchor in present:
            ix = by_anchor.get(anchor)
            if ix is not None:
                found |= ix
        return sorted(found)


@dataclass(frozen=True, slots=True)
class _CompiledNegation:
    regex: re.Pattern[str]
    scope: str
    window: int
    same_clause: bool

    def cancels(self, text: str, start: int, end: int) -> bool:
        if self.scope == "anywhere":
            return self.regex.search(text) is not None
        # Only a negation near the hit can cancel it: search a window (a negation is short).
        lo = max(0, start - self.window - _NEGATION_REACH)
        hi = min(len(text), end + self.window + _NEGATION_REACH)
        for m in self.regex.finditer(text, lo, hi):
            ms, me = m.start(), m.end()
            if me <= start:
                if self.scope == "after":
                    continue
                gap_from, gap_to = me, start
            elif ms >= end:
                if self.scope == "before":
                    continue
                gap_from, gap_to = end, ms
            else:  # overlaps the hit: "不是支付失败" around "支付失败"
                if self.scope == "before" and ms >= start:
                    continue  # a negation that opens the hit is part of it: 不好吃, not working
                if self.scope == "after" and me < end:
                    continue
                return True
            if gap_to - gap_from > self.window:
                continue
            if self.same_clause and _CLAUSE_BREAK.search(text, gap_from, gap_to):
                continue
            return True
        return False


def _is_word(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("0" <= ch <= "9")


@dataclass(frozen=True, slots=True)
class CompiledMatcher:
    """A rule compiled once: `fires(text)` on normalised text, boundaries and negations checked per hit."""

    id: str
    regex: re.Pattern[str]
    negations: tuple[_CompiledNegation, ...]
    boundaries: bool = False  # keyword/phrase: an ASCII end of a hit must sit at a word boundary
    prefixes: frozenset[str] = frozenset()  # keyword terms written with a trailing * (no right boundary)
    prefilter: re.Pattern[str] | None = None  # regex rules: literals every match starts with
    words: bool = False  # keyword/phrase: a hit must not cut a Chinese word (segmentation)
    context: re.Pattern[str] | None = None  # one of these words must be near the hit
    context_window: int = 12
    context_same_clause: bool = False
    # keyword rules: the alternation split by script, so a Chinese text never scans English terms
    by_script: tuple[re.Pattern[str] | None, re.Pattern[str] | None] | None = None
    # literals of which every hit contains one (None: unknown): a text without any cannot fire the rule
    anchors: frozenset[str] | None = None

    def _in_context(self, text: str, start: int, end: int) -> bool:
        assert self.context is not None
        lo, hi = max(0, start - self.context_window), min(len(text), end + self.context_window)
        for m in self.context.finditer(text, lo, hi):
            if m.start() < end and m.end() > start:
                continue  # the hit itself is not its own context
            a, b = (m.end(), start) if m.end() <= start else (end, m.start())
            if self.context_same_clause and _CLAUSE_BREAK.search(text, a, b):
                continue
            return True
        return False

    def _bounded(self, text: str, start: int, end: int, hit: str) -> bool:
        if _is_word(hit[0]) and start > 0 and _is_word(text[start - 1]):
            return False
        if _is_word(hit[-1]) and end < len(text) and _is_word(text[end]) and hit not in self.prefixes:
            return False
        return True

    def fires(self, text: str) -> bool:
        return self.find(text) is not None

    def find(self, text: str) -> tuple[int, int] | None:
        """The span of the first hit that counts (boundaries, words, context and negations checked), or None."""
        regex = self.regex
        if self.by_script is not None:
            mask = scripts(text)
            if mask in (CJK_TEXT, LATIN_TEXT):
                chosen = self.by_script[0] if mask == CJK_TEXT else self.by_script[1]
                if chosen is None:
                    return None
                regex = chosen
        pos = 0
        if self.prefilter is not None:
            first = self.prefilter.search(text)
            if first is None:
                return None
            pos = first.start()
        if not self.negations and not self.boundaries and not self.words and self.context is None:
            m = regex.search(text, pos)
            return m.span() if m is not None else None
        while (m := regex.search(text, pos)) is not None:
            start, end = m.span()
            pos = start + 1
            if start == end:
                continue
            if self.boundaries and not self._bounded(text, start, end, m.group()):
                continue
            if self.words and not segment(text).aligned(start, end):
                continue
            if self.context is not None and not self._in_context(text, start, end):
                continue
            if not any(n.cancels(text, start, end) for n in self.negations):
                return start, end
        return None


def compile_matcher(rule: Matcher, negation_sets: dict[str, list[Negation]]) -> CompiledMatcher:
    """Compile a validated rule with its own negations and those of the sets it names."""
    negs = [*rule.negations]
    for name in rule.negation_sets:
        negs.extend(negation_sets[name])
    ascii_ends = rule.kind != "regex" and any(
        _ASCII_WORD.match(normalise(t.rstrip("*")).strip()[:1] or " ")
        or _ASCII_WORD.match(normalise(t.rstrip("*")).strip()[-1:] or " ")
        for t in rule.terms if t.strip(" *")
    )
    return CompiledMatcher(
        id=rule.id,
        regex=re.compile(matcher_regex(rule)),
        negations=tuple(_CompiledNegation(_negation_regex(n.pattern), n.scope, n.window, n.same_clause) for n in negs),
        boundaries=ascii_ends,
        prefixes=frozenset(normalise(t.rstrip("*")).strip() for t in rule.terms if t.endswith("*")),
        prefilter=_prefilter(rule.pattern or "") if rule.kind == "regex" else None,
        words=rule.kind != "regex",
        by_script=_split_by_script(rule) if rule.kind == "keyword" else None,
        context=_literals_regex(rule.context) if rule.context else None,
        context_window=rule.context_window,
        context_same_clause=rule.context_same_clause,
        anchors=matcher_anchors(rule),
    )


def _split_by_script(rule: Matcher) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """(terms that can match a text without Latin letters, terms that can match one without CJK)."""
    terms = [t for t in rule.terms if t.strip(" *")]
    lits = [normalise(t.rstrip("*")).strip() for t in terms]
    zh = [t for t, lit in zip(terms, lits, strict=True) if not re.search(r"[a-z]", lit)]
    en = [t for t, lit in zip(terms, lits, strict=True) if not re.search(r"[\u3400-\u9fff]", lit)]
    return (_literals_regex(zh) if zh else None, _literals_regex(en) if en else None)


def _literals_regex(terms: list[str]) -> re.Pattern[str]:
    ordered = sorted({_literal(t) for t in terms if t.strip(" *")}, key=lambda t: (-len(t), t))
    return re.compile("|".join(ordered))
