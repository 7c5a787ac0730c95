"""Typed errors for the three wire contracts, parsed from the real error shapes.

Each service answers failures in its own shape:

* **Sphere legacy v2** — ``PublicApiErrorDetails``: RFC 7807 problem details plus ``ErrorCode``, sent as a JSON
  array of one object or as a single object (``sphere.legacy_error_body``); asynchronous operations carry
  ``ErrorResponse {"Code": <int>, "Message"}`` instead (Azure Sphere public API v2).
* **Sphere ARM** — ARM common-types v3: ``{"error": {"code", "message", "target", "details", "additionalInfo"}}``.
* **IoT Central** — ``{"error": {"code", "message", "requestId", "time"}}`` plus the ``x-ms-error-code`` header.

Whatever the shape, the client raises a :class:`ServiceError` subclass that carries the HTTP ``status``, the
service's error ``code``, a human ``message`` and the ``request_id`` to quote to support — so a scenario can say
``expect_error: {status: 400, code: InvalidProofOfPossession}`` without knowing which service it is talking to.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

#: response headers that carry a request or correlation id, most specific first
REQUEST_ID_HEADERS = ("x-ms-request-id", "x-request-id", "request-id", "x-ms-correlation-request-id")

#: Azure Sphere public API v2: ``ErrorResponse.Code`` values inside operations
LEGACY_OPERATION_ERROR_CODES = {
    0: "OperationFailed",
    1: "TenantInMigration",
    2: "TenantMigrationRequired",
    3: "ClientUpdateRequired",
    4: "InternalServerError",
    5: "BadRequest",
    6: "Forbidden",
    7: "Conflict",
    8: "NotFound",
}


class HarnessClientError(Exception):
    """Base of everything the wire clients raise."""


class TransportFailure(HarnessClientError):
    """The request never got an HTTP answer (connection refused, TLS failure, dropped connection …).

    It is not a :class:`ServiceError`: there is no status, no error code and no request id, because no service
    answered. ``cause`` is the underlying :class:`httpx.TransportError` — ``ReadError`` or
    ``RemoteProtocolError`` when a connection was dropped half-way (the in-process fake raises ``ReadError`` for
    a ``drop`` fault, a served world really closes the socket), ``ConnectError`` when nobody listened. For a
    non-idempotent request (``POST``) the caller cannot know whether the service acted on it before the
    connection went: the clients do not retry those (see :mod:`harness.clients.base`).
    """

    def __init__(self, service: str, method: str, url: str, cause: BaseException) -> None:
        super().__init__(f"{service}: {method} {url} failed before any response: {cause}")
        self.service = service
        self.method = method
        self.url = url
        self.cause = cause

    def to_dict(self) -> dict[str, Any]:
        """The failure as scenario variables see it (``save_as`` on an ``expect_error: {transport: true}`` step)."""
        return {
            "service": self.service,
            "transport": True,
            "error": type(self.cause).__name__,
            "method": self.method,
            "url": self.url,
            "message": str(self),
        }


class ServiceError(HarnessClientError):
    """An HTTP error answer from a service, in that service's error shape.

    ``status`` is the HTTP status, ``code`` the service's error code string (``None`` when the body had none),
    ``message`` its human text, ``request_id`` the correlation id from the body or headers, ``body`` the parsed
    JSON (or text) as received.
    """

    service = "service"

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        *,
        request_id: str | None = None,
        method: str = "",
        url: str = "",
        body: Any = None,
    ) -> None:
        where = f" ({method} {url})" if method else ""
        rid = f" [request id {request_id}]" if request_id else ""
        super().__init__(f"{self.service} answered {status} {code or '-'}: {message}{where}{rid}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.method = method
        self.url = url
        self.body = body

    def to_dict(self) -> dict[str, Any]:
        """The error as scenario variables see it (``save_as`` on an ``expect_error`` step)."""
        return {
            "service": self.service,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
        }

    @classmethod
    def from_response(cls, response: httpx.Response) -> ServiceError:
        body = _body(response)
        code, message, request_id = cls.parse(body, response)
        request_id = request_id or _header_request_id(response)
        if not message:
            message = response.reason_phrase or f"HTTP {response.status_code}"
        return cls(
            response.status_code,
            code,
            message,
            request_id=request_id,
            method=response.request.method,
            url=str(response.request.url),
            body=body,
        )

    @staticmethod
    def parse(body: Any, response: httpx.Response | None = None) -> tuple[str | None, str, str | None]:
        """(code, message, request id) from a body; subclasses know their service's shape."""
        return None, body if isinstance(body, str) else "", None


class SphereLegacyError(ServiceError):
    """An error from the Sphere legacy v2 API (``PublicApiErrorDetails``, array or object)."""

    service = "Azure Sphere (legacy v2)"

    @staticmethod
    def parse(body: Any, response: httpx.Response | None = None) -> tuple[str | None, str, str | None]:
        details = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else body
        if isinstance(details, dict):
            if "ErrorCode" in details or "Detail" in details or "Title" in details:
                message = details.get("Detail") or details.get("Title") or ""
                return _str(details.get("ErrorCode")), str(message), None
            if "Code" in details:  # ErrorResponse, as inside an Operation
                code = details.get("Code")
                name = LEGACY_OPERATION_ERROR_CODES.get(code, str(code)) if isinstance(code, int) else _str(code)
                return name, str(details.get("Message") or ""), None
        return None, body if isinstance(body, str) else "", None


def _parse_error_object(body: Any) -> tuple[str | None, str, str | None]:
    """``{"error": {"code", "message", …}}`` — the shape ARM and the simulator control surface share."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return _str(error.get("code")), str(error.get("message") or ""), None
    return None, body if isinstance(body, str) else "", None


class ArmError(ServiceError):
    """An error from Azure Resource Manager (``{"error": {"code", "message", …}}``)."""

    service = "Azure Resource Manager (Microsoft.AzureSphere)"

    @staticmethod
    def parse(body: Any, response: httpx.Response | None = None) -> tuple[str | None, str, str | None]:
        return _parse_error_object(body)


class CentralApiError(ServiceError):
    """An error from the IoT Central data-plane API (``{"error": {…}}`` plus ``x-ms-error-code``)."""

    service = "IoT Central"

    @staticmethod
    def parse(body: Any, response: httpx.Response | None = None) -> tuple[str | None, str, str | None]:
        header_code = response.headers.get("x-ms-error-code") if response is not None else None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
            code = _str(error.get("code")) or header_code
            return code, str(error.get("message") or ""), _str(error.get("requestId"))
        return header_code, body if isinstance(body, str) else "", None


class ControlError(ServiceError):
    """An error from the simulator control surface ``/_sim`` (``{"error": {"code", "message"}}``)."""

    service = "simulator control /_sim"

    @staticmethod
    def parse(body: Any, response: httpx.Response | None = None) -> tuple[str | None, str, str | None]:
        return _parse_error_object(body)


class OperationFailed(SphereLegacyError):
    """A legacy asynchronous operation (e.g. a claim) that ended ``Failed`` or ``CompleteWithErrors``."""


class UnexpectedResponse(HarnessClientError):
    """A success status whose body is not the documented shape (the client will not guess)."""


def _body(response: httpx.Response) -> Any:
    text = response.text
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()[:2000]


def _header_request_id(response: httpx.Response) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value
    return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
