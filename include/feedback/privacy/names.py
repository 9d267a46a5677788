"""Masking a known customer name inside free text: as a name, never as a piece of another word.

The sender's display name tells triage exactly what to mask, but a plain substring
replacement masks whatever happens to contain it: a sender called "test" turned the
subject "test multipart" into "t*** multipart", and "Ann" would eat into "Announcement".
So a Latin-script name is matched as whole words only; a name of two or more words is
specific enough to be masked wherever it stands, while a one-word name (which is often
also an ordinary word: "test", "Support", "Will") is masked only where text uses it as a
name: after a greeting or closing ("Hi Ann", "Thanks, Ann", "my name is Ann") or on a line
of its own (a signature). Chinese, Japanese and Korean names have no word boundaries and
are specific enough as written, so they are masked wherever they appear.
"""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# Words after which the next word is the person's name.
_NAME_CONTEXT = (
    r"dear|hi|hello|hey|hallo|liebe[rs]?|sehr\s+geehrte[rs]?|bonjour|hola|ciao|"
    r"regards|best|thanks|thank\s+you|cheers|sincerely|yours|greetings|gr(?:ü|ue)(?:ß|ss)e|"
    r"my\s+name\s+is|i\s+am|i'm|this\s+is|signed|from|mr\.?|mrs\.?|ms\.?|dr\.?|herr|frau"
)


def _word(value: str) -> str:
    """`value` as a whole-word pattern, inner whitespace matching any run of whitespace."""
    return r"(?<![\w@.])" + r"\s+".join(re.escape(part) for part in value.split()) + r"(?![\w@])"


def mask_name_in_text(text: str, name: str, replacement: str) -> str:
    """Replace the customer's `name` in `text` where it is used as a name (see the module docstring)."""
    name = " ".join(name.split())
    if not text or len(name) < 2:
        return text
    if _CJK.search(name):
        return text.replace(name, replacement)
    whole = _word(name)
    if len(name.split()) >= 2:
        return re.sub(whole, replacement, text, flags=re.IGNORECASE)
    # "Hi Ann", "Thanks, Ann", "my name is Ann"
    in_context = re.compile(rf"(\b(?:{_NAME_CONTEXT})[ \t,:;!-]+){whole}", re.IGNORECASE)
    text = in_context.sub(lambda m: m.group(1) + replacement, text)
    # A line that is only the name (a signature), perhaps after a dash.
    own_line = re.compile(rf"(?m)^([ \t]*(?:[-–—~]+[ \t]*)?){whole}([ \t]*[.!]?[ \t]*)$", re.IGNORECASE)
    return own_line.sub(lambda m: m.group(1) + replacement + m.group(2), text)
