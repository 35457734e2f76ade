"""The spoken version of an answer written for the screen.

An operator's answer may be a whole web page: 38 sentences, numbered lists, headings, links.
The screen shows all of it; the avatar says :func:`spoken_version`: the opening sentences, up to
about :data:`SPOKEN_WORDS` words (~25 s at the voice's pace), with the list markup and fragments
turned into speech or left out ("1.", "•", "(DHCB)", URLs, bare headings), and, when anything was
left out, a last line saying that the full answer is on the screen. An answer that is short and
plain already is spoken as written.

An entry's own ``spoken_answer`` always wins (:attr:`knowledge.entries.FaqEntry.speech`).
"""

from __future__ import annotations

import functools
import logging
import re

from core.text import split_sentences

_LOGGER = logging.getLogger(__name__)

# piper's default voice (en_US-joe-medium) said a 63-word answer in 19.6 s: 3.2 words a second. 70 words and the
# closing line are ~24 s of speech.
SPOKEN_WORDS = 70
FIRST_SENTENCE_MAX = 100  # a first sentence longer than this is cut at a clause
LIST_ITEM_WORDS = 10  # list items up to this long are read as one sentence: "a, b and c"
HEADING_WORDS = 8

SCREEN_LINE = {
    "en": "The full answer is on the screen.",
    "es": "La respuesta completa está en la pantalla.",
    "fr": "La réponse complète est à l'écran.",
    "de": "Die vollständige Antwort steht auf dem Bildschirm.",
    "it": "La risposta completa è sullo schermo.",
    "pt": "A resposta completa está no ecrã.",
    "nl": "Het volledige antwoord staat op het scherm.",
}
_AND = {"en": "and", "es": "y", "fr": "et", "de": "und", "it": "e", "pt": "e", "nl": "en"}

_URL = re.compile(r"\b(?:https?://|www\.)\S+|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|`|\*(?=\S)|(?<=\S)\*)")
_ACRONYM = re.compile(r"\s*\((?:[A-Z][A-Za-z0-9&./-]*[A-Z0-9]s?|[A-Z]{2,}s?)\)")
_BULLET = re.compile(r"^\s*(?:[-*•·▪◦‣–—>]|\(?\d{1,2}[.)]|\(?[a-zA-Z]\))\s+(.*)$")
_HEADING = re.compile(r"^\s*#{1,6}\s*(.*)$")
_INLINE_NUMBER = re.compile(r"(?:(?<=\s)|^)\(?(\d{1,2})[.)]\s+(?=\S)")
_INLINE_BULLET = re.compile(r"\s+[•·▪◦‣]\s+")
_END = re.compile(r"[.!?…]['\")\]]*$")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _language(language: str) -> str:
    return (language or "en").split("-")[0].lower()


def _clean(text: str) -> tuple[str, bool]:
    """(text without link markup, URLs, acronyms in brackets and emphasis, whether anything was removed)."""
    out = _MD_LINK.sub(r"\1", text)
    out = _EMPHASIS.sub("", out)
    out = _ACRONYM.sub("", out)
    had_url = bool(_URL.search(out))
    out = _URL.sub("", out)
    out = re.sub(r"\(\s*\)", "", out)
    out = re.sub(r"\s+([,.;:!?])", r"\1", out)
    out = re.sub(r"([,;:])(?=[.!?])", "", out)
    out = " ".join(out.split())
    return out, had_url or out != " ".join(text.split())


def _is_fragment(sentence: str) -> bool:
    """A piece with no word to say: "1.", "•", "(2)", "£5"."""
    return not _WORD.search(sentence)


def _inline_items(line: str) -> tuple[list[str], str]:
    """A list flattened into one line ("Benefits: 1. Cash benefit 2. Cover 3. ..." or "a • b • c"):
    ([lead-in, item, item, ...], the text after the last item); ``([], "")`` when the line holds no list."""
    if len(_INLINE_BULLET.findall(line)) >= 2:
        return [p for p in _INLINE_BULLET.split(line) if p.strip()], ""
    marks = []
    for mark in _INLINE_NUMBER.finditer(line):  # the run 1, 2, 3, ...
        if int(mark.group(1)) == len(marks) + 1:
            marks.append(mark)
    if len(marks) < 2:
        return [], ""
    parts = [line[: marks[0].start()].strip()]
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
        parts.append(line[mark.end() : end].strip())
    last = split_sentences(parts[-1])  # the last item ends at its first sentence end; the rest is text again
    parts[-1] = last[0] if last else ""
    return parts, " ".join(last[1:])


def _short_plain(line: str) -> bool:
    """A short line with no sentence end and no list mark: a heading, or an item of an unmarked list."""
    text = line.strip()
    return (
        bool(text)
        and len(text.split()) <= HEADING_WORDS
        and not _BULLET.match(text)
        and not _HEADING.match(text)
        and not re.search(r"[.!?:;,]['\")]?$", text)
    )


