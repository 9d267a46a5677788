"""Words, not substrings: the text forms the triage rules match on.

Customers write "wanna recover my pwd", "i cant log in", "挨着火车轨道". Matching letters
inside other words reads 火车 (train) as 火 (fire) and "terror" as "error", so rules
match whole words:

- English is normalised lightly (`normalise_english`): case, curly apostrophes,
  contractions ("can't" → "cannot", "won't" → "will not", "didn't" → "did not") and a
  short list of everyday misspellings and chat forms (pwd → password, ur → your,
  recieve → receive), so one lexicon term covers the ways people type it; ASCII ends of
  a hit must sit at word boundaries (checked by the matcher).
- Chinese is segmented with rjieba (the Rust port of jieba, same dictionary and HMM; ~30x
  jieba's speed, measured in docs/eval.md): a hit must start and end on a word boundary
  (`Segmented.aligned`), so 着火 is not found in 挨着火车 and 媒体 is still found in 找媒体.
  Segmentation is done once per text, lazily (only when a Chinese hit needs checking),
  and cached for the few rules that look at the same text.

Clauses are split on punctuation (`clause_bounds`): negation and intensity reach across
the words of one clause ("不是很满意", "没生效") and never across a comma.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

import rjieba

# Clause boundaries in normalised text (half-width punctuation after NFKC, plus the CJK ones NFKC keeps).
CLAUSE_BREAK = re.compile(r"[,.!?;:\n。、~～…]")

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "´": "'", "`": "'"})

# Contractions first (they contain the apostrophe), then chat forms and misspellings; the keys are
# whole words of lower-case text. The right side is what lexicon terms are written against.
_CONTRACTIONS = {
    "can't": "cannot", "cant": "cannot", "can not": "cannot", "won't": "will not", "wont": "will not",
    "don't": "do not", "dont": "do not", "doesn't": "does not", "doesnt": "does not",
    "didn't": "did not", "didnt": "did not", "isn't": "is not", "isnt": "is not",
    "aren't": "are not", "arent": "are not", "wasn't": "was not", "wasnt": "was not",
    "weren't": "were not", "haven't": "have not", "havent": "have not", "hasn't": "has not",
    "hasnt": "has not", "hadn't": "had not", "couldn't": "could not", "couldnt": "could not",
    "wouldn't": "would not", "wouldnt": "would not", "shouldn't": "should not", "shouldnt": "should not",
    "ain't": "is not", "i'm": "i am", "im": "i am", "i've": "i have", "ive": "i have", "i'd": "i would",
    "i'll": "i will", "it's": "it is", "that's": "that is", "there's": "there is", "what's": "what is",
    "where's": "where is", "you're": "you are", "they're": "they are", "we're": "we are",
    "let's": "let us",
}
_SPELLING = {
    "pwd": "password", "passwd": "password", "pasword": "password", "passowrd": "password",
    "ur": "your", "u": "you", "r": "are", "pls": "please", "plz": "please",
    "plse": "please", "thx": "thanks", "thnx": "thanks", "ty": "thank you", "wanna": "want to",
    "gonna": "going to", "gotta": "got to", "recieve": "receive", "recieved": "received",
    "recieving": "receiving", "acct": "account", "acc": "account", "adress": "address",
    "transfered": "transferred", "transfering": "transferring",
    "payed": "paid", "cancelled": "canceled", "cancelling": "canceling", "dissapointed": "disappointed",
    "disapointed": "disappointed", "definately": "definitely", "wierd": "weird", "loggin": "login",
    "log-in": "log in", "e-mail": "email", "verfication": "verification", "verifcation": "verification",
    "varification": "verification", "asap": "as soon as possible",
}
_ENGLISH = {**_CONTRACTIONS, **_SPELLING}
_ENGLISH_WORD = re.compile(
    r"(?<![a-z0-9'])(" + "|".join(re.escape(k) for k in sorted(_ENGLISH, key=len, reverse=True)) + r")(?![a-z0-9'])"
)
_HAS_ASCII_LETTER = re.compile(r"[a-z]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def normalise_english(lower: str) -> str:
    """Contractions and common misspellings to one spelling (input is lower case already)."""
    if not _HAS_ASCII_LETTER.search(lower):
        return lower
    text = lower.translate(_APOSTROPHES)
    text = _ENGLISH_WORD.sub(lambda m: _ENGLISH[m.group(1)], text)
    if "n't" in text:  # any other negative contraction: "needn't" -> "need not"
        text = re.sub(r"([a-z])n't(?![a-z])", r"\1 not", text)
    return text


def is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


@dataclass(frozen=True, slots=True)
class Segmented:
    """A text with its word boundaries (character offsets where a Chinese word starts or ends)."""

    text: str
    boundaries: frozenset[int]

    def aligned(self, start: int, end: int) -> bool:
        """True when the hit [start, end) is made of words, not of pieces of other words.

        A one-character hit must be a word of its own. A longer hit must begin or end where
        a word does: 着火 in 挨着|火车 cuts two words and is rejected, while 气死 in the
        dictionary idiom 气死我了 or 洒了 after 汤洒 (the segmenter's own merges) still count.
        Only Chinese ends are checked; ASCII ends are checked as word boundaries elsewhere.
        """
        text = self.text
        start_ok = not (start < len(text) and is_cjk(text[start])) or start in self.boundaries
        end_ok = not (end > 0 and is_cjk(text[end - 1])) or end in self.boundaries
        if end - start <= 1:
            return start_ok and end_ok
        return start_ok or end_ok

    def words(self) -> list[str]:
        cuts = sorted(self.boundaries | {0, len(self.text)})
        return [self.text[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if self.text[a:b].strip()]


@lru_cache(maxsize=512)
def segment(text: str) -> Segmented:
    """Word boundaries of `text` (cached: every rule of one decision looks at the same text)."""
    bounds = set(accumulate(map(len, rjieba.cut(text)), initial=0))
    bounds.add(len(text))
    return Segmented(text, frozenset(bounds))


CJK_TEXT, LATIN_TEXT = 1, 2


@lru_cache(maxsize=1024)
def scripts(text: str) -> int:
    """Bit mask of the scripts in `text` (CJK_TEXT, LATIN_TEXT): a rule skips terms of a script the text lacks."""
    return (CJK_TEXT if _CJK.search(text) else 0) | (LATIN_TEXT if _HAS_ASCII_LETTER.search(text) else 0)


def clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The clause around [start, end): from the punctuation before it to the punctuation after it."""
    lo = start
    while lo > 0 and not CLAUSE_BREAK.match(text, lo - 1):
        lo -= 1
    m = CLAUSE_BREAK.search(text, end)
    return lo, (m.start() if m else len(text))
