"""Errors of the admin app, each with a stable code (see :mod:`core.errors`)."""

from __future__ import annotations

from core.errors import KioskError


class AdminError(KioskError):
    subsystem = "admin"
    code = "admin-error"


class PasswordInvalidError(AdminError):
    code = "admin-password-invalid"


class UserInvalidError(AdminError):
    code = "admin-user-invalid"


class UserExistsError(AdminError):
    code = "admin-user-exists"


class UserNotFoundError(AdminError):
    code = "admin-user-not-found"


class LastAdminError(AdminError):
    code = "admin-last-admin"


class CsrfError(AdminError):
    code = "admin-csrf-invalid"


class LoginThrottledError(AdminError):
    code = "admin-login-throttled"


class ImportPendingMissingError(AdminError):
    code = "admin-import-expired"


class AdminInsecureError(AdminError):
    code = "admin-insecure"
