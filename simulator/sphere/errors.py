"""The one exception the Sphere model raises, and how each wire adapter names it.

The model speaks in HTTP statuses and ARM-style codes (``ResourceNotFound``, ``Conflict`` …);
the legacy adapter turns the status into its ``PublicApiErrorDetails`` ``ErrorCode`` and the async
``ErrorResponse`` enum (``{"Code": 7, "Message": …}``, Azure Sphere public API v2).
"""

from __future__ import annotations

# PublicApiErrorDetails.ErrorCode per HTTP status (fake-defined: the strings are not documented).
LEGACY_ERROR_CODES: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    500: "InternalServerError",
}

# The ErrorResponse.Code enum of asynchronous operations (Azure Sphere public API v2).
OPERATION_ERROR_CODES: dict[int, int] = {400: 5, 403: 6, 404: 8, 409: 7, 500: 4}


class SphereError(Exception):
    """A refusal by the Azure Sphere security service.

    ``status`` is the HTTP status both APIs answer with, ``code`` the ARM error code, ``message`` the text
    a user sees, ``target`` the offending field or name when there is one.
    """

    def __init__(self, status: int, code: str, message: str, *, target: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target

    @property
    def legacy_code(self) -> str:
        """The legacy ``ErrorCode`` string for this status (``sphere.legacy_error_body``)."""
        return LEGACY_ERROR_CODES.get(self.status, "BadRequest" if self.status < 500 else "InternalServerError")

    @property
    def operation_code(self) -> int:
        """The legacy ``ErrorResponse.Code`` integer for a failed operation (0 = OperationFailed)."""
        return OPERATION_ERROR_CODES.get(self.status, 0)

    def __repr__(self) -> str:
        return f"SphereError({self.status}, {self.code!r}, {self.message!r})"


def not_found(what: str, name: str) -> SphereError:
    return SphereError(404, "ResourceNotFound", f"The {what} '{name}' was not found.", target=name)


def bad_request(message: str, *, target: str | None = None, code: str = "InvalidRequestContent") -> SphereError:
    return SphereError(400, code, message, target=target)
