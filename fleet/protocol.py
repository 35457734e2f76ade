"""What the fleet server and its kiosks agree on: paths, limits, credentials and the knowledge digest.

The kiosk API (JSON over HTTP, ``Authorization: Bearer <credential>`` except for joining)::

    POST /api/v1/join       {"code", "software_version"}     -> {"kiosk_id", "site", "credential"}
    POST /api/v1/heartbeat  {"state", "kb_versions", "settings_version", "avatar_versions", ...}
                                                             -> {"target": {"bank": {"version", "sha256"}},
                                                                 "settings": {"version", "sha256"} | null,
                                                                 "avatars": {"anna": {"version", "sha256", "size"}}}
    GET  /api/v1/kb/NAME/VERSION                 -> {"kb", "version", "title", "sha256", "entries", "documents"}
    GET  /api/v1/settings/VERSION                -> {"version", "sha256", "settings": {section: {key: value}}}
    GET  /api/v1/avatar/NAME/VERSION             -> the pack as .tar.gz (its SHA-256 as announced in the target)
    POST /api/v1/turns      {"kiosk_id", "site", "turns": [{"id", "ts", "kb", "text", "answer", "mode", "faq_id"}]}
                                                             -> {"acked": [ids], "stored": n, "duplicates": n}

Errors come back as ``{"error": {"code", "message", "hint"}}`` with 400 (malformed), 401 (unknown or
revoked credential), 403 (a turn for another kiosk or site), 404, 409 (enrolment code already used),
413 (too large) or 503 (database unavailable).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

API = "/api/v1"
MAX_BODY_BYTES = 1 << 20  # any request from a kiosk
MAX_TURNS_PER_BATCH = 500
PUSH_BATCH = 200  # what a kiosk sends at once
MAX_TEXT = 4000
MAX_ANSWER = 20000
MAX_STATE = 40
MAX_ERROR_TEXT = 2000
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_GROUPS = 4
CODE_GROUP_LEN = 4
ALL_SITES = "*"


def new_enrolment_code() -> str:
    """``ABCD-EFGH-JKLM-NPQR``: 80 random bits, easy to type on a kiosk."""
    groups = ["".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUP_LEN)) for _ in range(CODE_GROUPS)]
    return "-".join(groups)


def normalize_code(code: str) -> str:
    """What a person typed, as stored: upper case, no separators."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def new_credential(kiosk_id: str) -> str:
    return f"{kiosk_id}.{secrets.token_urlsafe(32)}"


def secret_hash(secret: str) -> str:
    """SHA-256 of a high-entropy random secret (credentials, codes): what the server stores."""
    return hashlib.sha256(secret.encode()).hexdigest()


def canonical_entries(entries: list[dict[str, Any]]) -> bytes:
    return json.dumps(entries, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def entries_digest(entries: list[dict[str, Any]]) -> str:
    """The SHA-256 a kiosk checks a downloaded version against before it changes anything."""
    return hashlib.sha256(canonical_entries(entries)).hexdigest()


def version_digest(entries: list[dict[str, Any]], documents: list[dict[str, Any]] | None = None) -> str:
    """The digest of a knowledge version; without documents it is :func:`entries_digest` (older kiosks check that)."""
    if not documents:
        return entries_digest(entries)
    body = {"documents": documents, "entries": entries}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