def _blocks(answer: str) -> list[tuple[str, list[str]]]:
    """The answer as ("text", [paragraph]) and ("list", [lead-in, item, item, ...]) blocks; headings dropped.

    Lines with list marks ("1.", "•", "-", "a)") are list items; so are short unpunctuated lines next to
    each other ("Monday to Friday 9 to 5" / "Saturday 9 to 1"); a short unpunctuated line alone above more
    text is a heading.
    """
    lines = [line.rstrip() for line in answer.replace("\r\n", "\n").split("\n")]
    blocks: list[tuple[str, list[str]]] = []
    item_before = False  # the line above was a list item (no blank line between)
    marked_before = False  # the last line with text was a marked list item (blank lines may come between)
    for i, line in enumerate(lines):
        if not line.strip() or _HEADING.match(line):
            item_before = False
            continue
        bullet = _BULLET.match(line)
        above = lines[i - 1] if i > 0 else ""
        below = lines[i + 1] if i + 1 < len(lines) else ""
        unmarked = _short_plain(line) and (_short_plain(below) or (item_before and _short_plain(above)))
        if bullet or unmarked:
            item = bullet.group(1) if bullet else line.strip()
            if (item_before or (bullet and marked_before)) and blocks and blocks[-1][0] == "list":
                blocks[-1][1].append(item)
            else:
                lead = ""
                if blocks and blocks[-1][0] == "text" and blocks[-1][1][-1].rstrip().endswith(":"):
                    *before, lead = split_sentences(blocks.pop()[1][-1])  # "... You will need:" leads the list
                    if before:
                        blocks.append(("text", [" ".join(before)]))
                blocks.append(("list", [lead, item]))
            item_before, marked_before = True, bool(bullet)
            continue
        item_before = marked_before = False
        if _short_plain(line) and any(n.strip() for n in lines[i + 1 :]):
            continue  # a bare heading above more text
        parts, tail = _inline_items(line.strip())
        if parts:
            blocks.append(("list", parts))
            if tail:
                blocks.append(("text", [tail]))
        else:
            blocks.append(("text", [line.strip()]))
    return blocks


def _list_sentences(lead: str, items: list[str], language: str) -> list[str]:
    """A list said aloud: short items as one sentence ("You need: a, b and c."), longer items each as its own."""
    lead_clean, _ = _clean(lead)
    cleaned = [_clean(item)[0].rstrip(" ;,") for item in items]
    cleaned = [c for c in cleaned if _WORD.search(c)]
    if not cleaned:
        return [lead_clean] if lead_clean and not _is_fragment(lead_clean) else []
    if all(len(c.split()) <= LIST_ITEM_WORDS and len(split_sentences(c)) == 1 for c in cleaned):
        items_text = [c.rstrip(".") for c in cleaned]
        joined = (
            items_text[0]
            if len(items_text) == 1
            else f"{', '.join(items_text[:-1])} {_AND.get(language, 'and')} {items_text[-1]}"
        )
        lead_text = lead_clean.rstrip(":").strip()
        return [f"{lead_text}: {joined}." if lead_text else f"{joined[0].upper()}{joined[1:]}."]
    out = [s if _END.search(s) else f"{s}." for item in cleaned for s in split_sentences(item)]
    if lead_clean and not _is_fragment(lead_clean):  # "How to claim: Call us within 30 days." is one sentence
        lead_text = lead_clean if lead_clean.endswith(":") else f"{lead_clean.rstrip('.')}:"
        out[0] = f"{lead_text} {out[0]}"
    return out


def _units(answer: str, language: str) -> tuple[list[list[str]], bool, bool]:
    """(the answer as units said whole or not at all: a sentence, or a list's sentences; whether anything was
    rewritten; whether anything was left out)."""
    changed = omitted = False
    out: list[list[str]] = []
    for kind, parts in _blocks(answer):
        if kind == "list":
            said = _list_sentences(parts[0], parts[1:], language)
            out += [[f"{s[:1].upper()}{s[1:]}" for s in said]] if said else []
            changed = True
            continue
        for sentence in split_sentences(parts[0]):
            if _URL.search(sentence):  # "Read more at www...": the link is for the screen
                omitted = True
                continue
            text, altered = _clean(sentence)
            changed |= altered
            if _is_fragment(text):
                changed = True
                continue
            out.append([text if _END.search(text) else f"{text}."])
    return out, changed, omitted


def _cut(sentence: str, words: int) -> str:
    """A sentence longer than ``words``, cut at the last clause boundary within them (else at ``words``)."""
    head = " ".join(sentence.split()[:words])
    clause = max(head.rfind(", "), head.rfind("; "), head.rfind(": "))
    if clause > len(head) // 3:
        head = head[:clause]
    return head.rstrip(" ,;:-") + "."


@functools.lru_cache(maxsize=4096)
def spoken_version(answer: str, language: str = "en") -> str:
    """What the avatar says for ``answer`` when its entry has no ``spoken_answer`` (see the module's docstring)."""
    text = answer.strip()
    if not text:
        return ""
    lang = _language(language)
    units, changed, omitted = _units(text, lang)
    if not changed and not omitted and len(text.split()) <= SPOKEN_WORDS:
        return text  # short and plain: said as written
    chosen: list[str] = []
    count = 0
    for unit in units:
        n = sum(len(sentence.split()) for sentence in unit)
        if chosen and count + n > SPOKEN_WORDS:  # a list is said whole or not at all
            omitted = True
            break
        if n <= SPOKEN_WORDS:
            chosen += unit
            count += n
            continue
        for sentence in unit:  # the opening itself is too long: as much of it as fits
            words = len(sentence.split())
            if not chosen and words > FIRST_SENTENCE_MAX:
                chosen.append(_cut(sentence, SPOKEN_WORDS))
                break
            if chosen and count + words > SPOKEN_WORDS:
                break
            chosen.append(sentence)
            count += words
        omitted = True
        break
    if not chosen:  # nothing sayable: the answer is all links and list marks
        return SCREEN_LINE.get(lang, SCREEN_LINE["en"])
    if omitted:
        chosen.append(SCREEN_LINE.get(lang, SCREEN_LINE["en"]))
    return " ".join(chosen)


def is_shortened(answer: str, language: str = "en") -> bool:
    """Whether :func:`spoken_version` says something other than ``answer`` as written."""
    return spoken_version(answer, language) != answer.strip()
