"""``kiosk kb``, ``kiosk ask`` and ``kiosk eval`` as an operator runs them (separate processes, real models)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.models

REPO = Path(__file__).resolve().parent.parent


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "answer", "alternates", "category", "language"])
        writer.writerows(rows)
    return path


def test_default_kb_is_there_without_configuration(kiosk_cli) -> None:
    result = kiosk_cli("kb", "list", "--json")
    assert result.returncode == 0, result.stderr
    kbs = {kb["name"]: kb for kb in result.json()}
    assert kbs["bank"]["faq_count"] >= 40
    assert kbs["bank"]["alternate_count"] >= 3 * 40


def test_ask_json_contract(kiosk_cli) -> None:
    result = kiosk_cli("ask", "I lost my card", "--json")
    assert result.returncode == 0, result.stderr
    data = result.json()
    assert set(data) >= {"answer", "mode", "faq_id", "score", "candidates", "timings_ms"}
    assert data["mode"] == "faq" and data["faq_id"] == "bank-lost-card"
    assert 0.0 <= data["score"] <= 1.0
    assert all(set(c) == {"faq_id", "score"} and 0 <= c["score"] <= 1 for c in data["candidates"])
    assert data["timings_ms"]["decide"] > 0


def test_import_with_bad_rows_changes_nothing(kiosk_cli, tmp_path: Path) -> None:
    good = write_csv(
        tmp_path / "good.csv",
        [["park", "Where can I park?", "Behind the building.", "parking|car park|where do I leave my car", "x", "en"]],
    )
    assert kiosk_cli("kb", "import", str(good), "--kb", "shop").returncode == 0
    bad = write_csv(
        tmp_path / "bad.csv",
        [
            ["toilet", "Where is the toilet?", "Ground floor.", "loo|restroom", "x", "en"],
            ["broken", "", "No question here.", "", "x", "en"],
            ["toilet", "Duplicate?", "Dup.", "", "x", "en"],
        ],
    )
    for extra in ([], ["--replace"]):
        result = kiosk_cli("kb", "import", str(bad), "--kb", "shop", *extra)
        assert result.returncode == 2
        assert "line 3: question is empty" in result.stderr
        assert "line 4: id 'toilet' already used on line 2" in result.stderr
        assert "kb-import-invalid" in result.stderr
    exported = kiosk_cli("kb", "export", "--kb", "shop", "--format", "jsonl")
    assert [json.loads(line)["id"] for line in exported.stdout.splitlines()] == ["park"]
    answer = kiosk_cli("ask", "where do I leave my car", "--kb", "shop", "--json", "--no-llm").json()
    assert answer["faq_id"] == "park"


def test_import_replace_and_export_round_trip(kiosk_cli, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "v1.csv",
        [
            ["a", "What is A?", "A is the first letter.", "tell me about a|explain a", "x", "en"],
            ["b", "What is B?", "B is the second letter.", "tell me about b|explain b", "x", "en"],
        ],
    )
    assert kiosk_cli("kb", "import", str(first), "--kb", "letters", "--title", "Letters").returncode == 0
    second = write_csv(tmp_path / "v2.csv", [["a", "What is A?", "A is a vowel.", "tell me about a", "x", "en"]])
    assert kiosk_cli("kb", "import", str(second), "--kb", "letters", "--replace").returncode == 0
    out = tmp_path / "out.csv"
    assert kiosk_cli("kb", "export", "--kb", "letters", "--out", str(out)).returncode == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["id"], r["answer"]) for r in rows] == [("a", "A is a vowel.")]
    again = kiosk_cli("kb", "import", str(out), "--kb", "letters", "--dry-run")
    assert again.returncode == 0 and "1 entries" in again.stdout


def test_eval_retrieval_contract(kiosk_cli, tmp_path: Path) -> None:
    rows = tmp_path / "eval.csv"
    rows.write_text(
        "text,expected_id\n"
        "my bank card has been stolen,bank-lost-card\n"
        "are you open this saturday,bank-hours-saturday\n"
        "who won the football last night,\n",
        encoding="utf-8",
    )
    result = kiosk_cli("eval", "retrieval", str(rows), "--kb", "bank", "--json")
    assert result.returncode == 0, result.stderr
    report = result.json()
    assert set(report) == {
        "n",
        "in_scope_n",
        "oos_n",
        "top1",
        "top3",
        "in_scope_accuracy",
        "oos_recall",
        "ms_per_query",
    }
    assert (report["n"], report["in_scope_n"], report["oos_n"]) == (3, 2, 1)
    assert report["top1"] == 1.0 and report["in_scope_accuracy"] == 1.0 and report["oos_recall"] == 1.0
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nx,y\n", encoding="utf-8")
    assert kiosk_cli("eval", "retrieval", str(bad)).returncode == 2


@pytest.mark.slow
def test_large_import_shows_progress_and_matches(kiosk_cli, tmp_path: Path) -> None:
    subjects = [
        f"{a} {b}"
        for a in ("red", "blue", "green", "amber", "silver", "golden", "violet", "white", "black", "orange")
        for b in (
            "tram",
            "ferry",
            "locker",
            "ticket",
            "voucher",
            "parcel",
            "bicycle",
            "scooter",
            "badge",
            "pass",
            "key",
            "map",
            "umbrella",
            "coat",
            "stroller",
            "wheelchair",
            "tablet",
            "headset",
            "camera",
            "guide",
        )
    ]
    templates = [
        "where do I get a {s}",
        "how much is a {s}",
        "can I borrow a {s}",
        "I lost my {s}",
        "is the {s} free",
        "who do I ask about the {s}",
        "do you have a {s}",
        "how do I return the {s}",
        "opening times for the {s}",
        "what is the {s}",
        "can children use the {s}",
        "is there a deposit for the {s}",
        "can I book a {s}",
        "where is the {s} desk",
        "help with the {s}",
        "{s} please",
        "{s} information",
        "my {s} is broken",
        "how long can I keep the {s}",
        "do I need ID for the {s}",
        "can I pay for the {s} by card",
        "is the {s} available today",
        "can I reserve a {s} online",
        "how many {s}s do you have",
        "what happens if I damage the {s}",
        "can my friend collect the {s}",
        "is the {s} accessible",
        "where do I leave the {s}",
        "who is responsible for the {s}",
        "can I get a refund for the {s}",
        "is there a queue for the {s}",
        "what are the rules for the {s}",
        "are pets allowed with the {s}",
        "can I use the {s} at night",
        "is the {s} included in my ticket",
        "how old must I be for the {s}",
        "do you sell the {s}",
        "is there a discount on the {s}",
        "can I extend my {s}",
        "how do I report a problem with the {s}",
        "where can I charge the {s}",
        "can I take the {s} outside",
        "is the {s} insured",
        "what colour is the {s}",
        "can I see the {s} first",
        "how heavy is the {s}",
        "is the {s} new",
        "when does the {s} close",
        "can I swap my {s}",
        "where was my {s} found",
        "can I give back the {s} tomorrow",
    ]
    rows = [
        [
            f"item-{i}",
            f"Tell me about the {s}.",
            f"The {s} is at desk {i % 9 + 1}.",
            "|".join(t.format(s=s) for t in templates[1:]),
            "items",
            "en",
        ]
        for i, s in enumerate(subjects)
    ]
    path = write_csv(tmp_path / "large.csv", rows)
    result = kiosk_cli("kb", "import", str(path), "--kb", "large", timeout=900)
    assert result.returncode == 0, result.stderr
    assert "10000 alternates" in result.stdout
    assert "indexing" in result.stderr  # the progress bar
    answer = kiosk_cli("ask", "where do I get a golden ferry", "--kb", "large", "--json", "--no-llm").json()
    assert answer["faq_id"] == "item-101"
