"""The DPS device REST API (``https://global.azure-devices-provisioning.net``), as a Starlette app.

Three operations of the ``device.json`` 2021-10-01 spec (azure-rest-api-specs, DPS device API):

========================================================  =====================================================
``PUT /{idScope}/registrations/{registrationId}/register``  start a registration → 202 ``assigning`` with
                                                          ``Location`` and ``Retry-After``
``GET /{idScope}/registrations/{registrationId}/operations/{operationId}``  poll → 202 while assigning, 200 when done
``POST /{idScope}/registrations/{registrationId}``          the device's current registration → 200
========================================================  =====================================================

Authentication is the TLS client certificate only. Every request must carry ``api-version`` (any non-empty
value). Errors are ``ProvisioningServiceErrorDetails`` ``{errorCode, trackingId, message, timestampUtc}`` with the
six-digit code also in ``x-ms-error-code``; throttling is 429 with ``Retry-After`` (``dps.registrations_per_second``).

**Where the client chain comes from.** The ASGI TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``,
PEM strings, leaf first) is used when the server provides it. uvicorn 0.54 does not; :class:`TlsH11Protocol` is a
uvicorn HTTP protocol (``uvicorn.Config(..., http=TlsH11Protocol)``) that adds the extension from the TLS
connection, so served HTTPS registrations present real, key-proven client certificates, and adds the chain
OpenSSL verified (:data:`VERIFIED_CHAIN`), whose signatures DPS then does not check a second time. In-process
(no TLS at all) the chain travels in the header ``X-Sphere-Harness-Client-Chain: <base64 of the PEM chain>``; the
header is ignored whenever the TLS extension is present, i.e. it is an in-process convenience only and proves no
possession of the device key (every signature of that chain is checked by DPS).

**Certificate dates** are judged on the world's clock, as on the MQTT listener: the served DPS port's TLS context
is kept by :class:`simulator.dps.mqtt.WorldTrust`, which (with ``dps.tls_validity_clock = "world"``) lets
OpenSSL prove the chain and the key but not the dates; :meth:`DpsService.authenticate` then checks every
certificate's validity on the world's clock on every request — so a certificate renewed after the clock travelled is
accepted, and one that expired in the world is refused with 401 / ``401002``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator import wire
from simulator.dps.model import DpsError
from simulator.fault_middleware import EFFECT_KEY
from simulator.pki import CertificateFormatError, load_pem_chain

CHAIN_HEADER = "x-sphere-harness-client-chain"


#: a key of the ASGI TLS extension this server adds (:class:`TlsH11Protocol`): the chain OpenSSL verified in the
#: connection's handshake, as certificates. Only the server sets scope extensions, never a client's request.
VERIFIED_CHAIN = "sphere_harness.verified_chain"


def verified_client_chain(request: Request) -> tuple[x509.Certificate, ...]:
    """The chain the TLS handshake verified (its signatures need no second check), or ``()`` — always in-process,
    where the chain header proves nothing and DPS verifies every signature itself."""
    tls = (request.scope.get("extensions") or {}).get("tls")
    return tuple(tls.get(VERIFIED_CHAIN) or ()) if tls is not None else ()


def client_chain(request: Request) -> list[x509.Certificate]:
    """The client's chain, leaf first: from the ASGI TLS extension, else (in-process only) the chain header."""
    tls = (request.scope.get("extensions") or {}).get("tls")
    if tls is not None:
        pems = tls.get("client_cert_chain") or []
        return [cert for pem in pems for cert in load_pem_chain(pem)]
    header = request.headers.get(CHAIN_HEADER)
    if not header:
        return []
    try:
        return load_pem_chain(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError, CertificateFormatError):
        return []


def error_response(request: Request, status: int, code: str | int, message: str) -> Response:
    """A DPS error in the real shape; also used by the fault-injection middleware."""
    cloud = request.app.state.cloud
    try:
        error_code = int(code)
    except (TypeError, ValueError):
        error_code = status * 1000
    error = DpsError("bad_request", message, error_code=error_code)
    return _error(cloud, error, status=status)


