"""Plain-text handling every package shares: stopwords, FTS5 queries, document passages and sentences.

Like the rest of ``core/`` this module is the bottom floor: it imports the
standard library only, so speech, dialog, knowledge and admin_web may all use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# -- stopwords ------------------------------------------------------------------------------------------
# One English vocabulary, written once in disjoint groups; each user takes the groups its job needs.
# The frame of a question: articles, "be"/"do", the commonest pronouns and prepositions, question words.
_FRAME = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "and",
        "or",
        "do",
        "does",
        "did",
        "i",
        "you",
        "we",
        "it",
        "my",
        "your",
        "me",
        "can",
        "could",
        "would",
        "will",
        "how",
        "what",
        "where",
        "when",
        "which",
        "who",
        "please",
        "there",
        "this",
        "that",
        "with",
    ]
)
# The other function words, and the thanks and fillers of speech.
_FUNCTION = frozenset(
    [
        "but",
        "if",
        "by",
        "from",
        "been",
        "am",
        "should",
        "may",
        "might",
        "must",
        "our",
        "its",
        "these",
        "those",
        "here",
        "why",
        "thanks",
        "thank",
        "just",
        "also",
        "so",
        "than",
        "then",
        "too",
        "very",
    ]
)
_GREETINGS = frozenset(["excuse", "hello", "hi", "hey"])
# More function words: pronouns, quantifiers, negations, "have"; and the "yes", "okay" of agreement.
_GRAMMAR = frozenset(
    [
        "into",
        "onto",
        "about",
        "as",
        "being",
        "done",
        "have",
        "has",
        "had",
        "having",
        "shall",
        "not",
        "no",
        "cannot",
        "yes",
        "yours",
        "ours",
        "us",
        "mine",
        "he",
        "she",
        "they",
        "them",
        "their",
        "his",
        "her",
        "him",
        "whom",
        "whose",
        "all",
        "any",
        "some",
        "each",
        "every",
        "more",
        "most",
        "other",
        "such",
        "only",
        "own",
        "same",
        "sure",
        "okay",
        "ok",
        "well",
        "like",
    ]
)
# What any kiosk says about anything: no fact hangs on them.
_GENERIC = frozenset(
    [
        "get",
        "got",
        "make",
        "made",
        "go",
        "going",
        "come",
        "one",
        "ask",
        "visit",
        "visitors",
        "help",
        "available",
        "find",
        "need",
        "want",
        "let",
        "know",
        "information",
        "service",
        "services",
        "time",
        "today",
        "open",
    ]
)

#: Every stopword; the sets below are its named subsets.
STOPWORDS = _FRAME | _FUNCTION | _GREETINGS | _GRAMMAR | _GENERIC

#: Grouping unanswered questions by word overlap (``admin_web.grouping``): the frame only. The groups are
#: read by an operator, and a word such as "why", "not" or "open" may be what sets a question apart.
GROUPING_STOPWORDS = _FRAME

#: Lexical search (:func:`fts_query`): the frame, the other function words and greetings. They occur in most
#: phrasings, so matching them slows FTS5 on big knowledge bases without telling entries apart; negations and
#: verbs ("not", "have", "open") stay searchable, as they can.
SEARCH_STOPWORDS = _FRAME | _FUNCTION | _GREETINGS

#: Grounding generated sentences (``dialog.grounding``): every word that states no checkable fact, negations
#: included (the yes/no check reads those itself) and the generic words a generated sentence may add without
#: inventing anything. Greetings are not in it: a generated "hello" counts as a word the passages lack.
GROUNDING_STOPWORDS = _FRAME | _FUNCTION | _GRAMMAR | _GENERIC

# -- FTS5 queries ---------------------------------------------------------------------------------------
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """A safe FTS5 query (any of the content words) from free text; ``None`` if no words.

    Each word is a quoted FTS5 string, so operators and syntax in ``text`` ("NEAR", "*", "-", quotes,
    parentheses, "column:") are never read as query syntax.
    """
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]
    content = [w for w in words if w not in SEARCH_STOPWORDS]
    words = content or words
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words))


# -- document passages ----------------------------------------------------------------------------------
CHUNK_CHARS = 700


def chunk_text(body: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Split a document into passages of at most ~``limit`` characters at paragraph/sentence ends.

    A line that no full stop ends and that stands on its own (a title or heading, a label's data line such as
    "Cast bronze, length 64 cm", a list item) stays on its own line, so :func:`split_passage` never reads it as
    the start of the next sentence; wrapped prose is joined with spaces.
    """
    paragraphs = [p for p in (_paragraph(block) for block in re.split(r"\n\s*\n", body)) if p]
    pieces: list[str] = []
    for para in paragraphs:
        if len(para) <= limit:
            pieces.append(para)
            continue
        sentences = re.split(r"(?<=[.!?])\s+", para)
        current = ""
        for sentence in sentences:
            if current and len(current) + len(sentence) + 1 > limit:
                pieces.append(current)
                current = sentence
            else:
                current = _join(current, sentence) if current else sentence
        if current:
            pieces.append(current)
    chunks: list[str] = []
    for piece in pieces:  # merge short neighbours; a title or heading always goes with what follows it
        if chunks and (len(chunks[-1]) + len(piece) + 1 <= limit // 2 or is_heading(chunks[-1])):
            chunks[-1] = _join(chunks[-1], piece)
        else:
            chunks.append(piece)
    return chunks


_BULLET = re.compile(r"^\s*(?:[-*•–]|\d{1,2}[.)])\s+")
_ENDS_SENTENCE = re.compile(r"[.!?…][\"')\]”’]*$")
HEADING_WORDS = 10
LINE_CHARS = 60  # a paragraph whose lines are all this short (a label) has one statement per line


def is_heading(piece: str) -> bool:
    """A title or heading: one short line that no full stop ends ("The Church Serpent", "Materials:")."""
    return "\n" not in piece and not _ENDS_SENTENCE.search(piece) and len(piece.split()) <= HEADING_WORDS


def bulleted_list(text: str) -> tuple[str, list[str]] | None:
    """A passage that is a list under a heading ("Materials:" then "- gilded silver", ...): the heading and its
    items without their bullets; None for anything else."""
    lines = [line for line in text.splitlines() if line.strip()]
    items = [_BULLET.sub("", line).strip() for line in lines[1:] if _BULLET.match(line)]
    if len(lines) < 3 or not lines[0].rstrip().endswith(":") or len(items) != len(lines) - 1:
        return None
    return lines[0].strip(), items


def _join(before: str, after: str) -> str:
    """``before`` and ``after``, on one line when ``before`` ends a sentence, else on two."""
    return f"{before}{' ' if _ENDS_SENTENCE.search(before) else chr(10)}{after}"


def _paragraph(block: str) -> str:
    """One paragraph: wrapped prose on one line; list items and a label's short lines each on a line of their own."""
    lines = [" ".join(line.split()) for line in block.splitlines() if line.strip()]
    if not lines:
        return ""
    short = all(len(line) <= LINE_CHARS for line in lines[:-1])
    text = lines[0]
    for line in lines[1:]:
        own = _BULLET.match(line) or (short and (line[:1].isupper() or line[:1].isdigit()))
        text = _join(text, line) if own else f"{text} {line}"
    return text


def split_passage(text: str) -> list[str]:
    """Sentences of a document passage: each line on its own (a heading, a label's line, a list item without
    its bullet), then each line's sentences."""
    sentences: list[str] = []
    for line in text.splitlines():
        if said := _BULLET.sub("", line).strip():
            sentences += split_sentences(said)
    return sentences


# -- sentences: cut streamed text into sentences, so speech can start on the first one ------------------
# Never end a sentence: titles and "No. 5". May end one when a capital follows: "5 p.m. The".
_TITLES = {"mr", "mrs", "ms", "dr", "st", "no", "nr", "vs", "prof", "mt"}
_SOFT = {
    "etc",
    "e.g",
    "i.e",
    "a.m",
    "p.m",
    "approx",
    "dept",
    "min",
    "max",
    "sat",
    "sun",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
}
_BOUNDARY = re.compile(r"([.!?…]+[\"')\]]*)(\s+)")
_CLAUSE = re.compile(r"[,;:]\s")


def _is_abbreviation(text_before: str, text_after: str) -> bool:
    word = text_before.rsplit(None, 1)[-1].lower().rstrip(".") if text_before.strip() else ""
    if word in _TITLES or (len(word) == 1 and word.isalpha()):
        return True
    return word in _SOFT and not text_after[:1].isupper()


def split_sentences(text: str) -> list[str]:
    """Sentences of a complete text."""
    return list(stream_sentences([text]))


def stream_sentences(pieces: Iterable[str], *, first_clause_words: int = 0) -> Iterator[str]:
    """Yield each sentence as soon as it is complete; the remainder at the end.

    With ``first_clause_words``, the first piece may be a clause: it is cut at
    the first comma (or ; :) that follows at least that many words, so speech
    can start before a long first sentence is finished.
    """
    buffer = ""
    first = first_clause_words > 0
    for piece in pieces:
        buffer += piece
        if first:
            clause = next(
                (m for m in _CLAUSE.finditer(buffer) if len(buffer[: m.start()].split()) >= first_clause_words), None
            )
            if clause is not None and not _BOUNDARY.search(buffer[: clause.end()]):
                first = False
                yield buffer[: clause.start() + 1].strip()
                buffer = buffer[clause.end() :]
                continue
        while True:
            for match in _BOUNDARY.finditer(buffer):
                head = buffer[: match.start(1)]
                if _is_abbreviation(head, buffer[match.end(2) :]):
                    continue
                sentence = buffer[: match.end(1)].strip()
                buffer = buffer[match.end(2) :]
                if sentence:
                    first = False
                    yield sentence
                break
            else:
                break
    tail = buffer.strip()
    if tail:
        yield tail
