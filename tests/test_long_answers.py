"""Long answers (a bank's web page as one FAQ answer): imported whole, shown whole, spoken short."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from core.settings import DialogSection, LlmSection
from dialog.policy import AnswerPolicy
from knowledge.entries import MAX_ANSWER, FaqEntry
from knowledge.io import parse_csv
from knowledge.spoken import SCREEN_LINE, SPOKEN_WORDS, is_shortened, spoken_version
from knowledge.store import FaqStore
from tests.fakes import ScriptedRetriever

HOSPITAL = (
    "Hospital Care Plan\n\n"
    "The Hospital Care Plan pays you a fixed amount for every night you spend in hospital, so you can focus on "
    "getting better. It is available to customers aged 18 to 65 who hold a current account with us. "
    "The plan includes the following benefits: 1. Daily Hospital Cash Benefit (DHCB) 2. Accidental Death "
    "Cover (ADC) 3. Critical Illness Cover. Cover starts on the day after your first premium is paid.\n\n"
    "How to claim:\n"
    "1. Call the claims line within 30 days of leaving hospital.\n"
    "2. Send us your discharge summary and your policy number.\n"
    "3. We pay the benefit into your account within 10 working days.\n\n"
    "• Pre-existing conditions are not covered in the first 12 months.\n"
    "• Stays of less than 24 hours are not covered.\n\n"
    "Read the full terms at https://www.example-bank.com/hospital-care/terms or ask in branch."
)


def _long_answer(chars: int) -> str:
    """HOSPITAL, then more paragraphs of plain policy text, to exactly ``chars`` characters."""
    filler = (
        " Your premium stays the same for the first five years of the plan and is reviewed every year after "
        "that; we write to you at least 30 days before any change."
    )
    text = HOSPITAL
    while len(text) < chars:
        text += "\n\n" + filler.strip()
    return text[: chars - 1].rstrip() + "." + "x" * (chars - len(text[: chars - 1].rstrip()) - 1)


def _csv(rows: list[tuple[str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "question", "answer", "alternates", "category", "language"])
    for faq_id, question, answer in rows:
        writer.writerow([faq_id, question, answer, "", "", "en"])
    return out.getvalue()


def test_a_5553_character_answer_imports() -> None:
    answer = _long_answer(5553)
    assert len(answer) == 5553
    result = parse_csv(_csv([("hospital", "What does the Hospital Care Plan cover?", answer)]))
    assert result.ok, result.problems
    assert result.entries[0].answer == answer.strip()


def test_an_answer_over_the_limit_is_refused_naming_its_line() -> None:
    rows = [
        ("a", "Question A?", "Answer A."),
        ("huge", "Question B?", "x " * 30_000),  # 60,000 characters
        ("c", "Question C?", "Answer C."),
    ]
    result = parse_csv(_csv(rows))
    assert [p.line for p in result.problems] == [3]
    assert f"longer than {MAX_ANSWER} characters" in result.problems[0].reason
    assert not result.ok and result.only_bad_rows  # --skip-bad imports a and c
    assert [e.id for e in result.entries] == ["a", "c"]


@pytest.mark.models
def test_cli_skip_bad_imports_the_good_rows(kiosk_home: Path, kiosk_cli, tmp_path: Path) -> None:
    rows = [
        ("a", "Do you sell travel insurance?", "Yes, single-trip and annual cover."),
        ("huge", "What are the full terms?", "x " * 30_000),
        ("c", "Can I order foreign currency?", "Yes, for collection the next working day."),
    ]
    path = tmp_path / "faq.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    refused = kiosk_cli("kb", "import", str(path), "--kb", "big")
    assert refused.returncode == 2
    assert "line 3: answer is longer than 50000 characters" in refused.stderr
    imported = kiosk_cli("kb", "import", str(path), "--kb", "big", "--skip-bad")
    assert imported.returncode == 0, imported.stderr
    assert "line 3: answer is longer than 50000 characters" in imported.stderr
    assert "imported 2 entries" in imported.stdout
    assert {e.id for e in FaqStore.open(kiosk_home / "kiosk.db").list("big")} == {"a", "c"}


def test_the_spoken_version_of_a_long_answer_is_short_and_says_the_rest_is_on_screen() -> None:
    answer = _long_answer(5553)
    spoken = spoken_version(answer)
    words = spoken.split()
    assert len(words) <= SPOKEN_WORDS + len(SCREEN_LINE["en"].split())
    assert spoken.endswith(SCREEN_LINE["en"])
    for fragment in (r"\(DHCB\)", r"(^|\s)\d\.(\s|$)", "•", "http", "www", "Hospital Care Plan The"):
        assert not re.search(fragment, spoken), (fragment, spoken)
    assert "Daily Hospital Cash Benefit, Accidental Death Cover and Critical Illness Cover." in spoken
    assert is_shortened(answer)


def test_a_bulleted_list_is_read_as_one_sentence() -> None:
    answer = "You can:\n• pay bills\n• send money abroad\n• check your balance\n\nAll of these are free."
    assert (
        spoken_version(answer) == "You can: pay bills, send money abroad and check your balance. All of these are free."
    )
    hours = "Opening hours\n\nMonday to Friday 9 to 5\nSaturday 9 to 1\nSunday closed\n\nCash machines work all day."
    said = "Monday to Friday 9 to 5, Saturday 9 to 1 and Sunday closed. Cash machines work all day."
    assert spoken_version(hours) == said  # the heading left out, the lines without marks read as a list


def test_a_short_plain_answer_is_spoken_as_written() -> None:
    answer = "We are open from 9 to 5 on weekdays. The cash machines work 24 hours a day."
    assert spoken_version(answer) == answer and not is_shortened(answer)
    assert spoken_version("Yes. Details at www.example.com/help.") == f"Yes. {SCREEN_LINE['en']}"
    assert spoken_version("La lista completa:\n1. uno\n2. dos", "es") == "La lista completa: uno y dos."


def _policy(tmp_path: Path, entries: list[FaqEntry]) -> AnswerPolicy:
    store = FaqStore.open(tmp_path / "kiosk.db")
    store.create_kb("bank", title="Test Bank")
    for entry in entries:
        store.upsert("bank", entry)
    retriever = ScriptedRetriever({"hospital cover": [("hospital", 0.95)]})
    return AnswerPolicy(kb="bank", store=store, retriever=retriever, dialog=DialogSection(), llm_settings=LlmSection())


def test_the_policy_shows_the_whole_answer_and_speaks_the_short_version(tmp_path: Path) -> None:
    answer = _long_answer(5553)
    entry = FaqEntry("hospital", "What does the Hospital Care Plan cover?", answer)
    p = _policy(tmp_path, [entry])
    said = p.answer("hospital cover")
    assert said.text == answer.strip()  # the screen
    assert " ".join(said.sentences) == spoken_version(answer) == p.store.get("bank", "hospital").speech
    assert said.sentences[-1] == SCREEN_LINE["en"]
    assert p.store.get("bank", "hospital").speech_is_automatic
    assert p.openings()[0] == said.sentences[0]  # the TTS cache synthesizes what is spoken


def test_an_entry_with_a_spoken_answer_speaks_it(tmp_path: Path) -> None:
    own = "The plan pays a fixed sum for each night in hospital. Ask us for a leaflet."
    entry = FaqEntry("hospital", "What does the Hospital Care Plan cover?", _long_answer(5553), spoken_answer=own)
    p = _policy(tmp_path, [entry])
    said = p.answer("hospital cover")
    assert " ".join(said.sentences) == own
    assert said.text == entry.answer.strip()
    assert not p.store.get("bank", "hospital").speech_is_automatic


def test_the_admin_app_flags_and_shows_an_automatic_spoken_version(tmp_path: Path) -> None:
    from tests.test_admin_support import make_app, signed_in

    app = make_app(tmp_path / "home")
    store = app.state.admin.store
    store.create_kb("long", title="Long")
    store.upsert("long", FaqEntry("hospital", "What does the Hospital Care Plan cover?", _long_answer(5553)))
    store.upsert("long", FaqEntry("short", "Are you open on Sundays?", "No.", spoken_answer="No, sorry."))
    editor = signed_in(app, "editor")
    listing = editor.client.get("/faqs?kb=long").text
    assert listing.count('data-testid="spoken-auto"') == 1  # the hospital entry only
    page = editor.client.get("/faqs/hospital?kb=long").text
    assert "Spoken automatically" in page and "The full answer is on the screen." in page
    assert "spoken-auto" not in editor.client.get("/faqs/short?kb=long").text
    own = "The plan pays a fixed sum for each night in hospital."
    form = {"question": "What does the Hospital Care Plan cover?", "answer": _long_answer(5553)}
    response = editor.post("/faqs/hospital?kb=long", {**form, "spoken_answer": own, "revision": "1", "enabled": "on"})
    assert response.status_code == 303, response.text[:300]
    entry = store.get("long", "hospital")
    assert entry is not None and entry.speech == own and not entry.speech_is_automatic