def _error(cloud: Any, exc: DpsError, *, status: int | None = None) -> JSONResponse:
    tracking = cloud.dps.tracking_id()
    headers = {"x-ms-error-code": str(exc.error_code), "x-ms-request-id": tracking}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(exc.details(tracking, cloud.clock.now()), status_code=status or exc.status, headers=headers)


async def _body(request: Request, cloud: Any) -> dict[str, Any]:
    """The JSON object body (empty = ``{}``), read through the wire seam (:mod:`simulator.wire`)."""
    try:
        body = await wire.read_json(request)
    except wire.WireError as exc:
        raise _wire_error(cloud, exc) from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise cloud.dps.error("bad_request", "the request body is not a JSON object")
    return body


def _wire_error(cloud: Any, exc: wire.WireError) -> DpsError:
    """A refusal of the wire seam as a DPS error: ``bad_request`` (400004), or status × 1000 for a 413."""
    if exc.status == 400:
        return cloud.dps.error("bad_request", exc.message)
    error = DpsError("bad_request", exc.message, error_code=exc.status * 1000)
    error.status = exc.status
    return error


def _api_version(request: Request, cloud: Any) -> None:
    try:
        wire.check_query(request)
    except wire.WireError as exc:
        raise _wire_error(cloud, exc) from None
    if not request.query_params.get("api-version"):
        raise cloud.dps.error("bad_request", "the api-version query parameter is required")


def injected_failure(request: Request) -> int | None:
    """The six-digit code a fired ``dps_failed`` fault rule asks this registration to fail with, else None.

    The fault layer (:mod:`simulator.fault_middleware`) cannot apply ``dps_failed`` itself: the real service accepts
    the registration (202 ``assigning``) and only the operation ends ``failed``. It leaves the fired effect in the
    request's scope state; the registration carries the rule's ``dps_error_code`` (``400209``, the code the real
    service gives a failed assignment, when the rule names none) into the model — as the MQTT adapter does.
    """
    effect = (request.scope.get("state") or {}).get(EFFECT_KEY)
    if effect is None or getattr(effect, "kind", None) != "dps_failed":
        return None
    return effect.dps_error_code or 400209


def _operation_response(request: Request, cloud: Any, operation: Any) -> JSONResponse:
    body = operation.to_json()
    if operation.finished:
        return JSONResponse(body, status_code=200)
    scope_id = request.path_params["id_scope"]
    registration_id = request.path_params["registration_id"]
    location = f"{request.url.scheme}://{request.url.netloc}/{scope_id}/registrations/{registration_id}/register"
    headers = {"Location": location, "Retry-After": str(operation.retry_after)}
    return JSONResponse(body, status_code=202, headers=headers)


async def register(request: Request) -> Response:
    """Register the device presenting the TLS client chain: 202 ``assigning`` with an operation to poll."""
    cloud = request.app.state.cloud
    try:
        _api_version(request, cloud)
        body = await _body(request, cloud)
        scope_id = request.path_params["id_scope"]
        registration_id = request.path_params["registration_id"]
        if str(body.get("registrationId", registration_id)).lower() != registration_id.lower():
            raise cloud.dps.error("bad_request", "registrationId in the body does not match the path")
        chain = client_chain(request)
        injected = injected_failure(request)
        with cloud.lock:
            operation = cloud.dps.register(
                scope_id,
                registration_id,
                chain,
                body.get("payload"),
                served_host=request.url.hostname,
                injected_failure=injected,
                verified_chain=verified_client_chain(request),
            )
            return _operation_response(request, cloud, operation)
    except DpsError as exc:
        return _error(cloud, exc)


