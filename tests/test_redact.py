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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a card number spoken in groups, with the pauses ASR writes as commas
        ("my card is four one one one, one one one one, one one one one, one one one one", "my card is [CARD]"),
        ("double four one one, one one one one, one one one one, one one one one", "[CARD]"),
        ("it's oh seven seven, double nine one, two three four five six", "it's [PHONE]"),
        # PINs
        ("PIN is 4321", "PIN is [PIN]"),
        ("my pin number is four three two one", "my pin number is [PIN]"),
        ("my PIN: 98765, is it right?", "my PIN: [PIN], is it right?"),
        ("pin 1234 and my card 4111 1111 1111 1111", "pin [PIN] and my card [CARD]"),
        # card security codes
        ("CVV 123", "CVV [CVV]"),
        ("the cvc is 4 5 6", "the cvc is [CVV]"),
        ("CVV2 is 123", "CVV2 is [CVV]"),
        ("the security code on the back is one two three", "the security code on the back is [CVV]"),
        # card expiry
        ("it expires 12/27", "it expires [EXPIRY]"),
        ("12/27", "[EXPIRY]"),
        ("valid until 03/2029 I think", "valid until [EXPIRY] I think"),
        ("expires 12 27", "expires [EXPIRY]"),
        ("the expiry date is twelve twenty seven", "the expiry date is [EXPIRY]"),
        ("exp oh three twenty nine", "exp [EXPIRY]"),
        # UK sort codes
        ("20-00-00", "[SORT CODE]"),
        ("my sort code is 20-00-00 thanks", "my sort code is [SORT CODE] thanks"),
        ("sort code 20 00 00", "sort code [SORT CODE]"),
        ("sort code two oh, oh oh, oh oh", "sort code [SORT CODE]"),
        # everything at once
        ("card 4111 1111 1111 1111 exp 12/27 cvv 123 pin 9876", "card [CARD] exp [EXPIRY] cvv [CVV] pin [PIN]"),
    ],
)
def test_spoken_and_short_secrets_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "is platform 2 open",
        "opening hours 9 to 5",
        "ticket 2.40",
        "a day ticket is 12.50 and a week 48",
        "platform 2, 3, 4 and 5",
        "open 9-17 daily, 24/7 at the machines",
        "half price is 1/2 and three quarters 3/4",
        "how do I change my PIN?",
        "my pin is blocked after 3 tries",
        "my ticket expires in 2 days",
        "what is the security code for the wifi",
        "is the sort code on my card",
        "I lost my card ending 1234",
        "the 9, 10 and 11 o'clock tours",
        "gate 12 or gate 27",
        "room 101 on floor 3",
        "is bus 25 late",
    ],
)
def test_ordinary_numbers_a_visitor_asks_about_stay(text: str) -> None:
    assert redact(text) == text
