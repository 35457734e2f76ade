"""Errors of the fleet server and the kiosk's fleet agent, each with a stable code (see :mod:`core.errors`)."""

from __future__ import annotations

from core.errors import KioskError


class FleetError(KioskError):
    subsystem = "fleet"
    code = "fleet-error"


class FleetDatabaseError(FleetError):
    code = "fleet-db-unavailable"


class FleetInputError(FleetError):
    """Refused input (bad request, unknown site, ...): nothing was stored."""

    code = "fleet-input-invalid"


class EnrolmentError(FleetError):
    code = "fleet-enrolment-refused"


class NotJoinedError(FleetError):
    code = "fleet-not-joined"


class ServerUnreachableError(FleetError):
    code = "fleet-unreachable"


class CredentialRejectedError(FleetError):
    code = "fleet-credential-rejected"


class RequestRefusedError(FleetError):
    code = "fleet-request-refused"


class DownloadInvalidError(FleetError):
    code = "fleet-download-invalid"
