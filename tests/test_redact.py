from __future__ import annotations

import pytest

from dialog.redact import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my card is 4111 1111 1111 1111 thanks", "my card is [CARD] thanks"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("call me on +44 20 7946 0958", "call me on [PHONE]"),
        ("my number is 07700 900123", "my number is [PHONE]"),
        ("mail john.doe@example.com please", "mail [EMAIL] please"),
        ("it's john at gmail dot com", "it's [EMAIL]"),
        ("account 12345678 please", "account [NUMBER] please"),
        ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN [ACCOUNT]"),
        ("four one one one one one one one one one one one one one one one", "[CARD]"),
        ("it is oh seven seven double nine one two three four five six", "it is [PHONE]"),
        ("my account is one two three four five six seven eight", "my account is [NUMBER]"),
        ("four 1 1 one two three four five", "[NUMBER]"),
    ],
)
def test_personal_numbers_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "platform 3 at 5 pm costs 2.50",
        "I lost my card ending 1234",
        "oh I see, two tickets please",
        "we are a family of one two three four",
        "is the 10:30 tour free",
    ],
)
def test_ordinary_numbers_stay(text: str) -> None:
    assert redact(text) == text
