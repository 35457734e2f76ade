"""Password strength rules beyond length (OWASP ASVS 5.0 V6.2: no breached or common passwords).

Offline: ``common_passwords.csv`` holds a few hundred of the passwords that top every breach
list (and the words they are built from). A password is refused when it is one of them once
case, common letter-for-symbol swaps (``p@ssw0rd``) and digits or symbols stuck on either end
(``password12``, ``Summer2024!``) are set aside, when it is a keyboard or alphabet run
(``qwertyuiop``, ``1234567890``), when it is one character repeated or a short pattern repeated,
and when it contains the user's own name.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

LIST_FILE = Path(__file__).with_name("common_passwords.csv")
MIN_DISTINCT = 4
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"})
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "01234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "1qaz2wsx3edc4rfv5tgb")


@cache
def common_passwords() -> frozenset[str]:
    lines = LIST_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines[1:] if line.strip())


def _is_run(text: str) -> bool:
    """A stretch of the alphabet, the digits or a keyboard row, either way round (possibly wrapping)."""
    if len(text) < 4:
        return False
    for run in _RUNS:
        for seq in (run, run[::-1]):
            if text in seq * 3:
                return True
    return False


def _repeats(text: str, longest_unit: int) -> str | None:
    """The unit that ``text`` is made of, repeated (``abcabcabc`` → ``abc``), if it is at most ``longest_unit`` long."""
    for size in range(1, min(longest_unit, len(text) // 2) + 1):
        unit = text[:size]
        if (unit * (len(text) // size + 1)).startswith(text):
            return unit
    return None


def _common(text: str) -> bool:
    words = common_passwords()
    if not text:
        return False
    if text in words:
        return True
    unit = _repeats(text, len(text) // 2)
    return unit is not None and unit in words


def weakness(password: str, username: str = "") -> str | None:
    """Why ``password`` is too easy to guess, as a sentence for the operator; ``None`` if it is acceptable."""
    lower = password.lower()
    squeezed = re.sub(r"\s+", "", lower)
    if len(set(password)) == 1:
        return "the password is one character repeated"
    if _repeats(squeezed, 4) is not None:
        return "the password is a short pattern repeated"
    if len(set(squeezed)) < MIN_DISTINCT:
        return f"the password uses fewer than {MIN_DISTINCT} different characters"
    name = username.strip().lower()
    if len(name) >= 3 and (name in lower or name in squeezed):
        return "the password contains the user name"
    core = _EDGES.sub("", squeezed)
    candidates = {squeezed, core, squeezed.translate(_LEET), _EDGES.sub("", squeezed.translate(_LEET))}
    if core:
        candidates.add(core.translate(_LEET))
    # a common word counts when it is most of the password ("password12", "Summer2024!"), not a part of it
    if any(_common(c) for c in candidates if 2 * len(c) >= len(squeezed)):
        return "the password is a common password, found in lists of breached passwords"
    if any(_is_run(c) for c in (squeezed, core) if c) or (core and _is_run(core.translate(_LEET))):
        return "the password is a keyboard or alphabet sequence"
    return None
