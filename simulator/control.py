"""The simulator control surface: arrange and inspect what Azure itself cannot do (fake-only).

A real tenant cannot be conjured, a real clock cannot jump 90 days, a real device cannot be minted. Scenarios that
need such things say so (they are *fake-only*) and do them here — never through the service APIs, which stay
faithful to Azure. Two forms, same semantics:

* the **Python API** — :func:`create_tenant`, :func:`create_app`, :func:`create_devices`, :func:`travel`,
  :func:`ensure_defaults` — plain functions over a :class:`~simulator.cloud.FakeCloud`;
* the **HTTP API** under ``/_sim`` — :func:`build_control_app`. The served world mounts it on every HTTPS port
  (``https://127.0.0.1:<port>/_sim/…``; the endpoints file names one as ``control_url``); in-process it answers on
  ``https://sim.sphere-harness.local/_sim/…`` (:data:`CONTROL_HOST`, routed by :mod:`simulator.inprocess`).

================================  ===========================================================================
``GET  /_sim/health``             ``{"status": "ok", "now", "seed", "tenants", "apps"}``
``POST /_sim/reset``              forget every tenant, app, device, registration and fault rule; the clock keeps
                                  its time. A served world re-creates its default tenant/app (same IDs, new tokens)
                                  and answers the new ``endpoints``.
``GET  /_sim/clock``              ``{"now", "offset_s"}`` (offset from real time)
``POST /_sim/clock``              ``{"advance": "90d"}`` or ``{"set": "<ISO 8601>"}`` → ``{"now", "offset_s"}``;
                                  forward only (``dps.tls_validity_clock``)
``POST /_sim/tenants``            ``{"name"?, "tenant_id"?, "email"?}`` → a tenant plus an Administrator user and
                                  its legacy and ARM bearer tokens
``POST /_sim/tokens``             ``{"email", "audience": "sphere"|"arm"}`` → a fresh bearer token (after travel)
``POST /_sim/apps``               ``{"subdomain"?, "name"?, "auto_approve"?}`` → app ID, subdomain, API token,
                                  ID scope, hub host
``POST /_sim/devices``            ``{"count": N, "claim": true, "tenant_id": …}`` → each device's ID, private key
                                  PEM and certificate chain PEM (leaf first, then what the device presents)
``GET  /_sim/devices/{id}``       a device's fresh daily certificate chain once it is claimed (what its attestation
                                  would give it): ``{"id", "tenant_id", "certificate_chain_pem"}``; 409 unclaimed
``GET/POST/DELETE /_sim/faults``  fault rules (:mod:`simulator.faults`); ``DELETE /_sim/faults/{id}`` removes one
``GET  /_sim/requests``           the request journal (:mod:`simulator.journal`): ``?service= operation= method=
                                  status= path= since= limit=``; ``DELETE`` clears it (``?service=`` one service)
``GET  /_sim/state``              what the world holds, readably, no keys or tokens (:mod:`simulator.world_view`)
``POST /_sim/snapshot``           the whole world as one JSON document (:mod:`simulator.state.routes`)
``POST /_sim/restore``            become the world a document describes (400 ``InvalidWorld`` changes nothing)
================================  ===========================================================================

Errors are ``{"error": {"code", "message"}}`` with 400 (bad input), 404 (unknown tenant, rule or path), 405 or
409 (the model refused, e.g. a subdomain already taken). As everywhere in the world, a rejected request changes
nothing: every input is checked before the first model call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator import wire
from simulator.clock import ClockError, parse_duration
from simulator.control_base import CONTROL_PREFIX, ControlError
from simulator.hosts import CONTROL_HOST as CONTROL_HOST  # public here too (tests, users)

DEFAULT_USER_EMAIL = "admin@sphere-harness.local"
DEFAULT_TENANT_NAME = "sphere-harness"
DEFAULT_APP_SUBDOMAIN = "sphere-harness"
#: tokens handed out by the control surface outlive a long session and a fair amount of clock travel
CONTROL_TOKEN_LIFETIME = timedelta(days=3650)
MAX_DEVICES_PER_CALL = 1000
#: the longest clock travel of one call, and the latest instant a world's clock may reach (:func:`travel`)
MAX_TRAVEL = timedelta(days=36525)
LATEST_INSTANT = datetime(9000, 1, 1, tzinfo=UTC)
#: the largest body the control API reads (a fault rule or a tenant request is well under 1 KB)
MAX_BODY_BYTES = 64 * 1024


# -- Python API ------------------------------------------------------------------------------------------------


def _texts(**values: Any) -> None:
    """Refuse a string argument that is not storable text (a lone surrogate) before any model is called."""
    for name, value in values.items():
        if isinstance(value, str):
            try:
                wire.check_text(value, name)
            except wire.WireError as exc:
                raise ControlError(400, "InvalidText", exc.message) from None


@dataclass
class TenantAccess:
    """A tenant and a user who administers it, with bearer tokens for both Sphere APIs."""

    tenant_id: str
    name: str
    catalog: str
    subscription_id: str
    resource_group: str
    user: str
    token: str
    arm_token: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class AppAccess:
    """An IoT Central application and an operator API token for it."""

    id: str
    subdomain: str
    name: str
    id_scope: str
    hub_host: str
    auto_approve: bool
    api_token: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DeviceMaterial:
    """What a simulated Sphere device holds: its ID, its private key, and (once claimed) its certificates."""

    id: str
    key_pem: str
    certificate_chain_pem: str | None
    tenant_id: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def issue_token(cloud: Any, email: str, audience: str = "sphere") -> str:
    """A bearer token of the Sphere service for ``email`` (``audience`` ``"sphere"`` = legacy v2, ``"arm"``)."""
    _texts(email=email)
    return cloud.sphere.issue_token(email, audience, CONTROL_TOKEN_LIFETIME)


def create_tenant(
    cloud: Any,
    *,
    name: str | None = None,
    tenant_id: str | None = None,
    email: str = DEFAULT_USER_EMAIL,
    **placement: str | None,
) -> TenantAccess:
    """A new tenant with ``email`` as its Administrator (``placement``: subscription_id, resource_group, catalog)."""
    _texts(name=name, tenant_id=tenant_id, email=email, **placement)
    with cloud.lock:
        tenant = cloud.sphere.create_tenant(name=name, tenant_id=tenant_id, **placement)
        _grant(cloud, email, tenant.id)
        return _tenant_access(cloud, tenant, email)


def create_app(
    cloud: Any, *, subdomain: str | None = None, name: str | None = None, auto_approve: bool | None = None
) -> AppAccess:
    """A new IoT Central application and an operator API token for it."""
    _texts(subdomain=subdomain, name=name)
    with cloud.lock:
        app = cloud.central.create_app(subdomain=subdomain, name=name, auto_approve=auto_approve)
        return _app_access(app)


def create_devices(
    cloud: Any, count: int = 1, *, claim: bool = True, tenant_id: str | None = None
) -> list[DeviceMaterial]:
    """Mint ``count`` simulated Sphere devices; with ``claim`` claim each into ``tenant_id`` and fetch its chain.

    ``tenant_id`` may be omitted when the world has exactly one tenant. Checked before any device is created.
    """
    from simulator.device import presented, private_key_pem
    from simulator.pki import to_pem

    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_DEVICES_PER_CALL:
        raise ControlError(400, "InvalidCount", f"count must be an integer from 1 to {MAX_DEVICES_PER_CALL}")
    with cloud.lock:
        if claim:
            tenant_id = _pick_tenant(cloud, tenant_id)
        elif tenant_id is not None:
            raise ControlError(400, "InvalidRequest", "tenant_id only makes sense with claim: true")
        devices = []
        for _ in range(count):
            identity = cloud.sphere.create_device()
            chain_pem = None
            if claim:
                cloud.sphere.claim_device(tenant_id, identity.id)
                chain = list(cloud.sphere.device_certificate_chain(identity.id))
                shown = presented(chain, cloud.settings.dps.present_chain)
                chain_pem = b"".join(to_pem(cert) for cert in shown).decode("ascii")
            key_pem = private_key_pem(identity.private_key).decode("ascii")
            devices.append(DeviceMaterial(identity.id, key_pem, chain_pem, tenant_id if claim else None))
        return devices


def travel(cloud: Any, *, advance: str | timedelta | None = None, set: str | datetime | None = None) -> datetime:
    """Move the world's clock forward by ``advance`` (``"90d"``) or to ``set`` (ISO 8601); returns the new now.

    One call travels at most :data:`MAX_TRAVEL` (a century: fifty tenant CA generations) and never past
    :data:`LATEST_INSTANT`, so that every date the models derive from the clock (a certificate's notAfter two
    years on, a rotation's successor) stays representable. The target is computed and checked before the clock
    moves: a refused travel leaves the clock where it was.
    """
    if (advance is None) == (set is None):
        raise ControlError(400, "InvalidRequest", 'give exactly one of "advance" (e.g. "90d") or "set" (ISO 8601)')
    problem = "InvalidDuration" if advance is not None else "InvalidInstant"
    try:
        with cloud.lock:
            now = cloud.clock.now()
            if advance is not None:
                delta = parse_duration(advance) if isinstance(advance, str) else advance
                if not isinstance(delta, timedelta):
                    raise ValueError("advance must be a duration such as '90d'")
                target = now + delta
            else:
                instant = datetime.fromisoformat(set) if isinstance(set, str) else set
                if not isinstance(instant, datetime):
                    raise ValueError("set must be an ISO 8601 instant")
                target = instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
            if target - now > MAX_TRAVEL or target > LATEST_INSTANT:
                raise ControlError(
                    400,
                    "TravelTooFar",
                    f"the clock travels at most {MAX_TRAVEL.days} days at a time and never past "
                    f"{LATEST_INSTANT.date().isoformat()}",
                )
            if advance is not None:
                return cloud.clock.advance(target - now)
            return cloud.clock.set(target)
    except ClockError as exc:
        raise ControlError(400, "ClockCannotGoBack", str(exc)) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise ControlError(400, problem, f"{exc}") from None


@dataclass
class WorldDefaults:
    """The tenant, user and app a served world advertises in its endpoints file."""

    tenant: TenantAccess
    app: AppAccess
    extra: dict[str, Any] = field(default_factory=dict)


def ensure_defaults(cloud: Any, *, tenant_id: str | None = None, subdomain: str | None = None) -> WorldDefaults:
    """Make sure the world has a tenant with an Administrator and an IoT Central app; return access to both.

    Reuses the first tenant and app when present (or the ones named), else creates ``sphere-harness`` ones; the app
    becomes Central's default app, so requests to ``https://127.0.0.1:<port>`` (no subdomain) reach it. In a pristine
    seeded world the tenant and its Administrator come from a per-process template (:mod:`simulator.templates`):
    the same state, without signing the same tenant CA again.
    """
    from simulator import templates

    with cloud.lock:
        template = None
        if tenant_id is None and subdomain is None:
            template = templates.default_tenant_template(cloud, _default_tenant)
        if template is not None:
            templates.adopt_sphere(cloud, template)
            tenant = next(iter(cloud.sphere.tenants.values()))
        else:
            tenants = cloud.sphere.tenants
            tenant = tenants.get(tenant_id) if tenant_id else next(iter(tenants.values()), None)
            if tenant is None:
                tenant = cloud.sphere.create_tenant(name=DEFAULT_TENANT_NAME, tenant_id=tenant_id)
            _grant(cloud, DEFAULT_USER_EMAIL, tenant.id)
        apps = cloud.central.apps
        app = apps.get(subdomain) if subdomain else next(iter(apps.values()), None)
        if app is None:
            app = cloud.central.create_app(subdomain=subdomain or DEFAULT_APP_SUBDOMAIN, name="sphere-harness")
        cloud.central.set_default_app(app)
        return WorldDefaults(_tenant_access(cloud, tenant, DEFAULT_USER_EMAIL), _app_access(app))


def arrange_from_template(
    cloud: Any, tenants: list[dict[str, Any]], apps: list[dict[str, Any]]
) -> tuple[list[TenantAccess], list[AppAccess]] | None:
    """What ``POST /_sim/tenants`` with each body of ``tenants``, then ``POST /_sim/apps`` with each of ``apps``, do
    to a pristine seeded world — the same state, the same answers — without the requests and without signing the
    same tenant CAs again: the Sphere side (tenants and their Administrators) comes from a per-process template of
    this arrangement (:func:`simulator.templates.sphere_template`); the tokens and the apps, which are bound to the
    world's secret, are made in ``cloud`` itself.

    A tenant body has ``name``, ``tenant_id`` and ``email`` (all optional, as the route takes them); an app body
    ``subdomain``, ``name`` and ``auto_approve``. Returns None — and changes nothing — when no template fits: the
    world is not pristine, templates are off, or the arrangement would be refused; the caller then sends the
    requests, whose refusals are the real ones. How a scenario's ``given`` is set up in-process
    (:mod:`harness.targets`).
    """
    from simulator import templates

    tenant_rows = [(t.get("name"), t.get("tenant_id"), t.get("email") or DEFAULT_USER_EMAIL) for t in tenants]
    app_rows = [(a.get("subdomain"), a.get("name"), a.get("auto_approve")) for a in apps]

    def build(world: Any) -> list[str]:
        made = []
        for name, tenant_id, email in tenant_rows:
            _texts(name=name, tenant_id=tenant_id, email=email)
            tenant = world.sphere.create_tenant(name=name, tenant_id=tenant_id)
            _grant(world, email, tenant.id)
            made.append(tenant.id)
        for subdomain, name, auto_approve in app_rows:  # refused here, refused in the world: no template
            create_app(world, subdomain=subdomain, name=name, auto_approve=auto_approve)
        return made

    with cloud.lock:
        template = templates.sphere_template(cloud, ("arrange", tuple(tenant_rows), tuple(app_rows)), build)
        if template is None:
            return None
        templates.adopt_sphere(cloud, template)
        sphere = cloud.sphere
        made_tenants = [
            _tenant_access(cloud, sphere.tenants[tenant_id], email)
            for tenant_id, (_, _, email) in zip(template.result, tenant_rows, strict=True)
        ]
        made_apps = [
            create_app(cloud, subdomain=subdomain, name=name, auto_approve=auto_approve)
            for subdomain, name, auto_approve in app_rows
        ]
        return made_tenants, made_apps


def _default_tenant(cloud: Any) -> None:
    """What :func:`ensure_defaults` does to a pristine world's Sphere side (also how its template is made)."""
    tenant = cloud.sphere.create_tenant(name=DEFAULT_TENANT_NAME)
    _grant(cloud, DEFAULT_USER_EMAIL, tenant.id)


def _grant(cloud: Any, email: str, tenant_id: str) -> None:
    cloud.sphere.create_user(email, {tenant_id: ["Administrator"]})


def _tenant_access(cloud: Any, tenant: Any, email: str) -> TenantAccess:
    return TenantAccess(
        tenant_id=tenant.id,
        name=tenant.name,
        catalog=tenant.catalog,
        subscription_id=tenant.subscription_id,
        resource_group=tenant.resource_group,
        user=email,
        token=issue_token(cloud, email, "sphere"),
        arm_token=issue_token(cloud, email, "arm"),
    )


def _app_access(app: Any) -> AppAccess:
    return AppAccess(
        id=app.id,
        subdomain=app.subdomain,
        name=app.name,
        id_scope=app.id_scope,
        hub_host=app.hub_host,
        auto_approve=app.auto_approve,
        api_token=app.issue_api_token(lifetime=CONTROL_TOKEN_LIFETIME),
    )


def _pick_tenant(cloud: Any, tenant_id: str | None) -> str:
    tenants = cloud.sphere.tenants
    if tenant_id is None:
        if len(tenants) != 1:
            raise ControlError(400, "TenantRequired", f"tenant_id is required: the world has {len(tenants)} tenants")
        return next(iter(tenants))
    if not isinstance(tenant_id, str):
        raise ControlError(400, "InvalidRequest", "tenant_id must be a string")
    match = next((t for t in tenants if t.lower() == tenant_id.lower()), None)
    if match is None:
        raise ControlError(404, "TenantNotFound", f"no tenant {tenant_id!r} in this world")
    return match


# -- HTTP API --------------------------------------------------------------------------------------------------


ResetHook = Callable[[], dict[str, Any] | None]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _json_body(request: Request) -> Any:
    """The request's JSON body through the wire seam (size, UTF-8, depth); ``None`` when empty."""
    try:
        return await wire.read_json(request, max_bytes=MAX_BODY_BYTES)
    except wire.WireError as exc:
        code = {"too_large": "BodyTooLarge", "too_deep": "TooDeep"}.get(exc.problem, "InvalidJson")
        raise ControlError(exc.status, code, exc.message) from None


async def _json_object(request: Request, *, allowed: set[str]) -> dict[str, Any]:
    body = await _json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ControlError(400, "InvalidJson", "the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        expected = ", ".join(sorted(allowed)) or "no fields"
        raise ControlError(400, "UnknownField", f"unknown field(s) {', '.join(sorted(unknown))}; expected {expected}")
    return body


def _optional(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ControlError(400, "InvalidRequest", f"{key} must be a {kind.__name__}")
    return value


def _clock_json(cloud: Any) -> dict[str, Any]:
    now = cloud.clock.now()
    return {"now": now.isoformat(), "offset_s": cloud.clock.offset.total_seconds()}


def _version() -> str:
    import simulator

    return simulator.__version__


async def health(request: Request) -> Response:
    """``GET /_sim/health`` — status, the world's now and seed, how many tenants and apps."""
    cloud = request.app.state.cloud
    with cloud.lock:
        body = {
            "status": "ok",
            "version": _version(),
            "now": cloud.clock.now().isoformat(),
            "seed": cloud.seed,
            "tenants": len(cloud.sphere.tenants),
            "apps": len(cloud.central.apps),
        }
    return JSONResponse(body)


async def reset(request: Request) -> Response:
    """``POST /_sim/reset`` — forget every tenant, app, device, registration and fault rule."""
    cloud = request.app.state.cloud
    await _json_object(request, allowed=set())
    with cloud.lock:
        cloud.reset()
        faults = getattr(cloud, "faults", None)
        if faults is not None:
            faults.clear()
        body: dict[str, Any] = {"reset": True, **_clock_json(cloud)}
        for hook in request.app.state.on_reset:
            extra = hook()
            if extra:
                body.update(extra)
    return JSONResponse(body)


async def clock(request: Request) -> Response:
    """``GET|POST /_sim/clock`` — read the world's clock, or move it forward (``advance``) or to ``set``."""
    cloud = request.app.state.cloud
    if request.method == "POST":
        body = await _json_object(request, allowed={"advance", "set"})
        for key in ("advance", "set"):
            _optional(body, key, str)
        travel(cloud, advance=body.get("advance"), set=body.get("set"))
    with cloud.lock:
        return JSONResponse(_clock_json(cloud))


async def tenants(request: Request) -> Response:
    """``POST /_sim/tenants`` — a tenant with an Administrator user and its legacy and ARM bearer tokens."""
    cloud = request.app.state.cloud
    body = await _json_object(
        request, allowed={"name", "tenant_id", "email", "subscription_id", "resource_group", "catalog"}
    )
    values = {key: _optional(body, key, str) for key in body}
    email = values.pop("email", None) or DEFAULT_USER_EMAIL
    access = create_tenant(cloud, email=email, **values)
    return JSONResponse(access.to_json(), status_code=201)


async def tokens(request: Request) -> Response:
    """``POST /_sim/tokens`` — a fresh bearer token for a user and audience."""
    cloud = request.app.state.cloud
    body = await _json_object(request, allowed={"email", "audience"})
    email = _optional(body, "email", str) or DEFAULT_USER_EMAIL
    audience = _optional(body, "audience", str) or "sphere"
    if audience not in ("sphere", "arm"):
        raise ControlError(400, "InvalidAudience", 'audience must be "sphere" (legacy v2) or "arm"')
    with cloud.lock:
        token = issue_token(cloud, email, audience)
    return JSONResponse({"user": email, "audience": audience, "token": token}, status_code=201)


async def apps(request: Request) -> Response:
    """``POST /_sim/apps`` — an IoT Central app and an operator API token for it."""
    cloud = request.app.state.cloud
    body = await _json_object(request, allowed={"subdomain", "name", "auto_approve"})
    access = create_app(
        cloud,
        subdomain=_optional(body, "subdomain", str),
        name=_optional(body, "name", str),
        auto_approve=_optional(body, "auto_approve", bool),
    )
    return JSONResponse(access.to_json(), status_code=201)


async def devices(request: Request) -> Response:
    """``POST /_sim/devices`` — mint simulated devices, optionally claimed (key and certificate chain PEM)."""
    cloud = request.app.state.cloud
    body = await _json_object(request, allowed={"count", "claim", "tenant_id"})
    count = body.get("count", 1)
    claim = _optional(body, "claim", bool)
    made = create_devices(
        cloud, count, claim=True if claim is None else claim, tenant_id=_optional(body, "tenant_id", str)
    )
    return JSONResponse({"devices": [d.to_json() for d in made]}, status_code=201)


def device_chain(cloud: Any, device_id: str) -> DeviceMaterial:
    """The certificate chain a claimed device gets from its daily attestation (no key: the device holds it)."""
    from simulator.device import presented
    from simulator.pki import to_pem

    with cloud.lock:
        record = cloud.sphere.devices.get(device_id.lower()) if isinstance(device_id, str) else None
        if record is None:
            raise ControlError(404, "DeviceNotFound", f"no device {device_id!r} in this world")
        if record.tenant_id is None:
            raise ControlError(409, "DeviceNotClaimed", f"device {device_id!r} is not claimed into a tenant yet")
        chain = presented(list(cloud.sphere.device_certificate_chain(record.id)), cloud.settings.dps.present_chain)
        return DeviceMaterial(record.id, "", b"".join(to_pem(c) for c in chain).decode("ascii"), record.tenant_id)


async def device(request: Request) -> Response:
    """``GET /_sim/devices/{device_id}`` — one simulated device's current certificate chain."""
    material = device_chain(request.app.state.cloud, request.path_params["device_id"])
    body = material.to_json()
    del body["key_pem"]
    return JSONResponse(body)


async def faults(request: Request) -> Response:
    """Fault rules of the world (:class:`simulator.faults.FaultInjector`): list, add, clear all or one."""
    from simulator.faults import FaultRuleError

    cloud = request.app.state.cloud
    injector = getattr(cloud, "faults", None)
    if injector is None:
        raise ControlError(404, "FaultsUnavailable", "this world has no fault injector (cloud.faults)")
    rule_id = request.path_params.get("rule_id")
    if request.method == "GET":
        return JSONResponse({"rules": [rule.to_dict() for rule in injector.list()]})
    if request.method == "DELETE":
        removed = injector.clear(rule_id)
        if rule_id is not None and removed == 0:
            raise ControlError(404, "FaultRuleNotFound", f"no fault rule {rule_id!r}")
        return JSONResponse({"removed": removed})
    spec = await _json_body(request)
    try:
        rule = injector.add(spec)
    except FaultRuleError as exc:
        raise ControlError(400, "InvalidFaultRule", str(exc)) from None
    return JSONResponse(rule.to_dict(), status_code=201)


async def _server_error(request: Request, exc: Exception) -> Response:
    """A bug: 500 in the control error shape (Starlette re-raises it afterwards, so the server still logs it)."""
    return _error(500, "InternalError", f"the simulator failed on this request: {type(exc).__name__}")


async def _control_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    return _error(exc.status, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadRequest")
    return _error(exc.status_code, code, str(exc.detail))


async def _model_error(request: Request, exc: Exception) -> Response:
    """A refusal by a model (its domain exception, or ValueError/KeyError) in the control error shape."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    if isinstance(status, int) and 400 <= status < 500:
        return _error(status, str(code or "Rejected"), str(getattr(exc, "message", exc)))
    if isinstance(exc, KeyError):
        return _error(404, "NotFound", f"not found: {exc.args[0] if exc.args else exc}")
    if isinstance(exc, ValueError):
        return _error(409 if "already exists" in str(exc) else 400, "Rejected", str(exc))
    raise exc


def _model_exceptions() -> list[type[Exception]]:
    found: list[type[Exception]] = [ValueError, KeyError]
    for module, name in (
        ("simulator.sphere.model", "SphereError"),
        ("simulator.central.errors", "CentralError"),
        ("simulator.dps.model", "DpsError"),
    ):
        try:
            found.append(getattr(__import__(module, fromlist=[name]), name))
        except (ImportError, AttributeError):
            continue
    return found


JOURNAL_FILTERS = {
    "service": str,
    "operation": str,
    "method": str,
    "status": int,
    "path": str,
    "since": int,
    "limit": int,
}


async def requests_journal(request: Request) -> Response:
    """``GET /_sim/requests`` — the request journal, filtered by query parameters; ``DELETE`` clears it."""
    cloud = request.app.state.cloud
    params = dict(request.query_params)
    allowed = {"service"} if request.method == "DELETE" else set(JOURNAL_FILTERS)
    bad = sorted(set(params) - allowed)
    if bad:
        expected = ", ".join(sorted(allowed))
        raise ControlError(400, "UnknownField", f"unknown query parameter(s) {', '.join(bad)}; expected {expected}")
    try:
        if request.method == "DELETE":
            return JSONResponse({"cleared": cloud.journal.clear(params.get("service"))})
        filters: dict[str, Any] = {}
        for key, value in params.items():
            if JOURNAL_FILTERS[key] is int:  # ASCII digits only, as every count the world reads (simulator.wire)
                filters[key] = wire.parse_count(value, key, minimum=0)
            else:
                filters[key] = value
        entries = cloud.journal.entries(**filters)
    except wire.WireError as exc:
        raise ControlError(400, "InvalidRequest", exc.message) from None
    except ValueError as exc:  # a service filter that names no service
        raise ControlError(400, "InvalidRequest", str(exc)) from None
    return JSONResponse(
        {
            "requests": [entry.to_json() for entry in entries],
            "counts": cloud.journal.counts(),
            "capacity": cloud.journal.capacity,
        }
    )


async def state_view(request: Request) -> Response:
    """``GET /_sim/state`` — what the world holds, readably, without keys or tokens (:mod:`simulator.world_view`)."""
    if request.query_params:
        raise ControlError(400, "UnknownField", "GET /_sim/state takes no query parameters")
    return JSONResponse(request.app.state.cloud.state())


def build_control_app(
    cloud: Any, *, on_reset: list[ResetHook] | None = None, on_restore: list[ResetHook] | None = None
) -> Starlette:
    """The ``/_sim`` API of ``cloud`` as a Starlette app (routes carry the ``/_sim`` prefix themselves).

    ``on_reset`` hooks run after ``POST /_sim/reset`` inside the world's lock; a dict they return is merged into
    the response (the served world uses this to re-create its defaults and report the new endpoints); ``on_restore``
    hooks likewise after ``POST /_sim/restore`` (:mod:`simulator.state.routes`).
    """
    from simulator.state.routes import state_routes

    p = CONTROL_PREFIX
    routes = [
        Route(f"{p}/health", health, methods=["GET"], name="health"),
        Route(f"{p}/reset", reset, methods=["POST"], name="reset"),
        Route(f"{p}/clock", clock, methods=["GET", "POST"], name="clock"),
        Route(f"{p}/tenants", tenants, methods=["POST"], name="tenants"),
        Route(f"{p}/tokens", tokens, methods=["POST"], name="tokens"),
        Route(f"{p}/apps", apps, methods=["POST"], name="apps"),
        Route(f"{p}/devices", devices, methods=["POST"], name="devices"),
        Route(f"{p}/devices/{{device_id}}", device, methods=["GET"], name="device"),
        Route(f"{p}/faults", faults, methods=["GET", "POST", "DELETE"], name="faults"),
        Route(f"{p}/faults/{{rule_id}}", faults, methods=["DELETE"], name="fault"),
        Route(f"{p}/requests", requests_journal, methods=["GET", "DELETE"], name="requests"),
        Route(f"{p}/state", state_view, methods=["GET"], name="state"),
        *state_routes(),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ControlError: _control_error,
        HTTPException: _http_error,
        Exception: _server_error,
    }
    for exc_type in _model_exceptions():
        handlers[exc_type] = _model_error
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.router.redirect_slashes = False  # a trailing slash is a path no route serves: 404 in this shape, no 307
    app.state.cloud = cloud
    app.state.on_reset = list(on_reset or [])
    app.state.on_restore = list(on_restore or [])
    return app
