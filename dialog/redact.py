"""Redaction: nothing a visitor says is stored with card, account or phone numbers or e-mails.

Runs before anything is logged. Numbers count whether written as digits
("4111 1111 1111 1111"), spelled out ("four one one one ..."), or mixed
("four 1 1 one, double five"). Short numbers (a platform, a price, a time) stay.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
SPOKEN_EMAIL = re.compile(r"\b[\w.+-]+\s+at\s+[\w-]+\s+dot\s+(?:com|org|net|edu|gov|co|io|[a-z]{2})\b", re.IGNORECASE)
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b", re.IGNORECASE)

_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_MULTIPLIERS = {"double": 2, "triple": 3}
_TOKEN = re.compile(r"\+?\d+|[A-Za-z]+|[^\sA-Za-z\d]+|\s+")
_JOINERS = re.compile(r"^[\s\-./()]+$")

# A run of at least this many digits (digits or digit words) is personal data.
MIN_DIGITS = 7


def _classify(digits: str, had_plus: bool) -> str:
    if had_plus or (7 <= len(digits) <= 12 and digits.startswith("0")):
        return "[PHONE]"
    if 13 <= len(digits) <= 19:
        return "[CARD]"
    if 7 <= len(digits) <= 11:
        return "[PHONE]" if len(digits) in (10, 11) and digits[0] in "01" else "[NUMBER]"
    return "[NUMBER]"


def _digit_value(token: str) -> str | None:
    """The digits a token stands for, or None if it is not a digit token."""
    bare = token.lstrip("+")
    if bare.isdigit():
        return bare
    low = token.lower()
    if low in _DIGIT_WORDS:
        return _DIGIT_WORDS[low]
    return None


def _redact_digit_runs(text: str) -> str:
    tokens = _TOKEN.findall(text)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        first = tokens[i]
        if _digit_value(first) is None and first.lower() not in _MULTIPLIERS:
            out.append(first)
            i += 1
            continue
        digits, had_plus, end, multiplier = "", first.startswith("+"), i, 1
        j = i
        while j < len(tokens):
            tok = tokens[j]
            value = _digit_value(tok)
            if value is not None:
                digits += value * multiplier
                multiplier, end = 1, j + 1
            elif tok.lower() in _MULTIPLIERS:
                multiplier = _MULTIPLIERS[tok.lower()]
            elif not (_JOINERS.match(tok) or tok.lower() in ("and", "dash")):
                break
            j += 1
        if len(digits) >= MIN_DIGITS:
            out.append(_classify(digits, had_plus))
            i = end
        else:
            out.append(first)
            i += 1
    return "".join(out)


def redact(text: str) -> str:
    """Replace e-mails, IBANs, card/account/phone numbers (digits or words) with placeholders."""
    text = EMAIL.sub("[EMAIL]", text)
    text = SPOKEN_EMAIL.sub("[EMAIL]", text)
    text = IBAN.sub(lambda m: "[ACCOUNT]" if sum(ch.isdigit() for ch in m.group()) >= 8 else m.group(), text)
    return _redact_digit_runs(text)
