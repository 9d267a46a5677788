"""Checking a submission's fields against its form's schema (channels.yaml `webforms.forms[].fields`).

The answer names each bad field and what is wrong with it, never the value: the
values are customers' names, phones and complaints, and error bodies end up in
browser consoles, proxies and logs. The embeddable form mirrors these rules, so
a customer normally sees the same message before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from feedback.channels.config import FormField, WebForm

# Hidden field of the embeddable form: people never see it, bots fill it in.
HONEYPOT = "website"
LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PHONE_SEPARATORS = re.compile(r"[\s\-().]")
# A number someone can call back, separators removed: a mainland mobile (optionally +86), a landline with
# its area code (0 + 2-3 digits, or +86 without the 0; optional extension), a 400/800 service number, or
# an international number (+ or 00, then up to 15 digits). "12345" is none of these. feedback-form.js
# carries the same expression.
PHONE = re.compile(r"^(?:(?:\+86|0086|86)?1[3-9][0-9]{9}"
                   r"|(?:0|\+86|0086)[1-9][0-9]{1,2}[0-9]{7,8}(?:(?:ext|x|转|#)[0-9]{1,6})?"
                   r"|[48]00[0-9]{7}"
                   r"|(?:\+|00)(?!86)[1-9][0-9]{6,14})$", re.IGNORECASE)
PHONE_REASON = ("not a phone number: expected a mobile number (11 digits), a landline with its area code "
                "(e.g. 010-65529988) or an international number starting with +")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# Half of a UTF-16 pair alone: no UTF-8 form, so PostgreSQL could not store it.
SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidSubmission(Exception):
    """The fields do not fit the form: `errors` maps field names to reasons (empty = say nothing more)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(f"invalid fields: {', '.join(sorted(errors)) or '(not said)'}")
        self.errors = errors


def _type_problem(value: str, spec: FormField) -> str | None:
    if spec.type == "phone" and not PHONE.match(PHONE_SEPARATORS.sub("", value)):
        return PHONE_REASON
    if spec.type == "email" and not EMAIL.match(value):
        return "not an e-mail address"
    if spec.type == "choice" and value not in spec.choices:
        return "not one of the choices"
    if spec.type == "date":
        if not ISO_DATE.match(value):
            return "not a date (YYYY-MM-DD)"
        try:
            date.fromisoformat(value)
        except ValueError:
            return "not a date (YYYY-MM-DD)"
    return None


def _problem(value: object, spec: FormField, required: bool) -> tuple[str | None, str | None]:
    """(cleaned value or None when empty, reason it is invalid or None)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        return None, "must be text"
    value = value.strip()
    if "\x00" in value:
        return None, "contains a NUL character"
    if SURROGATE.search(value):
        return None, "is not Unicode text (a lone surrogate)"
    if not value:
        return None, "required" if required else None
    if len(value) > spec.max_length:
        return None, f"longer than {spec.max_length} characters"
    return value, _type_problem(value, spec)


def validate_fields(form: WebForm, given: Mapping[str, object]) -> dict[str, str]:
    """The form's non-empty fields, stripped; raises InvalidSubmission naming every bad field.

    A filled honeypot is refused without saying why, so a bot learns nothing from the answer.
    """
    trap = given.get(HONEYPOT)
    if trap not in (None, ""):
        raise InvalidSubmission({})
    errors: dict[str, str] = {}
    odd_names = 0
    for name in given:
        if name in form.fields or name == HONEYPOT:
            continue
        if FIELD_NAME.match(name):
            errors[name] = "unknown field"
        else:
            odd_names += 1
    if odd_names:
        # A name that is not a plain identifier might be anything (even a pasted phone): not echoed.
        errors["_unknown"] = f"{odd_names} unknown field name(s)"
    required = form.required_names
    clean: dict[str, str] = {}
    for name, spec in form.fields.items():
        value, problem = _problem(given.get(name), spec, name in required)
        if problem:
            errors[name] = problem
        elif value is not None:
            clean[name] = value
    if errors:
        raise InvalidSubmission(errors)
    return clean


def validate_locale(value: object, form: WebForm) -> str:
    """The submission's language tag (the page's, e.g. zh-CN), or the form's when none is given."""
    if value in (None, ""):
        return form.locale
    if not isinstance(value, str) or not LOCALE.match(value.strip()):
        raise InvalidSubmission({"locale": "not a language tag (e.g. zh-CN, en)"})
    return value.strip()
