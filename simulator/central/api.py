"""The IoT Central data-plane REST API (2022-07-31 and the previews clients send) as a Starlette app.

``build_app(cloud)`` answers ``https://<subdomain>.azureiotcentral.com/api/...``. This module only
translates: it picks the application from the ``Host`` header, checks the front-door rules every operation
shares, calls the model inside ``with cloud.lock:`` (never awaiting inside), and renders the result.

Front-door rules, in the order they are applied (IoT Central REST API 2022-07-31):

1. ``Host`` → application: the app whose subdomain is the first label (``contoso.azureiotcentral.com``); a
   host without a subdomain reaches the world's default app (so ``https://127.0.0.1:8443`` works); a
   subdomain that names no application answers 404 ``NotFound`` (``CentralService.find_app_for_host``);
2. ``Authorization`` → 401 ``Unauthorized`` unless it is a valid token *of that app* — on every
   path, routed or not: a path with no operation answers 404 and a verb the path lacks 405 with ``Allow`` only
   to an authenticated caller; then 403 ``Forbidden`` unless the token's roles grant the operation
   (:meth:`~simulator.central.model.App.authorize`, :mod:`simulator.central.permissions`);
3. ``api-version`` → 400 unless exactly one of the accepted versions is given (repeating the same value is
   tolerated, because the CLI re-sends it when following ``nextLink``; ``central.accepted_api_versions``);
4. the body → 413 if it is larger than ``central.max_body_bytes`` (read no further); 415 unless the
   media type is JSON (PATCH also takes ``application/merge-patch+json``); 400 if it is not JSON.

Every failure is ``{"error": {"code", "message", "requestId", "time"}}`` with ``x-ms-error-code`` equal to
the code and ``x-ms-request-id`` equal to ``requestId``; ``time`` is RFC 1123. Verify and every delete
answer ``204`` with no body, because the CLI treats 204 as success without reading it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator import wire
from simulator.central.devices import wire_time
from simulator.central.errors import SITUATIONS, CentralError
from simulator.central.model import App, Page

JSON_TYPES = ("application/json",)
PATCH_TYPES = ("application/json", "application/merge-patch+json")


@dataclass
class Call:
    """One authenticated, validated request, as the operation functions see it."""

    app: App
    request: Request
    params: dict[str, str]
    api_version: str
    body: Any
    if_match: str | None

    def next_link(self, token: str | None) -> str | None:
        """The absolute ``nextLink`` of a paged list: same URL, ``api-version`` and ``$skiptoken``."""
        if token is None:
            return None
        query = urlencode({"api-version": self.api_version, "$skiptoken": token}, safe="$")
        return str(self.request.url.replace(query=query))


Operation = Callable[[Call], Any]


# -- errors ------------------------------------------------------------------------------------------------


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    """IoT Central's error shape (``{"error": {code, message, requestId, time}}``); also what fault injection
    answers with (``simulator.fault_middleware``)."""
    starlette_app = request.scope.get("app")
    cloud = getattr(getattr(starlette_app, "state", None), "cloud", None)
    request_id = _request_id(request)
    now = cloud.clock.now() if cloud is not None else datetime.now(UTC)
    error = {"code": code, "message": message, "requestId": request_id, "time": format_datetime(now, usegmt=True)}
    return JSONResponse(
        {"error": error},
        status_code=status,
        headers={"x-ms-error-code": code, "x-ms-request-id": request_id},
    )


def _request_id(request: Request) -> str:
    """A request ID per request (not from the world's entropy: reads must not shift seeded state)."""
    state = request.scope.setdefault("state", {})
    if "central_request_id" not in state:
        state["central_request_id"] = str(uuid.uuid4())
    return state["central_request_id"]


def _central_error(request: Request, exc: CentralError) -> Response:
    return error_response(request, exc.status, exc.code, exc.message)


def _fail(cloud: Any, situation: str, message: str) -> CentralError:
    return CentralError.of(situation, message, cloud.settings.central.error_codes)


# -- the shared front door -------------------------------------------------------------------------------


def _api_version(cloud: Any, request: Request) -> str:
    accepted = cloud.settings.central.accepted_api_versions
    values = request.query_params.getlist("api-version")
    if not values:
        raise _fail(cloud, "bad_request", f"the 'api-version' query parameter is required ({', '.join(accepted)})")
    if len(set(values)) > 1:
        raise _fail(cloud, "bad_request", f"conflicting 'api-version' values: {', '.join(sorted(set(values)))}")
    if values[0] not in accepted:
        raise _fail(
            cloud,
            "bad_request",
            f"api-version {values[0]!r} is not supported; supported versions are {', '.join(accepted)}",
        )
    return values[0]


async def _read_body(cloud: Any, request: Request, media_types: tuple[str, ...], required: bool) -> Any:
    """Read at most ``max_body_bytes`` (413 beyond), check the media type (415) and parse JSON (400) — through the
    wire seam (:mod:`simulator.wire`: UTF-8, no lone surrogates, bounded depth)."""
    payload = await wire.read_json(request, max_bytes=cloud.settings.central.max_body_bytes, media_types=media_types)
    if payload is None and required:
        raise _fail(cloud, "bad_request", "this operation needs a JSON request body")
    return payload


def _wire_error(cloud: Any, exc: wire.WireError) -> CentralError:
    """A refusal of the wire seam as the IoT Central error situation it is."""
    situation = exc.problem if exc.problem in ("too_large", "unsupported_media_type") else "bad_request"
    return _fail(cloud, situation, exc.message)


def _endpoint(
    cloud: Any,
    operation: Operation,
    *,
    body: str = "none",
    media_types: tuple[str, ...] = JSON_TYPES,
) -> Callable[[Request], Any]:
    """Wrap an operation with the front door. ``body`` is ``"none"``, ``"optional"`` or ``"required"``."""

    async def endpoint(request: Request) -> Response:
        try:
            with cloud.lock:
                app = cloud.central.app_for_host(request.headers.get("host", ""))
                principal = app.authenticate(request.headers.get("authorization"))
                app.authorize(principal, operation.__name__)
            wire.check_query(request)
            api_version = _api_version(cloud, request)
            payload = None
            if body != "none":
                payload = await _read_body(cloud, request, media_types, required=body == "required")
            call = Call(
                app=app,
                request=request,
                params=dict(request.path_params),
                api_version=api_version,
                body=payload,
                if_match=request.headers.get("if-match"),
            )
            with cloud.lock:
                result = operation(call)
        except CentralError as exc:
            return _central_error(request, exc)
        except wire.WireError as exc:
            return _central_error(request, _wire_error(cloud, exc))
        if isinstance(result, Response):
            result.headers["x-ms-request-id"] = _request_id(request)
            return result
        return JSONResponse(result, headers={"x-ms-request-id": _request_id(request)})

    return endpoint


def _no_content() -> Response:
    return Response(status_code=204)


def _paged(call: Call, page: Page[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"value": [render(item) for item in page.items]}
    link = call.next_link(page.next_token)
    if link is not None:
        body["nextLink"] = link
    return body


# -- enrollment groups -------------------------------------------------------------------------------------


def list_groups(call: Call) -> dict[str, Any]:
    page = call.app.list_groups(call.request.query_params.get("$skiptoken"))
    return _paged(call, page, lambda group: call.app.group_body(group, call.api_version))


def get_group(call: Call) -> dict[str, Any]:
    group = call.app.get_group(call.params["group_id"])
    return call.app.group_body(group, call.api_version)


def create_group(call: Call) -> dict[str, Any]:
    group = call.app.put_group(call.params["group_id"], call.body, if_match=call.if_match)
    return call.app.group_body(group, call.api_version)


def update_group(call: Call) -> dict[str, Any]:
    group = call.app.patch_group(call.params["group_id"], call.body, if_match=call.if_match)
    return call.app.group_body(group, call.api_version)


def delete_group(call: Call) -> Response:
    call.app.delete_group(call.params["group_id"], if_match=call.if_match)
    return _no_content()


# -- certificate entries -----------------------------------------------------------------------------------


def get_certificate(call: Call) -> dict[str, Any]:
    return call.app.get_certificate(call.params["group_id"], call.params["entry"]).as_dict()


def set_certificate(call: Call) -> dict[str, Any]:
    entry = call.app.set_certificate(call.params["group_id"], call.params["entry"], call.body, if_match=call.if_match)
    return entry.as_dict()


def remove_certificate(call: Call) -> Response:
    call.app.remove_certificate(call.params["group_id"], call.params["entry"], if_match=call.if_match)
    return _no_content()


def generate_code(call: Call) -> dict[str, Any]:
    code = call.app.generate_verification_code(call.params["group_id"], call.params["entry"])
    return {"verificationCode": code}


def verify(call: Call) -> Response:
    call.app.verify_certificate(call.params["group_id"], call.params["entry"], call.body)
    return _no_content()


# -- devices -----------------------------------------------------------------------------------------------


def list_devices(call: Call) -> dict[str, Any]:
    page = call.app.list_devices(call.request.query_params.get("$skiptoken"))
    return _paged(call, page, lambda device: device.as_dict())


def get_device(call: Call) -> dict[str, Any]:
    return call.app.get_device(call.params["device_id"]).as_dict()


def create_device(call: Call) -> dict[str, Any]:
    return call.app.put_device(call.params["device_id"], call.body).as_dict()


def update_device(call: Call) -> dict[str, Any]:
    return call.app.patch_device(call.params["device_id"], call.body, if_match=call.if_match).as_dict()


def delete_device(call: Call) -> Response:
    call.app.delete_device(call.params["device_id"])
    return _no_content()


def get_device_attestation(call: Call) -> dict[str, Any]:
    return call.app.device_attestation(call.params["device_id"])


def get_device_credentials(call: Call) -> dict[str, Any]:
    return call.app.device_credentials(call.params["device_id"])


def get_device_properties(call: Call) -> dict[str, Any]:
    return call.app.device_properties(call.params["device_id"])


def update_device_properties(call: Call) -> Response:
    """202: IoT Central accepts the write and the device applies it later (the document's only success status)."""
    call.app.update_device_properties(call.params["device_id"], call.body)
    return JSONResponse(call.app.device_properties(call.params["device_id"]), status_code=202)


def replace_device_properties(call: Call) -> Response:
    call.app.replace_device_properties(call.params["device_id"], call.body)
    return JSONResponse(call.app.device_properties(call.params["device_id"]), status_code=202)


def create_device_attestation(call: Call) -> dict[str, Any]:
    return call.app.set_device_attestation(call.params["device_id"], call.body)


def update_device_attestation(call: Call) -> dict[str, Any]:
    return call.app.patch_device_attestation(call.params["device_id"], call.body)


def remove_device_attestation(call: Call) -> Response:
    call.app.remove_device_attestation(call.params["device_id"])
    return _no_content()


def list_device_components(call: Call) -> dict[str, Any]:
    return {"value": call.app.device_components(call.params["device_id"])}


# -- device templates --------------------------------------------------------------------------------------


def list_device_templates(call: Call) -> dict[str, Any]:
    page = call.app.list_templates(call.request.query_params.get("$skiptoken"))
    return _paged(call, page, lambda template: template.as_dict())


def get_device_template(call: Call) -> dict[str, Any]:
    return call.app.get_template(call.params["template_id"]).as_dict()


def create_device_template(call: Call) -> dict[str, Any]:
    return call.app.put_template(call.params["template_id"], call.body, if_match=call.if_match).as_dict()


def update_device_template(call: Call) -> dict[str, Any]:
    return call.app.patch_template(call.params["template_id"], call.body, if_match=call.if_match).as_dict()


def remove_device_template(call: Call) -> Response:
    call.app.remove_template(call.params["template_id"])
    return _no_content()


# -- organizations -----------------------------------------------------------------------------------------


def list_organizations(call: Call) -> dict[str, Any]:
    page = call.app.list_organizations(call.request.query_params.get("$skiptoken"))
    return _paged(call, page, lambda organization: organization.as_dict())


def get_organization(call: Call) -> dict[str, Any]:
    return call.app.get_organization(call.params["organization_id"]).as_dict()


def create_organization(call: Call) -> dict[str, Any]:
    return call.app.put_organization(call.params["organization_id"], call.body).as_dict()


def update_organization(call: Call) -> dict[str, Any]:
    return call.app.patch_organization(call.params["organization_id"], call.body).as_dict()


def remove_organization(call: Call) -> Response:
    call.app.remove_organization(call.params["organization_id"])
    return _no_content()


# -- API tokens and roles ----------------------------------------------------------------------------------


def list_api_tokens(call: Call) -> dict[str, Any]:
    page = call.app.list_api_tokens(call.request.query_params.get("$skiptoken"))
    return _paged(call, page, lambda record: record.as_dict())


def get_api_token(call: Call) -> dict[str, Any]:
    return call.app.get_api_token(call.params["token_id"]).as_dict()


def create_api_token(call: Call) -> dict[str, Any]:
    """The answer carries ``token`` — the only time IoT Central shows it."""
    return call.app.create_api_token(call.params["token_id"], call.body)


def remove_api_token(call: Call) -> Response:
    call.app.remove_api_token(call.params["token_id"])
    return _no_content()


def list_roles(call: Call) -> dict[str, Any]:
    return {"value": call.app.list_roles()}


def get_role(call: Call) -> dict[str, Any]:
    return call.app.get_role(call.params["role_id"])


# -- device groups -----------------------------------------------------------------------------------------


def list_device_groups(call: Call) -> dict[str, Any]:
    page = call.app.list_device_groups(call.request.query_params.get("$skiptoken"))
    return _paged(call, page, lambda group: group.as_dict())


def get_device_group(call: Call) -> dict[str, Any]:
    return call.app.get_device_group(call.params["device_group_id"]).as_dict()


def create_device_group(call: Call) -> dict[str, Any]:
    group = call.app.put_device_group(call.params["device_group_id"], call.body, if_match=call.if_match)
    return group.as_dict()


def update_device_group(call: Call) -> dict[str, Any]:
    group = call.app.patch_device_group(call.params["device_group_id"], call.body, if_match=call.if_match)
    return group.as_dict()


def remove_device_group(call: Call) -> Response:
    call.app.remove_device_group(call.params["device_group_id"])
    return _no_content()


def list_device_group_devices(call: Call) -> dict[str, Any]:
    page = call.app.device_group_devices(call.params["device_group_id"], call.request.query_params.get("$skiptoken"))
    return _paged(call, page, lambda device: device.as_dict())


def get_device_telemetry(call: Call) -> dict[str, Any]:
    point = call.app.device_telemetry(call.params["device_id"], call.params["telemetry_name"])
    return {"timestamp": wire_time(point.timestamp), "value": point.value}


# -- the app -----------------------------------------------------------------------------------------------

_GROUP = "/api/enrollmentGroups/{group_id}"
_ENTRY = _GROUP + "/certificates/{entry}"
_DEVICE = "/api/devices/{device_id}"
_TEMPLATE = "/api/deviceTemplates/{template_id}"
_ORGANIZATION = "/api/organizations/{organization_id}"
_API_TOKEN = "/api/apiTokens/{token_id}"
_DEVICE_GROUP = "/api/deviceGroups/{device_group_id}"

#: (path, verb, operation, body rule, media types) — the route name is the operation's name.
ROUTES: list[tuple[str, str, Operation, str, tuple[str, ...]]] = [
    ("/api/enrollmentGroups", "GET", list_groups, "none", JSON_TYPES),
    (_GROUP, "GET", get_group, "none", JSON_TYPES),
    (_GROUP, "PUT", create_group, "required", JSON_TYPES),
    (_GROUP, "PATCH", update_group, "required", PATCH_TYPES),
    (_GROUP, "DELETE", delete_group, "none", JSON_TYPES),
    (_ENTRY, "GET", get_certificate, "none", JSON_TYPES),
    (_ENTRY, "PUT", set_certificate, "required", JSON_TYPES),
    (_ENTRY, "DELETE", remove_certificate, "none", JSON_TYPES),
    (_ENTRY + "/generateVerificationCode", "POST", generate_code, "optional", JSON_TYPES),
    (_ENTRY + "/verify", "POST", verify, "required", JSON_TYPES),
    ("/api/devices", "GET", list_devices, "none", JSON_TYPES),
    (_DEVICE, "GET", get_device, "none", JSON_TYPES),
    (_DEVICE, "PUT", create_device, "required", JSON_TYPES),
    (_DEVICE, "PATCH", update_device, "required", PATCH_TYPES),
    (_DEVICE, "DELETE", delete_device, "none", JSON_TYPES),
    (_DEVICE + "/attestation", "GET", get_device_attestation, "none", JSON_TYPES),
    (_DEVICE + "/attestation", "PUT", create_device_attestation, "required", JSON_TYPES),
    (_DEVICE + "/attestation", "PATCH", update_device_attestation, "required", PATCH_TYPES),
    (_DEVICE + "/attestation", "DELETE", remove_device_attestation, "none", JSON_TYPES),
    (_DEVICE + "/components", "GET", list_device_components, "none", JSON_TYPES),
    (_DEVICE + "/credentials", "GET", get_device_credentials, "none", JSON_TYPES),
    (_DEVICE + "/properties", "GET", get_device_properties, "none", JSON_TYPES),
    (_DEVICE + "/properties", "PUT", replace_device_properties, "required", JSON_TYPES),
    (_DEVICE + "/properties", "PATCH", update_device_properties, "required", PATCH_TYPES),
    (_DEVICE + "/telemetry/{telemetry_name}", "GET", get_device_telemetry, "none", JSON_TYPES),
    ("/api/deviceTemplates", "GET", list_device_templates, "none", JSON_TYPES),
    (_TEMPLATE, "GET", get_device_template, "none", JSON_TYPES),
    (_TEMPLATE, "PUT", create_device_template, "required", JSON_TYPES),
    (_TEMPLATE, "PATCH", update_device_template, "required", PATCH_TYPES),
    (_TEMPLATE, "DELETE", remove_device_template, "none", JSON_TYPES),
    ("/api/organizations", "GET", list_organizations, "none", JSON_TYPES),
    (_ORGANIZATION, "GET", get_organization, "none", JSON_TYPES),
    (_ORGANIZATION, "PUT", create_organization, "required", JSON_TYPES),
    (_ORGANIZATION, "PATCH", update_organization, "required", PATCH_TYPES),
    (_ORGANIZATION, "DELETE", remove_organization, "none", JSON_TYPES),
    ("/api/apiTokens", "GET", list_api_tokens, "none", JSON_TYPES),
    (_API_TOKEN, "GET", get_api_token, "none", JSON_TYPES),
    (_API_TOKEN, "PUT", create_api_token, "required", JSON_TYPES),
    (_API_TOKEN, "DELETE", remove_api_token, "none", JSON_TYPES),
    ("/api/roles", "GET", list_roles, "none", JSON_TYPES),
    ("/api/roles/{role_id}", "GET", get_role, "none", JSON_TYPES),
    ("/api/deviceGroups", "GET", list_device_groups, "none", JSON_TYPES),
    (_DEVICE_GROUP, "GET", get_device_group, "none", JSON_TYPES),
    (_DEVICE_GROUP, "PUT", create_device_group, "required", JSON_TYPES),
    (_DEVICE_GROUP, "PATCH", update_device_group, "required", PATCH_TYPES),
    (_DEVICE_GROUP, "DELETE", remove_device_group, "none", JSON_TYPES),
    (_DEVICE_GROUP + "/devices", "GET", list_device_group_devices, "none", JSON_TYPES),
]


def _allowed_methods(routes: list[Route], path: str) -> list[str]:
    """Every verb some route serves at ``path`` (each verb is its own route, so Starlette's 405 names only one)."""
    methods: set[str] = set()
    for route in routes:
        if route.path_regex.match(path) and route.methods:
            methods |= route.methods
    return sorted(methods)


def build_app(cloud: Any) -> Starlette:
    """The Starlette app serving every application of ``cloud.central`` (chosen by ``Host``)."""
    routes = [
        Route(
            path,
            _endpoint(cloud, operation, body=body, media_types=media_types),
            methods=[verb],
            name=operation.__name__,
        )
        for path, verb, operation, body, media_types in ROUTES
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        """No route answered: the front door still runs first — the app must exist and the caller must hold one of
        its tokens — so an unauthenticated caller learns nothing about which routes exist (401 everywhere)."""
        assert isinstance(exc, HTTPException)
        try:
            with cloud.lock:
                app = cloud.central.app_for_host(request.headers.get("host", ""))
                app.authenticate(request.headers.get("authorization"))
        except CentralError as failure:
            return _central_error(request, failure)
        headers = {}
        if exc.status_code == 405:
            situation, message = "method_not_allowed", f"{request.method} is not supported on {request.url.path}"
            headers["Allow"] = ", ".join(_allowed_methods(routes, request.url.path))
        else:
            situation, message = "not_found", f"no IoT Central API operation at {request.url.path}"
        row = SITUATIONS[situation]
        code = cloud.settings.central.error_codes.get(situation, row.code)
        response = error_response(request, row.status, code, message)
        response.headers.update(headers)
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        """A bug: 500 in IoT Central's error shape (Starlette re-raises it afterwards, so the server still logs it)."""
        failure = _fail(cloud, "internal_error", "the service failed to process the request")
        return error_response(request, failure.status, failure.code, failure.message)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
    app.router.redirect_slashes = False  # a trailing slash is a path no route serves: 404 in this shape, no 307
    app.state.cloud = cloud
    return app
