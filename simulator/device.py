"""A simulated Azure Sphere device: its own key, its daily certificate, and its first connection to IoT Central.

A real Sphere device holds a private key that never leaves its security subsystem. Once it is *claimed* into a
tenant, the Azure Sphere security service issues it a device certificate every day — ``CN=<128-hex device ID>``,
valid 24 hours, signed by the tenant's active CA. The device presents that certificate, with
the tenant CA above it (``settings.dps.present_chain``), to DPS with the app's ID scope; if the tenant CA is a
verified certificate of an enabled enrollment group, DPS assigns it to the app's IoT hub, where it sends telemetry
and reports twin properties. That is the whole of "devices auto-enroll on first connection".

:class:`SimulatedDevice` does exactly that, two ways:

* **in-process** — :meth:`SimulatedDevice.provision`, :meth:`connect_hub`, :meth:`send_telemetry`,
  :meth:`report_properties` call the DPS and hub models directly (inside ``cloud.lock``) with the chain travelling
  with the call; the checks are the same as over the wire, only the TLS proof of key possession is skipped. The
  world's DPS fault rules (``dps/register``, ``dps/operation_status``) apply here as they do on the MQTT listener;
* **over sockets** — :meth:`SimulatedDevice.provision_over_mqtt` and :class:`MqttDeviceSession` speak MQTT 3.1.1 over
  TLS, with the device's key in the TLS handshake, to the served listener (:mod:`simulator.dps.mqtt`), the same
  topics and payloads as the Azure device SDK.

:func:`export_devices` writes key and certificate files plus ``devices.json`` for tools outside Python
(``sphere-harness device new``, ``POST /_sim/devices``), e.g. the unmodified ``azure-iot-device`` SDK.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from simulator.dps import mqtt_codec as codec
from simulator.dps.model import DpsError
from simulator.pki import is_valid_at, thumbprint, to_pem

DPS_API_VERSION = "2019-03-31"
HUB_API_VERSION = "2021-04-12"
REGISTER_TOPIC = "$dps/registrations/PUT/iotdps-register/?$rid={rid}"
POLL_TOPIC = "$dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId="
PresentChain = str  # "leaf+tenant" | "leaf" | "full" (``dps.present_chain``)


def presented(chain: list[x509.Certificate], present_chain: PresentChain) -> list[x509.Certificate]:
    """The part of the full chain ``[leaf, tenant CA, policy CA, root]`` a device presents (``dps.present_chain``)."""
    if present_chain == "leaf":
        return chain[:1]
    if present_chain == "full":
        return list(chain)
    if present_chain == "leaf+tenant":
        return chain[:2]
    raise ValueError(f"present_chain must be 'leaf+tenant', 'leaf' or 'full', not {present_chain!r}")


def private_key_pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class ProvisioningResult:
    """What the device learned from DPS: ``assigned`` (hub, device ID), ``assigning``, ``failed``, ``throttled``."""

    status: str
    operation_id: str | None = None
    device_id: str | None = None
    assigned_hub: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    retry_after: int | None = None
    registration_state: dict[str, Any] = field(default_factory=dict)
    #: 429 replies DPS gave on the way to this result (an MQTT session retries them itself, as the SDK does)
    throttled_replies: int = 0

    @classmethod
    def from_status(cls, body: dict[str, Any]) -> ProvisioningResult:
        state = body.get("registrationState") or {}
        return cls(
            status=body.get("status", "unknown"),
            operation_id=body.get("operationId"),
            device_id=state.get("deviceId"),
            assigned_hub=state.get("assignedHub"),
            error_code=state.get("errorCode"),
            error_message=state.get("errorMessage"),
            registration_state=state,
        )


class DeviceConnectionError(Exception):
    """The device could not get through: CONNACK refusal, TLS failure, a dropped connection or an unexpected reply.

    ``connack`` is the CONNACK return code of a refusal; ``dropped`` is true when the connection went away without
    an answer (the server closed it, or an in-process ``drop`` fault) — not a refusal, a transport failure.
    """

    def __init__(self, message: str, *, connack: int | None = None, dropped: bool = False) -> None:
        super().__init__(message)
        self.connack = connack
        self.dropped = dropped


class SimulatedDevice:
    """A Sphere device of the offline world. ``identity`` comes from ``cloud.sphere.create_device()``."""

    def __init__(self, cloud: Any, identity: Any) -> None:
        self.cloud = cloud
        self.identity = identity
        self._chain: list[x509.Certificate] | None = None
        self._registration_id: tuple[x509.Certificate, str] | None = None  # (the leaf it was read from, the CN)
        #: TLS client contexts by (presented chain's thumbprints, SHA-256 of the trusted CA PEM, hostname check)
        self._client_contexts: dict[tuple[tuple[str, ...], str, bool], ssl.SSLContext] = {}
        self.hub_session: Any = None
        self.assigned_hub: str | None = None
        self.device_id: str | None = None

    @property
    def id(self) -> str:
        """The 128-hex Sphere device ID."""
        return self.identity.id

    @property
    def private_key(self) -> Any:
        return self.identity.private_key

    # -- certificates --

    def certificate_chain(self, *, renew: bool = True) -> list[x509.Certificate]:
        """``[leaf, tenant CA, policy CA, root]``: the device's cached daily certificate and the CAs above it.

        A real device renews its 24-hour certificate after its daily attestation. With ``renew`` (the default) the
        cached chain is replaced by a fresh one from the Sphere service once its leaf has expired on the world's
        clock, signed by whichever tenant CA generation is Active *now*. With ``renew=False`` the cached
        chain is returned as it is, expired or not — a device that has been offline past its certificate's
        lifetime and tries to connect before attesting again; a device that never had a certificate still fetches
        its first one.

        Raises whatever the Sphere model raises for an unclaimed device (it has no certificate yet).
        """
        with self.cloud.lock:
            if self._chain is None or (renew and not self.certificate_valid()):
                self._chain = list(self.cloud.sphere.device_certificate_chain(self.id))
            return list(self._chain)

    @property
    def cached_chain(self) -> list[x509.Certificate] | None:
        """The chain the device holds right now, without renewing it (None before its first certificate)."""
        return list(self._chain) if self._chain is not None else None

    def renew_certificate(self) -> list[x509.Certificate]:
        """Fetch a new daily certificate now, whether or not the cached one has expired (a fresh attestation)."""
        with self.cloud.lock:
            self._chain = list(self.cloud.sphere.device_certificate_chain(self.id))
            return list(self._chain)

    def certificate_valid(self) -> bool:
        """Whether the cached chain's leaf is inside its validity window on the world's clock (False if none)."""
        with self.cloud.lock:
            return self._chain is not None and is_valid_at(self._chain[0], self.cloud.clock.now())

    def presented_chain(self, *, renew: bool = True) -> list[x509.Certificate]:
        """The part of :meth:`certificate_chain` the device presents to DPS and the hub (``dps.present_chain``)."""
        return presented(self.certificate_chain(renew=renew), self.cloud.settings.dps.present_chain)

    @property
    def registration_id(self) -> str:
        """The DPS registration ID: the leaf CN, i.e. the device ID as the certificate spells it."""
        from simulator.pki import get_common_name

        leaf = self.certificate_chain(renew=False)[0]
        if self._registration_id is None or self._registration_id[0] is not leaf:  # parsed once per certificate
            self._registration_id = (leaf, get_common_name(leaf) or self.id)
        return self._registration_id[1]

    # -- in-process --

    def provision(self, id_scope: str, *, model_id: str | None = None, renew: bool = True) -> ProvisioningResult:
        """Register with DPS in-process: register, then look the operation up once.

        Refusals come back as ``status="failed"`` with the six-digit code and change nothing; a spent
        throttle budget as ``status="throttled"`` with ``retry_after``. If ``assignment_delay_s`` has not passed
        yet the result is still ``assigning``: call :meth:`poll` after travelling the clock. ``renew=False``
        presents the cached certificate even if it has expired (see :meth:`certificate_chain`).

        The world's fault rules for ``dps/register`` apply as on the MQTT listener (:mod:`simulator.dps.mqtt`): a
        ``status`` answers instead of DPS (429 → ``throttled``, anything else → ``failed``, the error code the rule's
        six-digit ``code`` or status × 1000), ``dps_failed`` lets the registration start and its operation end
        ``failed``, ``drop`` raises :class:`DeviceConnectionError` and ``latency`` waits real time first.
        """
        chain = self.presented_chain(renew=renew)
        payload = {"modelId": model_id} if model_id else None
        effect = self._fault("register", id_scope)
        if effect is not None and effect.kind == "status":
            return self._injected_status(effect)
        injected = (effect.dps_error_code or 400209) if effect is not None and effect.kind == "dps_failed" else None
        try:
            with self.cloud.lock:
                operation = self.cloud.dps.register(
                    id_scope, self.registration_id, chain, payload, injected_failure=injected
                )
        except DpsError as exc:
            return self._refused(exc)
        self._scope, self._operation_id = id_scope, operation.operation_id
        return self.poll()

    def _fault(self, operation: str, id_scope: str) -> Any:
        """Ask the world's fault rules about this DPS call, with the MQTT listener's service and operation names.

        ``drop`` raises :class:`DeviceConnectionError` (the connection went away); ``latency`` sleeps real time —
        the world's clock is not moved, as over sockets, where a slow reply takes no time in the world — outside the
        world's lock; ``status`` and ``dps_failed`` are returned for the caller to apply. Other kinds (``connack``:
        there is no CONNECT in-process) change nothing.
        """
        injector = getattr(self.cloud, "faults", None)
        if injector is None or not injector.rules:
            return None
        with self.cloud.lock:  # a rule's counters are world state (committed when a world is persisted)
            effect = injector.check("dps", operation, tenant=id_scope)
        if effect is None:
            return None
        if effect.kind == "drop":
            raise DeviceConnectionError(f"injected drop on dps/{operation}: the connection was closed", dropped=True)
        if effect.kind == "latency":
            time.sleep(effect.latency_s)
        return effect if effect.kind in ("status", "dps_failed") else None

    @staticmethod
    def _injected_status(effect: Any) -> ProvisioningResult:
        """A ``status`` rule answered instead of DPS: 429 is throttling (retry after ``retry_after``), else refused."""
        from simulator.dps.mqtt import injected_error_code

        code = injected_error_code(effect)
        if effect.status == 429:
            return ProvisioningResult("throttled", error_code=code, retry_after=effect.retry_after, throttled_replies=1)
        return ProvisioningResult("failed", error_code=code, error_message=effect.message)

    def poll(self) -> ProvisioningResult:
        """Look up the last registration operation (in-process); ``dps/operation_status`` fault rules apply."""
        effect = self._fault("operation_status", self._scope)
        if effect is not None and effect.kind == "status":
            return self._injected_status(effect)
        try:
            with self.cloud.lock:
                operation = self.cloud.dps.operation_status(self._scope, self.registration_id, self._operation_id)
                result = ProvisioningResult.from_status(operation.to_json())
        except DpsError as exc:
            return self._refused(exc)
        if result.status == "assigned":
            self.assigned_hub, self.device_id = result.assigned_hub, result.device_id
        return result

    @staticmethod
    def _refused(exc: DpsError) -> ProvisioningResult:
        if exc.status == 429:
            return ProvisioningResult(
                "throttled", error_code=exc.error_code, retry_after=exc.retry_after, throttled_replies=1
            )
        return ProvisioningResult("failed", error_code=exc.error_code, error_message=exc.message)

    def connect_hub(self, hub_host: str | None = None, *, renew: bool = True) -> Any:
        """Open the (in-process) hub session; raises :class:`~simulator.dps.hub.HubError` when refused."""
        host = hub_host or self.assigned_hub
        if host is None:
            raise DeviceConnectionError("the device has no assigned hub: provision it first")
        with self.cloud.lock:
            self.hub_session = self.cloud.dps.hub.connect(
                host, self.device_id or self.registration_id, self.presented_chain(renew=renew)
            )
        return self.hub_session

    def send_telemetry(self, body: dict[str, Any] | bytes, properties: dict[str, str] | None = None) -> None:
        """Send one device-to-cloud message through the hub model, on the same topic the SDK uses."""
        session = self.hub_session or self.connect_hub()
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        with self.cloud.lock:
            self.cloud.dps.hub.telemetry(session, telemetry_topic(session.device_id, properties, payload), payload)

    def report_properties(self, patch: dict[str, Any]) -> int:
        """Patch reported twin properties; returns the new reported ``$version``."""
        session = self.hub_session or self.connect_hub()
        with self.cloud.lock:
            return self.cloud.dps.hub.twin_patch_reported(session, json.dumps(patch).encode())

    # -- over sockets --

    def client_context(self, ca_pem: str, *, server_hostname_check: bool = True, renew: bool = True) -> ssl.SSLContext:
        """A TLS 1.2 client context (as the Azure SDK makes) with this device's key and chain, trusting ``ca_pem``.

        With TLS 1.2 a refused client certificate fails the handshake itself, as the SDK sees it.
        ``renew=False`` loads the cached certificate even if it has expired (see :meth:`certificate_chain`).

        Building a context costs more than a registration's whole MQTT exchange (the key and chain go through
        temporary PEM files, the only way :mod:`ssl` loads a client certificate), so the device keeps one per
        (presented chain, CA bundle, hostname check) and hands the same context to every connection — as the SDK
        keeps its ``X509`` for a client's lifetime. A renewed certificate changes the chain's thumbprints, so the next
        call builds a new context and the contexts of the old certificate are dropped.
        """
        chain = self.presented_chain(renew=renew)
        key = (
            tuple(thumbprint(cert) for cert in chain),
            hashlib.sha256(ca_pem.encode("utf-8")).hexdigest(),
            server_hostname_check,
        )
        context = self._client_contexts.get(key)
        if context is None:
            context = self._build_client_context(chain, ca_pem, server_hostname_check)
            self._client_contexts = {k: v for k, v in self._client_contexts.items() if k[0] == key[0]}
            self._client_contexts[key] = context
        return context

    def _build_client_context(
        self, chain: list[x509.Certificate], ca_pem: str, server_hostname_check: bool
    ) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = server_hostname_check
        context.load_verify_locations(cadata=ca_pem)
        with tempfile.TemporaryDirectory() as tmp:
            cert_file, key_file = Path(tmp, "device.cert.pem"), Path(tmp, "device.key.pem")
            cert_file.write_bytes(b"".join(to_pem(c) for c in chain))
            key_file.write_bytes(private_key_pem(self.private_key))
            context.load_cert_chain(cert_file, key_file)
        return context

    def provision_over_mqtt(
        self,
        host: str,
        port: int,
        id_scope: str,
        ca_pem: str,
        *,
        model_id: str | None = None,
        poll_interval: float | None = None,
        max_attempts: int = 10,
        timeout: float = 10.0,
        renew: bool = True,
    ) -> ProvisioningResult:
        """Register over MQTT/TLS like the SDK: subscribe, PUT iotdps-register, poll until finished.

        ``poll_interval`` overrides the server's ``retry-after`` (tests); 429 replies are retried after their
        ``retry-after``. A CONNACK refusal raises :class:`DeviceConnectionError` with ``connack`` set.
        ``renew=False`` presents the cached certificate even if it has expired (see :meth:`certificate_chain`).
        """
        result = register_over_mqtt(
            host,
            port,
            id_scope,
            self.registration_id,
            self.client_context(ca_pem, renew=renew),
            model_id=model_id,
            poll_interval=poll_interval,
            max_attempts=max_attempts,
            timeout=timeout,
        )
        if result.status == "assigned":
            self.assigned_hub, self.device_id = result.assigned_hub, result.device_id
        return result

    def open_hub_over_mqtt(
        self,
        port: int,
        ca_pem: str,
        *,
        hub_host: str | None = None,
        connect_host: str | None = None,
        timeout: float = 10.0,
        renew: bool = True,
    ) -> MqttDeviceSession:
        """Connect to the assigned hub over MQTT/TLS (username ``{hub}/{deviceId}/?api-version=…``)."""
        hub = hub_host or self.assigned_hub
        device_id = self.device_id or self.registration_id
        if hub is None:
            raise DeviceConnectionError("the device has no assigned hub: provision it first")
        username = f"{hub}/{device_id}/?api-version={HUB_API_VERSION}"
        session = MqttDeviceSession.open(
            connect_host or hub, port, device_id, username, self.client_context(ca_pem, renew=renew), timeout
        )
        session.device_id = device_id
        return session


def register_over_mqtt(
    host: str,
    port: int,
    id_scope: str,
    registration_id: str,
    context: ssl.SSLContext,
    *,
    model_id: str | None = None,
    poll_interval: float | None = None,
    max_attempts: int = 10,
    timeout: float = 10.0,
) -> ProvisioningResult:
    """One DPS registration over MQTT/TLS as the device SDK makes it, with a ready TLS client ``context``.

    Subscribe to ``$dps/registrations/res/#``, publish ``iotdps-register``, then poll the operation until it is
    finished; a 429 is retried after its ``retry-after`` (``poll_interval`` overrides every wait). Used by
    :meth:`SimulatedDevice.provision_over_mqtt` and by load generators that hold only a key and a chain (bench).
    """
    username = f"{id_scope}/registrations/{registration_id}/api-version={DPS_API_VERSION}"
    payload = {"modelId": model_id} if model_id else None
    body = json.dumps({"payload": payload, "registrationId": registration_id}).encode()
    with MqttDeviceSession.open(host, port, registration_id, username, context, timeout) as session:
        session.subscribe("$dps/registrations/res/#")
        result = ProvisioningResult("throttled")
        topic, request_body = REGISTER_TOPIC, body
        throttled = 0
        for _ in range(max_attempts):
            status, props, reply = session.request(topic, request_body)
            retry_after = float(props.get("retry-after", "2"))
            if status == 429:  # throttled: the SDK retries the same request after retry-after
                throttled += 1
                error_code = (reply or {}).get("errorCode")
                result = ProvisioningResult("throttled", error_code=error_code, retry_after=int(retry_after))
            elif status >= 300:
                reply = reply or {}
                return ProvisioningResult(
                    "failed",
                    error_code=reply.get("errorCode"),
                    error_message=reply.get("message"),
                    throttled_replies=throttled,
                )
            else:
                result = ProvisioningResult.from_status(reply)
                if result.status != "assigning":
                    break
                topic = POLL_TOPIC + quote(result.operation_id or "", safe="")
                request_body = b" "
            time.sleep(retry_after if poll_interval is None else poll_interval)
        result.throttled_replies = throttled
    return result


def telemetry_topic(device_id: str, properties: dict[str, str] | None, payload: bytes | None = None) -> str:
    """``devices/{id}/messages/events/`` + the URL-encoded property bag (``$`` → ``%24``), as the SDK builds it."""
    bag = {"$.ct": "application/json", "$.ce": "utf-8"}
    bag.update(properties or {})
    encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in bag.items())
    return f"devices/{device_id}/messages/events/{encoded}"


#: ``observer(direction, packet)`` for every MQTT packet a device session sends (``"out"``) or receives (``"in"``)
PacketObserver = Callable[[str, "codec.Packet"], None]
_PACKET_OBSERVER: ContextVar[PacketObserver | None] = ContextVar("sphere_harness_packet_observer", default=None)


@contextmanager
def observe_packets(observer: PacketObserver) -> Iterator[None]:
    """Within the block, ``observer`` hears every MQTT packet of this thread's device sessions (how a recording
    keeps the device path's MQTT exchanges)."""
    token = _PACKET_OBSERVER.set(observer)
    try:
        yield
    finally:
        _PACKET_OBSERVER.reset(token)


