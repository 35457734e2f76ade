"""One exception base with stable, machine-readable codes per subsystem.

Codes follow Home Assistant's assist pipeline style (``stt-stream-failed``): they
never change once released, so logs, the admin app and tests can match on them.
"""

from __future__ import annotations


class KioskError(Exception):
    """Base of every error the product raises on purpose.

    ``code`` is stable; ``hint`` tells a person what to do about it.
    """

    subsystem = "kiosk"
    code = "kiosk-error"

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "subsystem": self.subsystem, "message": self.message, "hint": self.hint}


class SettingsError(KioskError):
    subsystem = "settings"
    code = "settings-invalid"


class HomeError(KioskError):
    subsystem = "home"
    code = "home-unavailable"


class ModelError(KioskError):
    subsystem = "models"
    code = "model-error"


class ModelNotFoundError(ModelError):
    code = "model-not-found"


class ModelDownloadError(ModelError):
    code = "model-download-failed"


class AudioError(KioskError):
    subsystem = "audio"
    code = "audio-device-unavailable"


class SpeechError(KioskError):
    subsystem = "speech"
    code = "stt-stream-failed"


class TTSError(KioskError):
    subsystem = "tts"
    code = "tts-failed"


class KnowledgeError(KioskError):
    subsystem = "knowledge"
    code = "kb-error"


class DialogError(KioskError):
    subsystem = "dialog"
    code = "dialog-failed"


class AvatarError(KioskError):
    subsystem = "avatar"
    code = "avatar-failed"


class DisplayError(KioskError):
    subsystem = "display"
    code = "display-unavailable"
