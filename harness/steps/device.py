"""Fake-only ``device.*`` steps: simulated Azure Sphere devices that auto-enroll into IoT Central on first connection.

The trust workflow ends in a promise: once the tenant CA is a *verified* certificate of an enrollment group, every
device *claimed* into the tenant is admitted by DPS the first time it connects, gets an IoT Central device, and can
send telemetry to the IoT hub DPS assigned it. These steps make a device do exactly that:

=====================  ===========================================================================================
``device.create``      mint ``count`` simulated devices (unclaimed by default) through ``POST /_sim/devices`` →
                       ``{ids, count}``
``device.claim``       claim them into a tenant through the Sphere wire API: legacy ``PUT …/devices/{id}/claim``
                       (then poll the operation) or ARM ``claimDevices`` (``api: arm``)
``device.connect``     register with DPS (the app's ID scope), then connect to the assigned IoT hub; 429s are retried
                       after their ``retry-after``, at most ``attempts`` tries per device. ``renew: false``
                       presents the device's cached certificate even if it has expired
``device.certificate`` each device's daily certificate as it holds it now (``renew: true`` first renews an expired
                       one, as the device does after its daily attestation): thumbprint, dates, ``expired`` on the
                       world's clock and the thumbprint of the tenant CA generation that signed it
``device.send``        send one telemetry message from each device
``device.report``      patch each device's reported twin properties
``central.device.``    read a device's last telemetry value from IoT Central: ``GET /api/devices/{id}/telemetry/
``telemetry.get``      {name}`` (a real data-plane call, so it also runs live)
=====================  ===========================================================================================

**How a device gets through.** On ``fake`` the device calls the DPS and hub models the way
:class:`~simulator.device.SimulatedDevice` does in-process (the same checks as over the wire; only the TLS proof of key
possession is skipped). On ``served`` it speaks MQTT 3.1.1 over TLS to the served listener — the endpoints' DPS
``host``/``mqtt_port``, trusting ``ca_bundle`` — with its own key in the handshake, as the Azure device SDK would;
the served world reports its own host as ``assignedHub`` (``dps.assigned_hub_host``), so the hub connection goes back
to the same listener. A device's daily certificate comes from the Sphere security service the way a real device
gets it (the device's own channel, not an API a user can call), so it exists only once the device is claimed.

**Refusals** raise :class:`DeviceError`, a :class:`~harness.clients.errors.ServiceError` that ``expect_error`` can
match: ``status`` is the HTTP status of the refusal (a CONNACK 5 / failed TLS handshake on ``served`` is a 401, as
the SDK's ``CredentialError``), ``code`` DPS's six-digit error code when the service named one (``"401002"``). A
connection that went away without an answer (a ``drop`` fault rule) is a
:class:`~harness.clients.errors.TransportFailure` instead, matched by ``expect_error: {transport: true}``.

**Fault rules** on ``dps`` (``sim.fault``) reach the devices on both targets: over the MQTT listener on ``served``,
and through :meth:`SimulatedDevice.provision <simulator.device.SimulatedDevice.provision>` on ``fake``, with the same
operation names and effects. The step's ``throttled`` counts the 429 replies DPS gave (an MQTT session retries a
429 itself, so one attempt may meet several), so a rule that throttles ``count`` registrations shows as ``count``.

**Certificates and the clock.** A device's certificate lives 24 hours and is signed by the
tenant CA generation that is Active when it is issued. ``device.connect`` renews an expired certificate first,
as a device does after its daily attestation; ``renew: false`` makes it present the cached one as it is, to show the
refusal of an expired certificate (401, DPS code ``401002`` with ``dps.auth_failure_mode: res401``). Every connected
device's result names the ``tenant_ca`` thumbprint its chain leads to, so a rotation scenario can tell which
generation admitted it. On ``served``, dates are judged on the world's clock, not by OpenSSL against real time
(``dps.tls_validity_clock``, :mod:`simulator.dps.mqtt`), so the clock may travel freely between connections.

**Throttling** (``dps.registrations_per_second``) is a token bucket on the *world's* clock. Waiting out a
``retry-after`` therefore means letting the world's clock pass: the default :data:`wait` travels the clock forward
by ``retry-after`` through ``/_sim/clock`` instead of sleeping, so a throttled rollout takes no wall-clock time on
either fake target and refills exactly the budget a real wait would. Tests may replace :data:`wait`.

Devices are simulated, so every step here is fake-only: a live run skips it with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from harness.clients.errors import HarnessClientError, ServiceError, TransportFailure
from harness.steps.base import StepArgs, StepContext, StepFailure, step

#: most devices one step may act on (the control surface's own limit per call)
MAX_DEVICES = 1000


class DeviceError(ServiceError):
    """A device was refused: by DPS (registration), the IoT hub (connection, telemetry, twin) or before TLS."""

    service = "device"


def wait_on_world_clock(ctx: StepContext, seconds: float) -> None:
    """Let ``seconds`` pass for the throttle: travel the world's clock (never backwards, never wall-clock sleep)."""
    if seconds > 0:
        ctx.control.travel(advance=f"{math.ceil(seconds)}s")


