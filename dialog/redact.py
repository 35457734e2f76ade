"""Redaction: nothing a visitor says is stored with card, account or phone numbers or e-mails.

Runs before anything is logged. Numbers count whether written as digits
("4111 1111 1111 1111"), spelled out ("four one one one, one one one one ..."),
or mixed ("four 1 1 one, double five"). Short secrets are caught by what is said
around them: a PIN ("my pin number is four three two one"), a card security code
("CVV 123"), a card's expiry ("expires 12 27", or "12/27" on its own) and a UK
sort code ("sort code 20 00 00", or "20-00-00" on its own). Other short numbers
(a platform, a price, a time, opening hours) stay.
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
_TEENS = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
_TENS = {"twenty": 2, "thirty": 3, "forty": 4, "fifty": 5, "sixty": 6, "seventy": 7, "eighty": 8, "ninety": 9}
_TOKEN = re.compile(r"\+?\d+|[A-Za-z]+|[^\sA-Za-z\d]+|\s+")
_JOINERS = re.compile(r"^[\s\-./(),]+$")  # between the groups of one number: "4111 1111", "four one, one one"

# Short secrets named by the words before them: (placeholder, fewest digits, most digits, number words as well)
_SORT_CODE = ("[SORT CODE]", 6, 6, False)
_KEYWORDS: dict[tuple[str, ...], tuple[str, int, int, bool]] = {
    ("pin",): ("[PIN]", 3, 12, False),
    ("passcode",): ("[PIN]", 3, 12, False),
    ("cvv",): ("[CVV]", 3, 4, False),
    ("cvc",): ("[CVV]", 3, 4, False),
    ("csc",): ("[CVV]", 3, 4, False),
    ("cvv2",): ("[CVV]", 3, 4, False),
    ("security", "code"): ("[CVV]", 3, 4, False),
    ("security", "number"): ("[CVV]", 3, 4, False),
    ("sort", "code"): _SORT_CODE,
    ("sortcode",): _SORT_CODE,
    ("expires",): ("[EXPIRY]", 3, 6, True),
    ("expiry",): ("[EXPIRY]", 3, 6, True),
    ("expiring",): ("[EXPIRY]", 3, 6, True),
    ("expiration",): ("[EXPIRY]", 3, 6, True),
    ("exp",): ("[EXPIRY]", 3, 6, True),
    ("valid", "until"): ("[EXPIRY]", 3, 6, True),
    ("valid", "thru"): ("[EXPIRY]", 3, 6, True),
    ("valid", "through"): ("[EXPIRY]", 3, 6, True),
}
# Words that may stand between the keyword and the number: "my pin number is ...", "expiry date: ..."
_FILLERS = frozenset(
    [
        "is",
        "was",
        "number",
        "no",
        "code",
        "date",
        "digits",
        "it",
        "its",
        "s",
        "are",
        "of",
        "on",
        "in",
        "the",
        "my",
        "will",
        "be",
        "then",
        "end",
        "ends",
        "with",
        "back",
        "card",
    ]
)
_MAX_FILLERS = 4
# Forms that are secrets without a keyword: a card expiry MM/YY (or MM/YYYY), a UK sort code NN-NN-NN.
EXPIRY = re.compile(r"(?<![\d/])(?:0[1-9]|1[0-2])\s?/\s?(?:20)?\d{2}(?![\d/])")
SORT_CODE = re.compile(r"(?<![\d-])\d{2}-\d{2}-\d{2}(?![\d-])")

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


def _number_value(tokens: list[str], j: int) -> tuple[str, int] | None:
    """Digits said as words ("twelve", "twenty seven", "twenty-seven") at ``tokens[j]``: (digits, next index)."""
    low = tokens[j].lower()
    if low in _TEENS:
        return _TEENS[low], j + 1
    if low in _TENS:
        k = j + 1
        while k < len(tokens) and tokens[k] in (" ", "-"):
            k += 1
        unit = _DIGIT_WORDS.get(tokens[k].lower()) if k < len(tokens) else None
        if unit is not None and unit != "0" and tokens[k].lower() not in ("o", "oh"):
            return f"{_TENS[low]}{unit}", k + 1
        return f"{_TENS[low]}0", j + 1
    return None


def _scan_number(tokens: list[str], start: int, *, words: bool, limit: int) -> tuple[str, int]:
    """The digits of the number that starts at ``tokens[start]`` and the index after it (no 'and' joins here)."""
    digits, multiplier, end, j = "", 1, start, start
    while j < len(tokens) and len(digits) <= limit:
        tok = tokens[j]
        value = _digit_value(tok)
        if value is not None:
            digits += value * multiplier
            multiplier, end, j = 1, j + 1, j + 1
            continue
        spelled = _number_value(tokens, j) if words else None
        if spelled is not None:
            digits += spelled[0]
            multiplier, end, j = 1, spelled[1], spelled[1]
            continue
        if tok.lower() in _MULTIPLIERS:
            multiplier = _MULTIPLIERS[tok.lower()]
        elif not _JOINERS.match(tok):
            break
        j += 1
    return digits, end


def _keyword_at(words: list[str], i: int) -> tuple[tuple[str, ...], tuple[str, int, int, bool]] | None:
    for phrase, rule in _KEYWORDS.items():
        if tuple(words[i : i + len(phrase)]) == phrase:
            return phrase, rule
    return None


def _redact_keyed_numbers(text: str) -> str:
    """A PIN, security code, expiry or sort code after the words that name it: the number becomes a placeholder."""
    tokens = _TOKEN.findall(text)
    word_at = [k for k, t in enumerate(tokens) if t[:1].isalpha()]
    word_number = {k: n for n, k in enumerate(word_at)}
    words = [tokens[k].lower() for k in word_at]
    out: list[str] = []
    i = 0  # index into tokens
    while i < len(tokens):
        if not tokens[i][:1].isalpha():
            out.append(tokens[i])
            i += 1
            continue
        w = word_number[i]
        found = _keyword_at(words, w)
        if found is None:
            out.append(tokens[i])
            i += 1
            continue
        phrase, (placeholder, fewest, most, spelled) = found
        after = word_at[w + len(phrase) - 1] + 1
        if tokens[after - 1].lower() in ("cvv", "cvc") and after < len(tokens) and tokens[after] == "2":
            after += 1  # "CVV2 123": the 2 is part of the name
        j, fillers = after, 0
        while j < len(tokens):  # skip ": is the", at most a few words
            tok = tokens[j]
            low = tok.lower()
            if tok.isspace() or (not tok[:1].isalnum() and tok not in ("+",)):
                j += 1
            elif low in _FILLERS and fillers < _MAX_FILLERS and _digit_value(tok) is None:
                fillers += 1
                j += 1
            else:
                break
        digits, end = _scan_number(tokens, j, words=spelled, limit=most) if j < len(tokens) else ("", j)
        if fewest <= len(digits) <= most:
            out.extend(tokens[i:j])
            out.append(placeholder)
            i = end  # what followed the number (a space, a full stop) is kept
        else:
            out.extend(tokens[i:after])
            i = after
    return "".join(out)


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
    """Replace e-mails, IBANs, card/account/phone numbers (digits or words), PINs, card security codes,
    expiry dates and sort codes with placeholders."""
    text = EMAIL.sub("[EMAIL]", text)
    text = SPOKEN_EMAIL.sub("[EMAIL]", text)
    text = IBAN.sub(lambda m: "[ACCOUNT]" if sum(ch.isdigit() for ch in m.group()) >= 8 else m.group(), text)
    text = _redact_keyed_numbers(text)
    text = SORT_CODE.sub("[SORT CODE]", text)
    text = EXPIRY.sub("[EXPIRY]", text)
    return _redact_digit_runs(text)