class MqttDeviceSession:
    """A tiny blocking MQTT 3.1.1 client over TLS: enough for DPS registration and the hub (no reconnects)."""

    def __init__(self, sock: ssl.SSLSocket, timeout: float) -> None:
        self.sock = sock
        self.timeout = timeout
        self.buffer = codec.PacketBuffer()
        self.pending: list[codec.Packet] = []
        self.next_id = 0
        self.next_rid = 0
        self.device_id: str | None = None

    @classmethod
    def open(
        cls, host: str, port: int, client_id: str, username: str, context: ssl.SSLContext, timeout: float = 10.0
    ) -> MqttDeviceSession:
        raw = socket.create_connection((host, port), timeout=timeout)
        # MQTT is many small writes (a PUBACK, then the next PUBLISH): with Nagle on, the second waits for the
        # server's delayed ACK, ~20-40 ms per request on loopback. Send every packet at once, as the server does.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock = context.wrap_socket(raw, server_hostname=host)
        except (ssl.SSLError, OSError) as exc:
            raw.close()
            raise DeviceConnectionError(f"TLS handshake failed: {exc}") from exc
        session = cls(sock, timeout)
        try:
            session.send(codec.Connect(client_id=client_id, username=username, clean_session=False, keepalive=60))
            ack = session.receive()
        except (OSError, codec.MqttProtocolError, DeviceConnectionError) as exc:
            session.close()
            dropped = not isinstance(exc, DeviceConnectionError) or exc.dropped
            raise DeviceConnectionError(f"no CONNACK: {exc}", dropped=dropped) from exc
        if not isinstance(ack, codec.Connack) or ack.return_code != codec.CONNACK_ACCEPTED:
            session.close()
            code = ack.return_code if isinstance(ack, codec.Connack) else None
            raise DeviceConnectionError(f"connection refused (CONNACK {code})", connack=code)
        return session

    def __enter__(self) -> MqttDeviceSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.send(codec.Disconnect())
        except OSError:
            pass
        self.sock.close()

    def send(self, packet: codec.Packet) -> None:
        self.sock.sendall(codec.encode(packet))
        observer = _PACKET_OBSERVER.get()
        if observer is not None:
            observer("out", packet)

    def receive(self) -> codec.Packet:
        while not self.pending:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise DeviceConnectionError("timed out waiting for the server") from None
            except (ssl.SSLError, OSError) as exc:
                raise DeviceConnectionError(f"connection lost: {exc}", dropped=True) from exc
            if not data:
                raise DeviceConnectionError("the server closed the connection", dropped=True)
            self.pending.extend(self.buffer.feed(data))
        packet = self.pending.pop(0)
        observer = _PACKET_OBSERVER.get()
        if observer is not None:
            observer("in", packet)
        return packet

    def _packet_id(self) -> int:
        self.next_id = self.next_id % 0xFFFF + 1
        return self.next_id

    def subscribe(self, topic_filter: str, qos: int = 1) -> int:
        packet_id = self._packet_id()
        self.send(codec.Subscribe(packet_id, ((topic_filter, qos),)))
        ack = self._wait(lambda p: isinstance(p, codec.Suback) and p.packet_id == packet_id)
        assert isinstance(ack, codec.Suback)
        return ack.return_codes[0]

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        packet_id = self._packet_id() if qos else None
        self.send(codec.Publish(topic=topic, payload=payload, qos=qos, packet_id=packet_id))
        if qos:
            self._wait(lambda p: isinstance(p, codec.Puback) and p.packet_id == packet_id)

    def request(self, topic_template: str, payload: bytes) -> tuple[int, dict[str, str], Any]:
        """Publish on ``topic_template`` (``{rid}`` filled in) and wait for the ``…/res/{status}/?$rid=`` reply."""
        self.next_rid += 1
        rid = str(self.next_rid)
        self.publish(topic_template.replace("{rid}", rid), payload)

        def is_reply(p: codec.Packet) -> bool:
            return isinstance(p, codec.Publish) and f"?$rid={rid}" in p.topic and "/res/" in p.topic

        reply = self._wait(is_reply)
        assert isinstance(reply, codec.Publish)
        if reply.qos and reply.packet_id:
            self.send(codec.Puback(reply.packet_id))
        from simulator.dps.mqtt import split_topic

        path, props, _ = split_topic(reply.topic)
        status = int(path.rstrip("/").rsplit("/", 1)[-1])
        body = json.loads(reply.payload) if reply.payload.strip() else None
        return status, props, body

    def _wait(self, want: Any) -> codec.Packet:
        deadline = time.monotonic() + self.timeout
        skipped: list[codec.Packet] = []
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                packet = self.receive()
                if want(packet):
                    return packet
                skipped.append(packet)
            raise DeviceConnectionError("timed out waiting for the server")
        finally:
            self.pending[:0] = skipped

    # hub helpers

    def send_telemetry(self, body: dict[str, Any] | bytes, properties: dict[str, str] | None = None) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        assert self.device_id is not None
        self.publish(telemetry_topic(self.device_id, properties, payload), payload)

    def report_properties(self, patch: dict[str, Any]) -> tuple[int, int | None]:
        """PATCH reported properties; returns (status, new ``$version``)."""
        self.subscribe("$iothub/twin/res/#")
        status, props, _ = self.request(
            "$iothub/twin/PATCH/properties/reported/?$rid={rid}", json.dumps(patch).encode()
        )
        version = props.get("$version")
        return status, int(version) if version else None

    def get_twin(self) -> tuple[int, dict[str, Any]]:
        self.subscribe("$iothub/twin/res/#")
        status, _, body = self.request("$iothub/twin/GET/?$rid={rid}", b" ")
        return status, body or {}


