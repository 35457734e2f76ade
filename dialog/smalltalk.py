"""Small talk the kiosk answers itself: greetings, thanks, goodbye, "what can you do"."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_RULES: list[tuple[str, str]] = [
    (
        "capabilities",
        r"^(so )?(what|how) (can|could|do) (you|u) (do|help( me)?( with)?)\b.*$|^help( me)?( please)?$|"
        r"^what (are you|is this)( for)?$|^what can i ask( you)?$|^who are you$|^what are you$",
    ),
    ("greeting", r"^(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening)|greetings)( there)?( kiosk)?$"),
    ("how_are_you", r"^(hi |hello |hey )?(how are you( doing)?|how's it going|how do you do)( today)?$"),
    (
        "thanks",
        r"^(ok(ay)?,? )?(thanks?( you)?( very much| so much| a lot)?|thank you|cheers|great,? thanks?|perfect,? thanks?)$",
    ),
    (
        "goodbye",
        r"^(ok(ay)?,? )?(bye|goodbye|good bye|see you( later)?|that's all|that is all|nothing else|i'm done|no thanks?)$",
    ),
]
# Greetings, thanks and goodbyes in the other languages a knowledge base may hold (see dialog.languages).
_OTHER_RULES: dict[str, list[tuple[str, str]]] = {
    "es": [
        ("greeting", r"^(hola|buenos días|buenas tardes|buenas noches|buenas)$"),
        ("thanks", r"^(muchas )?gracias( por todo)?$"),
        ("goodbye", r"^(adiós|hasta luego|chao|eso es todo)$"),
    ],
    "fr": [
        ("greeting", r"^(bonjour|bonsoir|salut)$"),
        ("thanks", r"^merci( beaucoup)?$"),
        ("goodbye", r"^(au revoir|à bientôt|c'est tout)$"),
    ],
    "de": [
        ("greeting", r"^(hallo|guten (morgen|tag|abend)|grüß gott)$"),
        ("thanks", r"^(vielen )?dank(e)?( schön| sehr)?$"),
        ("goodbye", r"^(auf wiedersehen|tschüss|das ist alles)$"),
    ],
}
_COMPILED = {
    lang: [(name, re.compile(p, re.IGNORECASE)) for name, p in rules]
    for lang, rules in {"en": _RULES, **_OTHER_RULES}.items()
}

REPLIES = {
    "greeting": "Hello, and welcome to {place}! What would you like to know?",
    "how_are_you": "I'm doing well, thank you for asking. How can I help you today?",
    "thanks": "You're welcome! Is there anything else I can help with?",
    "goodbye": "Goodbye, and have a nice day!",
    "capabilities": "I can answer questions about {place}, for example: {examples}. Just ask, or tap a question on the screen.",
}
OTHER_REPLIES = {
    "es": {
        "greeting": "¡Hola, bienvenido a {place}! ¿Qué le gustaría saber?",
        "thanks": "¡De nada! ¿Puedo ayudarle en algo más?",
        "goodbye": "¡Adiós, que tenga un buen día!",
    },
    "fr": {
        "greeting": "Bonjour et bienvenue à {place} ! Que souhaitez-vous savoir ?",
        "thanks": "Je vous en prie ! Puis-je vous aider pour autre chose ?",
        "goodbye": "Au revoir, et bonne journée !",
    },
    "de": {
        "greeting": "Hallo und willkommen bei {place}! Was möchten Sie wissen?",
        "thanks": "Gern geschehen! Kann ich sonst noch helfen?",
        "goodbye": "Auf Wiedersehen und einen schönen Tag!",
    },
}


@dataclass(frozen=True)
class SmallTalk:
    intent: str
    reply: str


def _normalize(text: str) -> str:
    return re.sub(r"[^\w\s']", "", text.lower()).strip()


def detect(text: str, *, place: str, examples: Callable[[], list[str]], language: str = "en") -> SmallTalk | None:
    """Small talk intent and reply; ``examples`` is only called for "what can you do"."""
    norm = " ".join(_normalize(text).split())
    if language in OTHER_REPLIES:
        for name, pattern in _COMPILED[language]:
            if pattern.match(norm):
                return SmallTalk(name, OTHER_REPLIES[language][name].format(place=place))
        return None
    for name, pattern in _COMPILED["en"]:
        if pattern.match(norm):
            listed = examples() if name == "capabilities" else []
            shown = ", ".join(e.rstrip("?").lower() for e in listed[:3]) or "opening hours and services"
            return SmallTalk(name, REPLIES[name].format(place=place, examples=shown))
    return None