#: how ``device.connect`` waits out a 429's ``retry-after`` (injectable: tests may count the waits)
wait: Callable[[StepContext, float], None] = wait_on_world_clock


# -- arguments -----------------------------------------------------------------------------------------------


class DevicesArgs(StepArgs):
    """``devices``: one device ID or a list of them (e.g. ``"{fleet.ids}"``)."""

    devices: list[str] = Field(min_length=1, max_length=MAX_DEVICES)

    @field_validator("devices", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class CreateArgs(StepArgs):
    count: int = Field(default=1, ge=1, le=MAX_DEVICES)
    count_env: str | None = Field(
        default=None, description="an environment variable that, when set, overrides count (fleet size per run)"
    )

    def resolved_count(self) -> int:
        """``count``, or the integer in the environment variable ``count_env`` when it is set."""
        import os

        raw = os.environ.get(self.count_env) if self.count_env else None
        if raw is None or not raw.strip():
            return self.count
        try:
            value = int(raw)
        except ValueError:
            raise StepFailure(f"{self.count_env}={raw!r} is not a whole number of devices") from None
        if not 1 <= value <= MAX_DEVICES:
            raise StepFailure(f"{self.count_env}={value} is outside 1..{MAX_DEVICES}")
        return value


class ClaimArgs(DevicesArgs):
    tenant: str | None = None
    api: Literal["legacy", "arm"] = "legacy"
    product: str = ".default"
    device_group: str = ".default"


class ConnectArgs(DevicesArgs):
    app: str | None = None
    model_id: str | None = None
    attempts: int = Field(default=10, ge=1, le=1000, description="tries per device, counting the first")
    renew: bool = Field(
        default=True, description="renew an expired daily certificate before connecting (false: present it as is)"
    )


class CertificateArgs(DevicesArgs):
    renew: bool = Field(default=False, description="renew the certificate first if it has expired")


class SendArgs(DevicesArgs):
    body: dict[str, Any] = Field(default_factory=lambda: {"temperature": 21.5})
    properties: dict[str, str] = Field(default_factory=dict)


class TelemetryArgs(StepArgs):
    app: str | None = None
    id: str = Field(min_length=1, description="the IoT Central device ID")
    name: str = Field(min_length=1, description="the telemetry field, e.g. temperature")


class ReportArgs(DevicesArgs):
    patch: dict[str, Any] = Field(min_length=1)


# -- the run's devices -----------------------------------------------------------------------------------------


@dataclass
class Fleet:
    """The simulated devices of one run and their open hub connections (closed when the session ends)."""

    devices: dict[str, Any] = field(default_factory=dict)  # device ID → SimulatedDevice
    sessions: dict[str, Any] = field(default_factory=dict)  # device ID → MqttDeviceSession (served)

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()


def fleet(ctx: StepContext) -> Fleet:
    """This run's :class:`Fleet`, kept with the session's clients so it is closed (and reset) with them."""
    clients = ctx.session._clients
    key = ("device", "fleet")
    if key not in clients:
        clients[key] = Fleet()
    return clients[key]


def _cloud(ctx: StepContext) -> Any:
    cloud = ctx.session.cloud
    if cloud is None:
        raise StepFailure("simulated devices need an offline world (target fake or served)")
    return cloud


def device(ctx: StepContext, device_id: str) -> Any:
    """The :class:`~simulator.device.SimulatedDevice` with ``device_id`` (minted by the control surface)."""
    from simulator.device import SimulatedDevice

    known = fleet(ctx).devices
    key = device_id.lower()
    if key not in known:
        cloud = _cloud(ctx)
        with cloud.lock:
            record = cloud.sphere.devices.get(key)
        if record is None:
            raise StepFailure(f"no simulated device {device_id!r} in this world (create it with device.create)")
        known[key] = SimulatedDevice(cloud, record.identity)
    return known[key]


def _chain_or_refusal(dev: Any, *, renew: bool = True) -> list[Any]:
    """Fetch the device's certificate (the device's own channel); an unclaimed device has none."""
    from simulator.sphere.errors import SphereError

    try:
        return dev.certificate_chain(renew=renew)
    except SphereError as exc:
        raise DeviceError(
            getattr(exc, "status", 400), getattr(exc, "code", None), f"device {dev.id[:12]}…: {exc}"
        ) from None


# -- steps -----------------------------------------------------------------------------------------------------


@step("device.create", CreateArgs, fake_only=True)
def create(ctx: StepContext, args: CreateArgs) -> dict[str, Any]:
    """Mint simulated Sphere devices, not yet claimed into any tenant."""
    made = ctx.control.create_devices(args.resolved_count(), claim=False)
    ids = [d["id"] for d in made]
    for device_id in ids:
        device(ctx, device_id)
    return {"ids": ids, "count": len(ids)}


@step("device.claim", ClaimArgs, fake_only=True)
def claim(ctx: StepContext, args: ClaimArgs) -> dict[str, Any]:
    """Claim devices into a tenant through the Sphere API (legacy claim + operation poll, or ARM claimDevices)."""
    if args.api == "arm":
        ctx.arm(args.tenant).claim_devices(args.devices, product=args.product, device_group=args.device_group)
    else:
        tenant_id = ctx.tenant(args.tenant).tenant_id
        client = ctx.sphere(args.tenant)
        for device_id in args.devices:
            client.claim_device_and_wait(tenant_id, device_id)
    return {"ids": list(args.devices), "count": len(args.devices), "tenant": ctx.tenant(args.tenant).tenant_id}


@step("device.connect", ConnectArgs, fake_only=True)
def connect(ctx: StepContext, args: ConnectArgs) -> dict[str, Any]:
    """Provision each device through DPS (retrying 429s) and connect it to its assigned IoT hub."""
    id_scope = ctx.app(args.app).id_scope
    if not id_scope:
        raise StepFailure(f"app {ctx.app(args.app).key!r} has no ID scope")
    results = []
    throttled = 0
    fleet_devices = [device(ctx, device_id) for device_id in args.devices]
    # Every device holds its daily certificate before the first throttle wait moves the world's clock, so a
    # rollout's devices present certificates of the same day (and a renewal, if due, happens once, here).
    chains = {dev.id: _chain_or_refusal(dev, renew=args.renew) for dev in fleet_devices}
    for dev in fleet_devices:
        result, tries, refusals = _provision(ctx, dev, id_scope, args)
        throttled += refusals
        _open_hub(ctx, dev, renew=args.renew)
        results.append(
            {
                "id": dev.id,
                "device_id": result.device_id,
                "assigned_hub": result.assigned_hub,
                "enrollment_group": (result.registration_state.get("x509") or {}).get("enrollmentGroupId"),
                "attempts": tries,
                "certificate": _thumbprint(chains[dev.id][0]),
                "tenant_ca": _thumbprint(chains[dev.id][1]),
            }
        )
    return {"devices": results, "count": len(results), "throttled": throttled}


@step("device.certificate", CertificateArgs, fake_only=True)
def certificate(ctx: StepContext, args: CertificateArgs) -> dict[str, Any]:
    """Show each device's daily certificate as the device holds it (``renew: true`` renews an expired one first).

    Returns ``{devices: [{id, thumbprint, serial, not_before, not_after, expired, renewed, tenant_ca}], count,
    expired}``: ``expired`` is judged on the world's clock, ``renewed`` says whether this step replaced it,
    ``tenant_ca`` is the thumbprint of the tenant CA generation that signed it.
    """
    from simulator.pki import is_valid_at

    cloud = _cloud(ctx)
    results = []
    for device_id in args.devices:
        dev = device(ctx, device_id)
        held = dev.cached_chain
        before = held[0] if held else None
        chain = _chain_or_refusal(dev, renew=args.renew)
        leaf = chain[0]
        with cloud.lock:
            now = cloud.clock.now()
        results.append(
            {
                "id": dev.id,
                "thumbprint": _thumbprint(leaf),
                "serial": format(leaf.serial_number, "X"),
                "not_before": leaf.not_valid_before_utc.isoformat(),
                "not_after": leaf.not_valid_after_utc.isoformat(),
                "expired": not is_valid_at(leaf, now),
                "renewed": before is not None and before is not leaf,
                "tenant_ca": _thumbprint(chain[1]),
            }
        )
    return {"devices": results, "count": len(results), "expired": sum(r["expired"] for r in results)}


@step("device.send", SendArgs, fake_only=True)
def send(ctx: StepContext, args: SendArgs) -> dict[str, Any]:
    """Send one telemetry message from each connected device."""
    from simulator.dps.hub import HubError
    from simulator.dps.mqtt_codec import MqttProtocolError

    for device_id in args.devices:
        dev = _connected(ctx, device_id)
        session = fleet(ctx).sessions.get(dev.id)
        try:
            if session is not None:
                session.send_telemetry(args.body, args.properties)
            else:
                dev.send_telemetry(args.body, args.properties)
        except HubError as exc:
            raise DeviceError(exc.status, None, f"the hub refused telemetry: {exc.message}") from None
        except (OSError, MqttProtocolError) as exc:
            raise DeviceError(503, None, f"the hub connection failed: {exc}") from None
    return {"count": len(args.devices), "body": args.body}


@step("device.report", ReportArgs, fake_only=True)
def report(ctx: StepContext, args: ReportArgs) -> dict[str, Any]:
    """Patch each connected device's reported twin properties; returns the new ``$version`` per device."""
    from simulator.dps.hub import HubError

    versions: dict[str, int | None] = {}
    for device_id in args.devices:
        dev = _connected(ctx, device_id)
        session = fleet(ctx).sessions.get(dev.id)
        try:
            if session is not None:
                status, version = session.report_properties(args.patch)
                if status >= 300:
                    raise DeviceError(status, None, f"the hub refused the reported properties ({status})")
            else:
                version = dev.report_properties(args.patch)
        except HubError as exc:
            raise DeviceError(exc.status, None, f"the hub refused the reported properties: {exc.message}") from None
        versions[dev.device_id or dev.id] = version
    return {"count": len(versions), "versions": versions}


@step("central.device.telemetry.get", TelemetryArgs, effect="read")
def telemetry_get(ctx: StepContext, args: TelemetryArgs) -> dict[str, Any]:
    """Read the last value of one telemetry field of a device in IoT Central (``{timestamp, value}``)."""
    from urllib.parse import quote

    path = f"/devices/{quote(args.id, safe='')}/telemetry/{quote(args.name, safe='')}"
    return ctx.central(args.app)._call("GET", path)


# -- internals -------------------------------------------------------------------------------------------------


def _provision(ctx: StepContext, dev: Any, id_scope: str, args: ConnectArgs) -> tuple[Any, int, int]:
    """Register until assigned, waiting out 429s; a refusal raises :class:`DeviceError` at once.

    Returns the result, the attempts it took and the 429 replies DPS gave on the way — not ``attempts - 1``: on
    ``served`` one attempt is an MQTT session that retries a 429 itself before giving up, so it may have met
    several, and in-process a poll of the same operation may be throttled too.
    """
    served = ctx.session.target == "served"
    result = None
    throttled = 0
    for attempt in range(1, args.attempts + 1):
        result = (
            _provision_over_mqtt(ctx, dev, id_scope, args) if served else _provision_in_process(dev, id_scope, args)
        )
        throttled += result.throttled_replies
        if result.status == "assigned":
            return result, attempt, throttled
        if result.status == "failed":
            code = result.error_code
            status = code // 1000 if isinstance(code, int) and code >= 100000 else 400
            raise DeviceError(
                status, str(code) if code is not None else None, result.error_message or "the registration failed"
            )
        if result.status == "throttled" and attempt < args.attempts:
            wait(ctx, float(result.retry_after if result.retry_after is not None else 1))
        elif result.status == "assigning" and attempt < args.attempts:
            wait(ctx, float(_settings(ctx).dps.retry_after_s))
            if not served:  # in-process: look the same operation up again, as the SDK polls
                result = _in_process(dev.poll)
                throttled += result.throttled_replies
                if result.status == "assigned":
                    return result, attempt, throttled
    status = result.status if result is not None else "unknown"
    raise DeviceError(
        429 if status == "throttled" else 504,
        None,
        f"device {dev.id[:12]}… was still {status} after {args.attempts} attempt(s)",
    )


def _provision_in_process(dev: Any, id_scope: str, args: ConnectArgs) -> Any:
    return _in_process(lambda: dev.provision(id_scope, model_id=args.model_id, renew=args.renew))


def _in_process(call: Callable[[], Any]) -> Any:
    """Run an in-process DPS call; a connection dropped by a fault rule fails as it does on ``served``."""
    from simulator.device import DeviceConnectionError

    try:
        return call()
    except DeviceConnectionError as exc:
        raise _connection_refused(exc, "DPS", "in-process") from None


def _provision_over_mqtt(ctx: StepContext, dev: Any, id_scope: str, args: ConnectArgs) -> Any:
    from simulator.device import DeviceConnectionError

    host, port, ca_pem = _mqtt_endpoint(ctx)
    try:
        # register, then poll the operation with no wall-clock wait; 429s come back to the retry loop here
        return dev.provision_over_mqtt(
            host, port, id_scope, ca_pem, model_id=args.model_id, poll_interval=0, max_attempts=3, renew=args.renew
        )
    except DeviceConnectionError as exc:
        raise _connection_refused(exc, "DPS", f"mqtts://{host}:{port}") from None


def _open_hub(ctx: StepContext, dev: Any, *, renew: bool = True) -> None:
    from simulator.device import DeviceConnectionError
    from simulator.dps.hub import HubError

    if ctx.session.target != "served":
        try:
            dev.connect_hub(renew=renew)
        except HubError as exc:
            raise DeviceError(exc.status, None, f"the IoT hub refused the device: {exc.message}") from None
        return
    host, port, ca_pem = _mqtt_endpoint(ctx)
    sessions = fleet(ctx).sessions
    if dev.id in sessions:
        sessions.pop(dev.id).close()
    try:
        # the hub is the assignedHub DPS named (this listener's host); dial the endpoints' host for it
        sessions[dev.id] = dev.open_hub_over_mqtt(port, ca_pem, connect_host=host, renew=renew)
    except DeviceConnectionError as exc:
        raise _connection_refused(exc, "the IoT hub", f"mqtts://{host}:{port}") from None


def _connected(ctx: StepContext, device_id: str) -> Any:
    dev = device(ctx, device_id)
    if dev.assigned_hub is None:
        raise StepFailure(f"device {device_id[:12]}… is not connected: run device.connect first")
    return dev


def _connection_refused(exc: Any, what: str, where: str) -> HarnessClientError:
    """A refused connection is a :class:`DeviceError` 401 (CONNACK 5 or a failed TLS handshake: the SDK's
    ``CredentialError``); a dropped one — no answer at all — a :class:`TransportFailure` (``expect_error:
    {transport: true}``), as a dropped HTTP request is."""
    if getattr(exc, "dropped", False):
        return TransportFailure("device", f"{what} {'CONNECT' if 'CONNACK' in str(exc) else 'request'}", where, exc)
    connack = getattr(exc, "connack", None)
    return DeviceError(401, None, f"{what} refused the device: {exc}" + (f" (CONNACK {connack})" if connack else ""))


def _mqtt_endpoint(ctx: StepContext) -> tuple[str, int, str]:
    dps = ctx.session.endpoints.get("dps") or {}
    host, port = dps.get("host"), dps.get("mqtt_port")
    if not host or not port:
        raise StepFailure("the served world has no MQTT listener (serve it with mqtt_port=0)")
    ca_bundle = ctx.session.endpoints.get("ca_bundle")
    return str(host), int(port), Path(str(ca_bundle)).read_text(encoding="ascii")


def _thumbprint(certificate: Any) -> str:
    """SHA-1 thumbprint, uppercase hex, as Sphere and IoT Central show it."""
    from simulator.pki import thumbprint

    return thumbprint(certificate)


def _settings(ctx: StepContext) -> Any:
    return _cloud(ctx).settings


__all__ = ["DeviceError", "Fleet", "fleet", "wait", "wait_on_world_clock"]
