"""IoT Central's failures: one exception type, a fixed table of situations, and the codes they carry.

The real data-plane API answers every failure with ``{"error": {"code", "message", "requestId", "time"}}``
and repeats the code in the ``x-ms-error-code`` header (IoT Central REST API 2022-07-31). The *shape* is documented; the
code strings are not, so the fake uses HTTP-reason-style names that a live capture
can replace through ``Settings.central.error_codes`` (a mapping *situation → code*)::

    Settings(central=CentralSettings(error_codes={"invalid_proof": "InvalidPoP"}))

The model raises :class:`CentralError` with a *situation* (``"not_found"``, ``"invalid_proof"`` …); the
wire adapter only renders it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Situation:
    """One row of the situation table: an HTTP status and the fake-defined default code."""

    status: int
    code: str


#: Every failure the fake can report. Codes are fake-defined, not Azure's.
SITUATIONS: dict[str, Situation] = {
    "bad_request": Situation(400, "BadRequest"),
    "invalid_certificate": Situation(400, "InvalidCertificate"),
    "invalid_proof": Situation(400, "InvalidProofOfPossession"),
    "code_not_found": Situation(400, "VerificationCodeNotFound"),
    "unauthorized": Situation(401, "Unauthorized"),
    "forbidden": Situation(403, "Forbidden"),
    "not_found": Situation(404, "NotFound"),
    "app_not_found": Situation(404, "NotFound"),
    "method_not_allowed": Situation(405, "MethodNotAllowed"),
    "conflict": Situation(409, "Conflict"),
    "precondition_failed": Situation(412, "PreconditionFailed"),
    "too_large": Situation(413, "RequestEntityTooLarge"),
    "unsupported_media_type": Situation(415, "UnsupportedMediaType"),
    "internal_error": Situation(500, "InternalServerError"),
}


class CentralError(Exception):
    """A request IoT Central refuses. ``status`` and ``code`` are what goes on the wire.

    Build it with :meth:`of` so the code honours the ``central.error_codes`` overrides.
    """

    def __init__(self, status: int, code: str, message: str, situation: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.situation = situation

    @classmethod
    def of(cls, situation: str, message: str, overrides: Mapping[str, str] | None = None) -> CentralError:
        """The error for a named situation of the table (``KeyError`` for an unknown situation)."""
        row = SITUATIONS[situation]
        code = (overrides or {}).get(situation, row.code)
        return cls(row.status, code, message, situation)

    def __repr__(self) -> str:
        return f"CentralError({self.status}, {self.code!r}, {self.message!r})"
