"""The README's settings reference is generated from the schema and must stay in sync."""

from __future__ import annotations

from pathlib import Path

from core.reference import BEGIN, END, settings_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def test_settings_reference_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == settings_markdown(), "run: python -m core.reference, and paste into README.md"


def test_readme_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "./run.sh" in text and "./test.sh" in text
