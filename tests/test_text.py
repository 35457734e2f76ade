"""core.text: the stopword vocabulary, FTS5 queries from hostile text, document passages and sentence splitting."""

from __future__ import annotations

import ast
import sqlite3
import sys
from pathlib import Path

import pytest

from core import text
from core.text import (
    GROUNDING_STOPWORDS,
    GROUPING_STOPWORDS,
    SEARCH_STOPWORDS,
    STOPWORDS,
    chunk_text,
    fts_query,
    split_sentences,
    stream_sentences,
)

REPO = Path(__file__).resolve().parent.parent


# -- stopwords ---------------------------------------------------------------------------------------------
def test_stopword_groups_are_disjoint_and_make_up_the_vocabulary() -> None:
    groups = [text._FRAME, text._FUNCTION, text._GREETINGS, text._GRAMMAR, text._GENERIC]
    assert sum(len(g) for g in groups) == len(STOPWORDS) == len(frozenset().union(*groups))
    assert all(w == w.lower() and w.isalpha() for w in STOPWORDS)


def test_each_user_gets_the_subset_its_job_needs() -> None:
    assert GROUPING_STOPWORDS < SEARCH_STOPWORDS < STOPWORDS
    assert GROUPING_STOPWORDS < GROUNDING_STOPWORDS < STOPWORDS
    # The question frame is a stopword everywhere.
    assert {"the", "is", "what", "where", "you", "please"} <= GROUPING_STOPWORDS
    # Lexical search drops greetings but keeps words that tell entries apart.
    assert {"hello", "thanks", "why"} <= SEARCH_STOPWORDS
    assert not {"not", "open", "have", "time"} & SEARCH_STOPWORDS
    # Grounding: words stating no fact, negations included (the yes/no check reads those); greetings count.
    assert {"not", "no", "open", "today", "help", "information"} <= GROUNDING_STOPWORDS
    assert not {"hello", "hi", "hey", "excuse"} & GROUNDING_STOPWORDS
    # Content words are never stopwords.
    assert not {"cash", "machine", "ticket", "toilet", "card", "wifi"} & STOPWORDS


def test_the_users_read_the_shared_sets() -> None:
    from admin_web import grouping
    from dialog import grounding

    assert grouping.words("Where is the cash machine?") == {"cash", "machine"}
    assert grouping.words("is it") == {"is", "it"}  # nothing but stopwords: the words themselves
    assert grounding._content_words("Hello, the museum is not open today but the cafe is.") == [
        "hello",
        "museum",
        "cafe",
    ]


def test_core_text_imports_the_standard_library_only() -> None:
    tree = ast.parse((REPO / "core" / "text.py").read_text(encoding="utf-8"))
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {m.split(".")[0] for m in modules} <= set(sys.stdlib_module_names) | {"__future__"}


# -- FTS5 queries --------------------------------------------------------------------------------------------
HOSTILE = [
    '"',
    '"unbalanced',
    'say "hello',
    "cash NEAR machine",
    "NEAR(cash machine, 2)",
    "cash AND machine OR NOT card",
    "NOT",
    "card*",
    "*",
    "-card",
    "cash - machine",
    "(cash",
    "cash)",
    "()",
    "text: cash",
    "{text}: cash",
    "^cash",
    "cash + machine",
    "' OR 1=1; DROP TABLE phrasings; --",
    "\x00 cash",
    "café Ünïcödé 日本語",
    "__init__",
    "2.40 £ 5%",
]


@pytest.fixture
def fts() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE phrasings_fts USING fts5(text, tokenize='porter')")
    db.executemany(
        "INSERT INTO phrasings_fts (text) VALUES (?)",
        [("where is the cash machine",), ("I lost my card",), ("is there a café near the station",)],
    )
    return db


@pytest.mark.parametrize("hostile", HOSTILE)
def test_fts_query_from_hostile_text_never_raises(fts: sqlite3.Connection, hostile: str) -> None:
    query = fts_query(hostile)
    if query is not None:
        fts.execute("SELECT rowid FROM phrasings_fts WHERE phrasings_fts MATCH ?", [query]).fetchall()


def test_the_hostile_texts_would_break_a_raw_query(fts: sqlite3.Connection) -> None:
    """So the test above proves the escaping, not a lenient SQLite."""
    broken = 0
    for hostile in HOSTILE:
        try:
            fts.execute("SELECT rowid FROM phrasings_fts WHERE phrasings_fts MATCH ?", [hostile]).fetchall()
        except sqlite3.OperationalError:
            broken += 1
    assert broken >= len(HOSTILE) // 2


def test_fts_query_keeps_content_words_and_operators_are_plain_words(fts: sqlite3.Connection) -> None:
    assert fts_query("Where is the CASH machine, please?") == '"cash" OR "machine"'
    assert fts_query("cash NEAR machine*") == '"cash" OR "near" OR "machine"'
    assert fts_query('NOT "card"') == '"not" OR "card"'
    assert fts_query("cash cash Cash") == '"cash"'  # each word once
    query = fts_query("(lost) -card*")
    assert query == '"lost" OR "card"'
    assert fts.execute("SELECT rowid FROM phrasings_fts WHERE phrasings_fts MATCH ?", [query]).fetchall() == [(2,)]