def export_devices(
    identities: list[Any],
    chains: dict[str, list[x509.Certificate]] | list[list[x509.Certificate]],
    out_dir: str | Path,
    *,
    present_chain: PresentChain = "leaf+tenant",
) -> Path:
    """Write ``<id>.key.pem`` and ``<id>.cert.pem`` per device and ``devices.json``; return the latter's path.

    ``chains`` maps device ID → full chain ``[leaf, tenant CA, policy CA, root]`` (or is a list aligned with
    ``identities``). The certificate file holds the leaf first, then what the device presents, ready for
    ``X509(cert_file, key_file)`` of the Azure device SDK. ``devices.json`` is a JSON list of
    ``{"id", "key_file", "cert_file"}`` with absolute paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    listing = []
    for index, identity in enumerate(identities):
        chain = chains[identity.id] if isinstance(chains, dict) else chains[index]
        key_file = out / f"{identity.id}.key.pem"
        cert_file = out / f"{identity.id}.cert.pem"
        key_file.write_bytes(private_key_pem(identity.private_key))
        key_file.chmod(0o600)
        cert_file.write_bytes(b"".join(to_pem(c) for c in presented(list(chain), present_chain)))
        listing.append({"id": identity.id, "key_file": str(key_file.resolve()), "cert_file": str(cert_file.resolve())})
    index_file = out / "devices.json"
    index_file.write_text(json.dumps(listing, indent=2) + "\n")
    return index_file
