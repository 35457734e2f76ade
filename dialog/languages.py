"""What the kiosk says itself, in the languages a knowledge base may mix.

A knowledge base can hold entries in several languages (each entry has a
``language``); a visitor picks one on the screen and the answer policy then
only answers from entries in that language and speaks its stock texts (hand-off,
"did you mean", small talk) in it. The operator's own hand-off text
(``dialog.fallback_message``) is used for the knowledge base's main language.

Generated answers stay in :data:`LLM_LANGUAGES`: the bundled SmolLM2 writes
English only, so in other languages the kiosk speaks its entries' own text,
which is also the safest answer to hostile input it cannot read.
"""

from __future__ import annotations

LLM_LANGUAGES = ("en",)

NAMES = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "de": "Deutsch",
    "it": "Italiano",
    "pt": "Português",
}

FALLBACK = {
    "en": "I'm sorry, I can't help with that here. Please ask a member of staff at the counter.",
    "es": "Lo siento, no puedo ayudarle con eso aquí. Por favor, pregunte al personal en el mostrador.",
    "fr": "Désolé, je ne peux pas vous aider pour cela ici. Veuillez vous adresser au personnel à l'accueil.",
    "de": "Das kann ich hier leider nicht beantworten. Bitte fragen Sie unser Personal am Schalter.",
}

CLARIFY = {
    "en": "I'm not quite sure what you mean. Is it: {options} You can also tap your question on the screen.",
    "es": "No estoy seguro de lo que quiere decir. ¿Es: {options} También puede tocar su pregunta en la pantalla.",
    "fr": "Je ne suis pas sûr de comprendre. Est-ce : {options} Vous pouvez aussi toucher votre question à l'écran.",
    "de": "Ich bin nicht sicher, was Sie meinen. Ist es: {options} Sie können Ihre Frage auch auf dem Bildschirm antippen.",
}
CLARIFY_OR = {"en": " Or: ", "es": " O: ", "fr": " Ou : ", "de": " Oder: "}


def name(language: str) -> str:
    """The language's own name, for the switch on screen."""
    return NAMES.get(language, language)


def base(language: str) -> str:
    """``es-MX`` -> ``es``."""
    return (language or "en").split("-")[0].lower()


def fallback(language: str, configured: str, main: str) -> str:
    """The hand-off text: the operator's own in the main language, else the built-in translation."""
    if base(language) == base(main) or base(language) not in FALLBACK:
        return configured
    return FALLBACK[base(language)]


def clarify(language: str, questions: list[str]) -> str:
    lang = base(language) if base(language) in CLARIFY else "en"
    return CLARIFY[lang].format(options=CLARIFY_OR[lang].join(questions))