def test_fts_query_falls_back_to_stopwords_and_drops_single_letters() -> None:
    assert fts_query("where is it") == '"where" OR "is" OR "it"'  # only stopwords: search them anyway
    assert fts_query("a b c") is None  # single letters are no words
    assert fts_query("gate 5") == '"gate" OR "5"'  # single digits are
    assert fts_query("") is None
    assert fts_query(' ?!*()"- ') is None


# -- document passages ---------------------------------------------------------------------------------------
def test_chunk_text_keeps_a_short_document_whole_and_normalizes_spaces() -> None:
    assert chunk_text("One.\n  Two.") == ["One. Two."]
    assert chunk_text("") == []
    assert chunk_text("\n\n  \n") == []


def test_chunk_text_cuts_long_paragraphs_at_sentence_ends() -> None:
    sentences = [f"Sentence number {i} says something about the museum." for i in range(40)]
    chunks = chunk_text(" ".join(sentences), limit=200)
    assert len(chunks) > 1
    assert all(len(c) <= 200 for c in chunks)
    assert all(c.endswith(".") for c in chunks)  # never in the middle of a sentence
    assert " ".join(chunks) == " ".join(sentences)  # nothing lost, nothing repeated


def test_chunk_text_keeps_paragraphs_apart_but_merges_short_neighbours() -> None:
    long_a = "A" * 150 + "."
    long_b = "B" * 150 + "."
    assert chunk_text(f"{long_a}\n\n{long_b}", limit=200) == [long_a, long_b]
    assert chunk_text("Short one.\n\nShort two.", limit=200) == ["Short one. Short two."]


def test_chunk_text_keeps_an_overlong_sentence_whole() -> None:
    sentence = "word " * 100 + "end."
    assert chunk_text(sentence.strip(), limit=100) == [sentence.strip()]


# -- sentences -----------------------------------------------------------------------------------------------
def test_split_sentences_at_ends_only() -> None:
    assert split_sentences("We open at nine. We close at five! Any questions? Yes…  Good.") == [
        "We open at nine.",
        "We close at five!",
        "Any questions?",
        "Yes…",
        "Good.",
    ]
    assert split_sentences('He said "go left." Then right.') == ['He said "go left."', "Then right."]
    assert split_sentences("") == []
    assert split_sentences("No full stop at the end") == ["No full stop at the end"]


def test_split_sentences_keeps_abbreviations_and_numbers() -> None:
    assert split_sentences("A day pass is 2.40 pounds. The single is 1.50.") == [
        "A day pass is 2.40 pounds.",
        "The single is 1.50.",
    ]
    assert split_sentences("Ask Dr. Lee at No. 5 St. Mary's Road.") == ["Ask Dr. Lee at No. 5 St. Mary's Road."]
    assert split_sentences("Bring ID, e.g. a passport, and come by 9 a.m. on weekdays.") == [
        "Bring ID, e.g. a passport, and come by 9 a.m. on weekdays."
    ]
    assert split_sentences("Gate B. is closed.") == ["Gate B. is closed."]  # a single letter: an initial
    # A soft abbreviation ends the sentence when a capital follows.
    assert split_sentences("We close at 5 p.m. The cafe stays open.") == ["We close at 5 p.m.", "The cafe stays open."]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_streamed_sentences_are_the_split_ones_whatever_the_pieces(size: int) -> None:
    whole = "Dr. Lee is in room 2.40 until 5 p.m. The desk, e.g. for tickets, is open. Ask at No. 3! Done"
    pieces = [whole[i : i + size] for i in range(0, len(whole), size)]
    expected = ["Dr. Lee is in room 2.40 until 5 p.m.", "The desk, e.g. for tickets, is open.", "Ask at No. 3!", "Done"]
    assert split_sentences(whole) == expected
    assert list(stream_sentences(pieces)) == expected


def test_stream_sentences_yields_each_sentence_before_the_stream_ends() -> None:
    seen: list[str] = []

    def pieces():
        for piece in ["The museum ", "opens at ten. ", "It closes ", "at six."]:
            seen.append(piece)
            yield piece

    stream = stream_sentences(pieces())
    assert next(stream) == "The museum opens at ten."
    assert seen == ["The museum ", "opens at ten. "]  # spoken before the rest is generated
    assert list(stream) == ["It closes at six."]


def test_stream_sentences_can_cut_a_long_first_sentence_at_a_clause() -> None:
    text = "The cash machine is in the lobby, on the left, and the limit is 500 pounds. Ask us."
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    assert list(stream_sentences(pieces, first_clause_words=6)) == [
        "The cash machine is in the lobby,",
        "on the left, and the limit is 500 pounds.",
        "Ask us.",
    ]
    assert list(stream_sentences(["Yes, we are open, on Sundays too."], first_clause_words=6)) == [
        "Yes, we are open, on Sundays too."  # no comma after six words: whole
    ]
