"""Everything the kiosk window says itself, by language (the answers come from the knowledge base).

English is complete; another language may leave a text out and English is shown
in its place. ``{phrase}`` is the wake phrase, ``{left}`` the seconds left, ``{voice}``
the language the kiosk listens in.
"""

from __future__ import annotations

from dialog.languages import base

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "starting": "Getting ready…",
        "attract": "Say “{phrase}” or tap the screen",
        "attract_touch": "Tap a question or type your own",
        "listening": "I'm listening…",
        "thinking": "Let me check…",
        "follow_up": "Anything else? Just ask.",
        "follow_up_touch": "Anything else? Tap or type it.",
        "clarify": "Which one did you mean? Tap or say it.",
        "clarify_touch": "Which one did you mean? Tap it.",
        "handoff": "Our staff at the counter will be happy to help.",
        "idle": "Say “{phrase}” or tap the screen to ask another question",
        "idle_touch": "Tap a question or type another one",
        "error": "Please ask a member of staff.",
        "not_understood": "Sorry, I didn't catch that. Please say it again, or tap a question.",
        "hello": "Hello! How can I help you today?",
        "placeholder": "Type your question…",
        "ask": "Ask",
        "talk": "Talk",
        "type": "Type",
        "stop": "Stop",
        "repeat": "Repeat",
        "quieter": "Vol −",
        "louder": "Vol +",
        "text_size": "Text size",
        "contrast": "Contrast",
        "warning": "Are you still there? Tap anywhere to continue. Starting over in {left} s.",
        "startup_failed": "Sorry, I can't answer right now. Please ask a member of staff.",
        "went_wrong": "Sorry, something went wrong. Please try again or ask a member of staff.",
        "mic_unavailable": "The microphone is unavailable, please use the touch screen.",
        "sound_unavailable": "Sound is unavailable right now; answers are shown on the screen.",
        "voice_other_language": "Voice questions are in {voice} only: please tap or type.",
    },
    "es": {
        "attract": "Diga “{phrase}” o toque la pantalla",
        "attract_touch": "Toque una pregunta o escriba la suya",
        "listening": "Le escucho…",
        "thinking": "Un momento…",
        "follow_up": "¿Algo más? Pregunte sin más.",
        "follow_up_touch": "¿Algo más? Tóquelo o escríbalo.",
        "clarify": "¿Cuál quería decir? Tóquela o dígala.",
        "clarify_touch": "¿Cuál quería decir? Tóquela.",
        "handoff": "El personal del mostrador le ayudará con mucho gusto.",
        "idle": "Diga “{phrase}” o toque la pantalla para otra pregunta",
        "idle_touch": "Toque una pregunta o escriba otra",
        "error": "Por favor, pregunte al personal.",
        "hello": "¡Hola! ¿En qué puedo ayudarle?",
        "placeholder": "Escriba su pregunta…",
        "ask": "Preguntar",
        "talk": "Hablar",
        "type": "Escribir",
        "stop": "Parar",
        "repeat": "Repetir",
        "text_size": "Tamaño",
        "contrast": "Contraste",
        "warning": "¿Sigue ahí? Toque la pantalla para continuar. Volvemos al inicio en {left} s.",
        "went_wrong": "Lo siento, algo ha fallado. Inténtelo de nuevo o pregunte al personal.",
        "mic_unavailable": "El micrófono no está disponible; use la pantalla táctil.",
        "voice_other_language": "Las preguntas por voz solo son en {voice}: toque o escriba su pregunta.",
    },
    "fr": {
        "attract_touch": "Touchez une question ou écrivez la vôtre",
        "thinking": "Je vérifie…",
        "follow_up_touch": "Autre chose ? Touchez ou écrivez.",
        "clarify_touch": "Laquelle vouliez-vous dire ? Touchez-la.",
        "handoff": "Notre personnel à l'accueil se fera un plaisir de vous aider.",
        "idle_touch": "Touchez une question ou écrivez-en une autre",
        "hello": "Bonjour ! Comment puis-je vous aider ?",
        "placeholder": "Écrivez votre question…",
        "ask": "Demander",
        "talk": "Parler",
        "type": "Écrire",
        "stop": "Arrêter",
        "repeat": "Répéter",
        "text_size": "Taille",
        "contrast": "Contraste",
        "warning": "Êtes-vous toujours là ? Touchez l'écran pour continuer. Retour à l'accueil dans {left} s.",
        "voice_other_language": "Questions vocales en {voice} seulement : touchez ou écrivez.",
    },
    "de": {
        "attract_touch": "Tippen Sie eine Frage an oder schreiben Sie Ihre eigene",
        "thinking": "Einen Moment…",
        "follow_up_touch": "Noch etwas? Antippen oder schreiben.",
        "clarify_touch": "Welche meinten Sie? Bitte antippen.",
        "handoff": "Unser Personal am Schalter hilft Ihnen gern weiter.",
        "idle_touch": "Tippen Sie eine Frage an oder schreiben Sie eine neue",
        "hello": "Hallo! Wie kann ich Ihnen helfen?",
        "placeholder": "Schreiben Sie Ihre Frage…",
        "ask": "Fragen",
        "talk": "Sprechen",
        "type": "Schreiben",
        "stop": "Stopp",
        "repeat": "Wiederholen",
        "text_size": "Textgröße",
        "contrast": "Kontrast",
        "warning": "Sind Sie noch da? Tippen Sie, um fortzufahren. Neustart in {left} s.",
        "voice_other_language": "Sprachfragen nur auf {voice}: bitte antippen oder schreiben.",
    },
}


def text(language: str, key: str, **values: object) -> str:
    """The window's text ``key`` in ``language`` (English where it has none)."""
    table = TEXTS.get(base(language), {})
    template = table.get(key) or TEXTS["en"].get(key, "")
    return template.format(**values) if values else template