async def operation_status(request: Request) -> Response:
    """Poll a registration operation: ``assigning``, then ``assigned`` with ``registrationState`` (or ``failed``)."""
    cloud = request.app.state.cloud
    try:
        _api_version(request, cloud)
        scope_id = request.path_params["id_scope"]
        registration_id = request.path_params["registration_id"]
        chain = client_chain(request)
        with cloud.lock:
            cloud.dps.authenticate(scope_id, registration_id, chain, verified_chain=verified_client_chain(request))
            operation = cloud.dps.operation_status(scope_id, registration_id, request.path_params["operation_id"])
            return _operation_response(request, cloud, operation)
    except DpsError as exc:
        return _error(cloud, exc)


async def registration_status(request: Request) -> Response:
    """Read the device's registration (``registrationState``), once assigned."""
    cloud = request.app.state.cloud
    try:
        _api_version(request, cloud)
        await _body(request, cloud)
        scope_id = request.path_params["id_scope"]
        registration_id = request.path_params["registration_id"]
        chain = client_chain(request)
        with cloud.lock:
            cloud.dps.authenticate(scope_id, registration_id, chain, verified_chain=verified_client_chain(request))
            registration = cloud.dps.registration_status(scope_id, registration_id)
            return JSONResponse(registration.state(), status_code=200)
    except DpsError as exc:
        return _error(cloud, exc)


def build_app(cloud: Any) -> Starlette:
    """The DPS device API of ``cloud`` (wrapped in fault injection when the world has rules)."""
    routes = [
        Route("/{id_scope}/registrations/{registration_id}/register", register, methods=["PUT"], name="register"),
        Route(
            "/{id_scope}/registrations/{registration_id}/operations/{operation_id}",
            operation_status,
            methods=["GET"],
            name="operation_status",
        ),
        Route(
            "/{id_scope}/registrations/{registration_id}",
            registration_status,
            methods=["POST"],
            name="registration_status",
        ),
    ]

    async def unrouted(request: Request, exc: Exception) -> Response:
        """404 / 405 as ``ProvisioningServiceErrorDetails``, like every other DPS answer."""
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return error_response(request, 405, 405000, f"{request.method} is not supported on {request.url.path}")
        return error_response(request, 404, cloud.dps.error("not_found", "").error_code, "no such DPS operation")

    async def server_error(request: Request, exc: Exception) -> Response:
        """A bug: 500 in the DPS error shape (Starlette re-raises it afterwards, so the server still logs it)."""
        return error_response(request, 500, 500000, "the service failed to process the request")

    app = Starlette(routes=routes, exception_handlers={404: unrouted, 405: unrouted, Exception: server_error})
    app.router.redirect_slashes = False  # a trailing slash is a path no route serves: 404 in this shape, no 307
    app.state.cloud = cloud
    return app  # the fault layer is added once, around every adapter, by FakeCloud._adapter


def _tls_extension(transport: Any) -> dict[str, Any] | None:
    """The ASGI TLS extension dict for a uvicorn transport, or None for plain TCP."""
    from simulator.dps.mqtt import peer_chains
    from simulator.pki import to_pem

    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    chain, verified = peer_chains(ssl_object)
    return {
        VERIFIED_CHAIN: tuple(verified),
        "server_cert": None,
        "client_cert_chain": [to_pem(cert).decode("ascii") for cert in chain],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


try:
    from uvicorn.protocols.http.h11_impl import H11Protocol
except ImportError:  # pragma: no cover
    H11Protocol = None  # type: ignore[assignment,misc]


if H11Protocol is not None:

    class TlsH11Protocol(H11Protocol):  # type: ignore[misc,valid-type]
        """uvicorn's h11 protocol plus the ASGI TLS extension (``client_cert_chain``) for every request.

        Use ``uvicorn.Config(app, ssl_cert_reqs=ssl.CERT_OPTIONAL, ssl_ca_certs=…, http=TlsH11Protocol)``.
        """

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            tls = _tls_extension(transport)
            if tls is None:
                return
            inner = self.app

            async def with_tls(scope: Any, receive: Any, send: Any) -> None:
                if scope.get("type") == "http":
                    scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": tls}}
                await inner(scope, receive, send)

            self.app = with_tls
