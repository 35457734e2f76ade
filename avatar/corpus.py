"""Sentences for training and evaluating the audio-to-mouth model: kiosk-like phrases with varied sounds.

Deterministic: the same seed gives the same sentences. Held-out sentences are
built from words and templates the training split never uses together.
"""

from __future__ import annotations

import random

BASE_SENTENCES = (
    "Hello, welcome to the city museum. How can I help you today?",
    "The bank opens at nine in the morning and closes at five.",
    "Please take a number and wait until it appears on the screen.",
    "Our exhibition of ancient pottery is on the second floor.",
    "You can reset your card PIN at any of our cash machines.",
    "The next train to the airport leaves from platform four.",
    "Would you like me to show you the way to the cafe?",
    "Photography without flash is allowed in most galleries.",
    "I am sorry, I did not quite catch that. Could you say it again?",
    "Visitors under twelve must be accompanied by an adult.",
    "Your booking reference is on the confirmation email we sent.",
    "The cloakroom is free of charge and next to the main entrance.",
    "Monthly passes can be bought online or at the ticket office.",
    "Please keep your belongings with you at all times.",
    "Mortgage advisers are available by appointment from Monday to Friday.",
    "Wheelchairs and pushchairs can use the lift behind the shop.",
    "Thank you for visiting, and have a wonderful afternoon!",
    "Lost property is kept at the information desk for thirty days.",
    "Fresh fish, smooth jazz and a view over the river: our roof terrace has it all.",
    "Which platform does the blue line leave from?",
    "Feel free to browse; the guided tour starts at half past two.",
    "We have moved the vintage vehicles to the new wing.",
    "Just tap your phone on the reader to pay the fare.",
    "The quiet zone is on the upper deck of every carriage.",
)

SUBJECTS = (
    "the gift shop",
    "our savings account",
    "the dinosaur hall",
    "the night bus",
    "the family ticket",
    "the audio guide",
    "your new debit card",
    "the west exit",
    "the rooftop garden",
    "the weekly pass",
    "the science workshop",
    "the foreign exchange desk",
    "the children's trail",
    "the bicycle parking",
    "the sculpture garden",
    "the overdraft limit",
    "the lost luggage office",
    "the planetarium show",
)
PREDICATES = (
    "is open every day except Monday",
    "costs five pounds for adults",
    "can be found past the fountain",
    "moves to a new schedule in June",
    "needs a valid photo ID",
    "is free for members",
    "usually gets busy around lunchtime",
    "will reopen after the renovation",
    "offers a discount for students",
    "is just behind you on the left",
    "requires booking two weeks ahead",
    "was voted the best in the city",
    "should arrive within five working days",
    "has step free access",
    "closes early on public holidays",
)
OPENERS = ("", "Good news: ", "By the way, ", "As far as I know, ", "Sure! ", "Well, ", "Right, ", "Of course. ")
QUESTIONS = (
    "Do you know whether {s} {p}?",
    "Can you tell me if {s} {p}?",
    "Is it true that {s} {p}?",
    "Why do people say {s} {p}?",
)


def sentences(count: int, *, seed: int, held_out: bool = False) -> list[str]:
    """``count`` sentences; the held-out set uses other base sentences and other subject/predicate pairings."""
    if held_out and count <= HELD_OUT_POOL:
        # a fixed order, so a smaller evaluation is a prefix of a larger one (and shares its cache)
        return _sentences(HELD_OUT_POOL, seed=seed, held_out=True)[:count]
    return _sentences(count, seed=seed, held_out=held_out)


HELD_OUT_POOL = 60


def _sentences(count: int, *, seed: int, held_out: bool) -> list[str]:
    rng = random.Random(seed + (10_000 if held_out else 0))
    base = [s for i, s in enumerate(BASE_SENTENCES) if (i % 4 == 3) == held_out]
    out = list(base)
    while len(out) < count:
        si = rng.randrange(len(SUBJECTS))
        pi = rng.randrange(len(PREDICATES))
        if ((si + pi) % 5 == 0) != held_out:  # held-out pairings never appear in training
            continue
        subject, predicate = SUBJECTS[si], PREDICATES[pi]
        if rng.random() < 0.25:
            text = rng.choice(QUESTIONS).format(s=subject, p=predicate)
        else:
            text = f"{rng.choice(OPENERS)}{subject} {predicate}."
            text = text[0].upper() + text[1:]
        out.append(text)
    rng.shuffle(out)
    return out[:count]
