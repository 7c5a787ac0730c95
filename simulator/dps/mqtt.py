"""One MQTT 3.1.1 listener over TLS serving DPS *and* the IoT hub, as the Azure device SDK needs them.

Why hand-written: the SDK publishes to ``$dps/…`` and ``$iothub/…`` topics, and amqtt (the only maintained
pure-Python broker) refuses client PUBLISHes to topics starting with ``$`` since v0.11.2 and then drops the
client's message loop (the Python device SDK's). A broker would also broadcast every DPS reply to every device
subscribed to ``$dps/registrations/res/#``, could not answer CONNACK 5 for one device, and would hide the client's
certificate chain. DPS and IoT Hub are not brokers anyway: they answer each client on its own connection. So this
module is a small asyncio server built on :mod:`simulator.dps.mqtt_codec`, doing only translation — every
decision is made by :class:`~simulator.dps.model.DpsService` and :class:`~simulator.dps.hub.IotHub`, called inside
``with cloud.lock:``.

How it works:

* **One port, two services.** The SDK's port is hard-coded to 8883 for DPS and hub alike, so both share
  this listener and are told apart by the CONNECT username: DPS sends ``{idScope}/registrations/{regId}/api-version=…``
  (no ``?``), the hub ``{hubHost}/{deviceId}/?api-version=…``.
* **TLS with the world's trust.** Each accepted TCP connection gets TLS through memory BIOs
  (:mod:`simulator.dps.tls_pump`: asyncio's ``start_tls`` machinery was a tenth of the server's time) *after*
  the server context has been brought up to date with every CA the world knows — the Sphere root and policy CAs and
  every certificate uploaded to any IoT Central group (the model decides at CONNECT). ``load_verify_locations(…)``
  on a live context affects later handshakes, so a CA uploaded a moment ago is trusted by the next connection.
  Client certificates are optional at the TLS layer (``CERT_OPTIONAL``); a chain to a CA nobody knows fails the
  handshake (the SDK raises ``ConnectionFailedError``), everything else is decided at CONNECT.
* **Certificate dates are judged on the world's clock** (``dps.tls_validity_clock``). A
  simulator's clock travels — 25 hours for a device certificate to expire, two years for a tenant CA to rotate — but
  OpenSSL compares dates with the *real* time and offers no way to inject a clock. Left alone, it would accept a
  certificate that expired in the world (still valid in real time) and refuse every certificate issued after the
  clock travelled (not yet valid in real time). With the default ``"world"`` the listener's context carries
  OpenSSL's ``X509_V_FLAG_NO_CHECK_TIME``: the handshake still proves the chain's signatures up to a CA the world
  knows and the client's possession of the leaf's key, and the dates are checked by the model at CONNECT on the
  world's clock — the one judge that follows clock travel. ``"system"`` keeps OpenSSL's own real-time check too.
* **Checks at CONNECT on the fake clock.** The chain the client *presented* (``get_unverified_chain``; OpenSSL
  already proved the client holds the leaf's key) goes to the model, which checks CN, validity on the world's clock
  and the path to a verified certificate of an enabled group. The chain OpenSSL *verified*
  (``get_verified_chain``) goes along, so the model does not check again the signatures the handshake has just
  checked (:func:`peer_chains`); the in-process device, with no TLS, has its every signature checked by the model.
  A refusal is CONNACK 5 (``CredentialError`` in the SDK), or with ``dps.auth_failure_mode = "res401"`` an
  accepted connection whose register gets ``$dps/registrations/res/401/…``.
* **Replies only to subscribers.** A reply is delivered only if the client subscribed to a matching filter, as a
  real service would (the SDK subscribes to ``$dps/registrations/res/#`` and, lazily, ``$iothub/twin/res/#``).

**Fault rules** (:mod:`simulator.faults`) are asked once per CONNECT and once per request, before the model is
touched, so a faulted request changes nothing. What each effect does here — always something the SDK can see:

* ``dps/connect``, ``hub/connect``: ``connack`` → that CONNACK return code; ``status`` → a CONNACK refusal as well,
  since MQTT 3.1.1 has no status at CONNECT (5 "not authorised" for 401/403, else 3 "server unavailable");
  ``latency`` → the CONNACK comes that much later; ``drop`` → the connection closes without a CONNACK.
* ``dps/register``, ``dps/operation_status``: ``status`` → the reply on
  ``$dps/registrations/res/{status}/?$rid=…[&retry-after=N]`` with the body of every DPS error — ``errorCode`` (the
  rule's six-digit ``code`` when it gives one, else status × 1000), ``trackingId``, ``message``, ``timestampUtc`` on
  the world's clock — exactly as the HTTPS adapter answers the same rule; ``dps_failed`` (register) → accepted, the
  operation ends ``failed``; ``latency`` → the reply comes that much later; ``drop`` → the connection closes.
* ``hub/twin_get``, ``hub/twin_patch``: ``status`` → the reply on ``$iothub/twin/res/{status}/?$rid=…`` with
  ``{"message": …}``, the shape of the hub's own twin errors (twin topics carry no ``retry-after``); ``latency``;
  ``drop``.
* ``hub/telemetry``: ``latency`` → the PUBACK comes that much later (how IoT Hub slows a device down); ``status`` →
  the connection closes, because an MQTT 3.1.1 PUBACK has no field to carry an error and IoT Hub disconnects a
  device whose message it refuses; ``drop`` → the connection closes.

An effect with no meaning for an operation (``connack`` on a request, ``dps_failed`` anywhere but ``dps/register``)
is counted and changes nothing. ``latency`` is awaited (``asyncio.sleep``, real time): only that one connection
waits, never the listener, the other devices or the world's lock.

``start_mqtt_server(cloud, host, port, server_ssl_context_factory)`` is the hook :mod:`simulator.server` calls in
its event loop; :class:`MqttServerThread` runs a listener in a background thread for tests and scripts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from cryptography import x509

from simulator import wire
from simulator.dps import mqtt_codec as codec
from simulator.dps.hub import HubError, HubSession
from simulator.dps.model import Attestation, DpsError
from simulator.dps.tls_pump import TlsPump, TlsReader, TlsWriter
from simulator.faults import FaultEffect
from simulator.listeners import CAP_LOG_INTERVAL_S, ListenerLimits
from simulator.pki import load_der, to_der, to_pem

log = logging.getLogger(__name__)

try:  # Python 3.10-3.12: the private chain API returns _ssl.Certificate objects
    from _ssl import ENCODING_DER as _ENCODING_DER
except ImportError:  # pragma: no cover
    _ENCODING_DER = 1

#: how long a connection that set keep-alive 0 may stay silent (fake-defined: the real limit is not documented)
IDLE_WITHOUT_KEEPALIVE_S = 1800.0

DPS_RESPONSE_FILTER_PREFIX = "$dps/registrations/res/"
#: the status a DPS or twin reply topic carries (``$dps/registrations/res/202/?$rid=…``)
_REPLY_STATUS = re.compile(r"/res/(\d{3})/")
DPS_REGISTER = "$dps/registrations/PUT/iotdps-register/"
DPS_POLL = "$dps/registrations/GET/iotdps-get-operationstatus/"
TWIN_GET = "$iothub/twin/GET/"
TWIN_PATCH_REPORTED = "$iothub/twin/PATCH/properties/reported/"
METHOD_RESPONSE = "$iothub/methods/res/"


# -- usernames ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DpsUsername:
    """``{idScope}/registrations/{registrationId}/api-version=…&ClientVersion=…`` (Microsoft Learn: DPS MQTT)."""

    id_scope: str
    registration_id: str
    query: dict[str, str]


@dataclass(frozen=True)
class HubUsername:
    """``{hubHost}/{deviceId}/?api-version=…&DeviceClientType=…[&model-id=…]`` (Microsoft Learn: IoT Hub MQTT)."""

    hub_host: str
    device_id: str
    query: dict[str, str]


def parse_query(text: str) -> dict[str, str]:
    """``a=1&b=x%2Fy`` → ``{"a": "1", "b": "x/y"}`` (percent-decoding, ``+`` kept)."""
    out: dict[str, str] = {}
    for item in text.split("&"):
        if item:
            key, _, value = item.partition("=")
            out[unquote(key)] = unquote(value)
    return out


def parse_username(username: str | None) -> DpsUsername | HubUsername | None:
    """Tell a DPS connection from a hub connection by the CONNECT username; None if it is neither."""
    if not username:
        return None
    parts = username.split("/")
    if len(parts) >= 4 and parts[1] == "registrations" and parts[3].startswith("api-version="):
        query = parse_query("/".join(parts[3:]))
        if parts[0] and parts[2] and query.get("api-version"):
            return DpsUsername(parts[0], parts[2], query)
        return None
    if len(parts) == 3 and parts[2].startswith("?"):
        query = parse_query(parts[2][1:])
        if parts[0] and parts[1] and query.get("api-version"):  # any non-empty api-version
            return HubUsername(parts[0], parts[1], query)
    return None


def split_topic(topic: str) -> tuple[str, dict[str, str], str]:
    """``…/?$rid=abc&x=1`` → (path up to and including the last ``/``, decoded properties, raw ``$rid``)."""
    path, sep, query = topic.partition("?")
    if not sep:
        return topic, {}, ""
    raw_rid = ""
    for item in query.split("&"):
        key, _, value = item.partition("=")
        if key == "$rid":
            raw_rid = value
    return path, parse_query(query), raw_rid


# -- the peer's certificates ----------------------------------------------------------------------------------


def _chain_ders(ssl_object: ssl.SSLObject | ssl.SSLSocket, name: str) -> list[bytes]:
    """The DER of each certificate of ``get_unverified_chain`` or ``get_verified_chain`` (leaf first).

    Python 3.13 has public ``get_unverified_chain()``/``get_verified_chain()`` returning DER bytes; on 3.10–3.12
    only the private ``_sslobj`` methods exist, returning ``_ssl.Certificate`` objects.
    Neither exists on older Pythons: then the list is empty.
    """
    public = getattr(ssl_object, name, None)
    if callable(public):
        items = public() or []
    else:
        private = getattr(getattr(ssl_object, "_sslobj", None), name, None)
        items = private() if callable(private) else []
        items = items or []
    # 3.11 puts None where the server-side peer certificate is missing
    return [item if isinstance(item, bytes) else item.public_bytes(_ENCODING_DER) for item in items if item is not None]


def _certificates(ders: list[bytes], *known: dict[bytes, x509.Certificate] | None) -> list[x509.Certificate]:
    """Certificates for ``ders``: the object one of the ``known`` maps already holds for those bytes, else parsed."""
    chain = []
    for der in ders:
        same = next((table[der] for table in known if table and der in table), None)
        chain.append(same if same is not None else load_der(der))
    return chain


def peer_chains(
    ssl_object: ssl.SSLObject | ssl.SSLSocket | None, *, known: dict[bytes, x509.Certificate] | None = None
) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """The chain the client presented and the chain OpenSSL verified in the handshake, both leaf first.

    The presented chain is what DPS judges (the CN, the dates on the world's clock, the path to an enrollment
    group); the verified one — the leaf up to the world's CA OpenSSL trusted — tells DPS which signatures need no
    second check (:meth:`simulator.dps.model.DpsService.authenticate`). The two share their objects: the verified
    chain's certificates are the presented ones or the world's own CAs (``known``), compared by their bytes.

    The verified chain is empty where OpenSSL keeps none — no client certificate, a session resumed by ID (no
    verification ran), a Python without the chain API — and DPS then verifies every signature itself.
    """
    if ssl_object is None:
        return [], []
    ders = _chain_ders(ssl_object, "get_unverified_chain")
    presented = _certificates(ders, known)
    if not presented:
        return presented, []
    mine = dict(zip(ders, presented, strict=True))
    return presented, _certificates(_chain_ders(ssl_object, "get_verified_chain"), mine, known)


#: OpenSSL's ``X509_V_FLAG_NO_CHECK_TIME`` (1.1.0+): verify signatures and the path, not the certificates' dates.
#: :class:`ssl.VerifyFlags` has no name for it, but ``SSLContext.verify_flags`` passes any bit through to OpenSSL.
VERIFY_NO_CHECK_TIME = 0x200000


def judge_dates_on(context: ssl.SSLContext, clock: str) -> None:
    """Set which clock judges client-certificate dates on a server context (``dps.tls_validity_clock``).

    ``"world"``: OpenSSL skips date checks (``X509_V_FLAG_NO_CHECK_TIME``) so that the model judges them on the
    world's clock; ``"system"``: OpenSSL checks them against real time as well.
    """
    if clock == "world":
        context.verify_flags |= VERIFY_NO_CHECK_TIME
    elif clock == "system":
        context.verify_flags &= ~ssl.VerifyFlags(VERIFY_NO_CHECK_TIME)
    else:
        raise ValueError(f"dps.tls_validity_clock must be 'world' or 'system', not {clock!r}")


class WorldTrust:
    """Keeps a server :class:`ssl.SSLContext` trusting every CA the world knows, with the
    world's choice of clock for certificate dates (:func:`judge_dates_on`).

    The trust anchors are every tenant CA generation of every Sphere tenant and every certificate uploaded to any
    IoT Central group (with ``VERIFY_X509_PARTIAL_CHAIN``): any device of the world gets through TLS — also one of a
    tenant no app trusts, which the model then refuses at CONNECT — while a certificate from outside the world
    fails the handshake. The Sphere root and policy CAs are deliberately *not* anchors: OpenSSL would then walk every
    chain up to the root and check two P-384 signatures per handshake (~2 ms, half the server's time per
    registration) that prove nothing the model does not check itself; anchoring at the tenant CA leaves one P-256
    check (the device certificate's own signature).

    **Incremental.** The models keep a journal of the CAs as they appear (``SphereService.ca_journal``,
    ``CentralService.ca_journal``); :meth:`sync` loads only the journal entries past the point it read last time, so
    its cost before a handshake is constant, whatever the size of the world. (It walks the world once: the first
    time, and after the world's models were replaced by a reset or a restore.)

    CAs are only ever added: OpenSSL has no way to remove one from a live store. A CA that was deleted from IoT
    Central (or revoked by Sphere) therefore still passes TLS, and the device is then refused at CONNECT by the
    model — the same signal the device gets for any other trust problem. A CA that becomes verified needs nothing
    here: TLS trusts uploaded CAs whether verified or not. Both the MQTT listener and the DPS HTTPS listener
    (:mod:`simulator.server`) bring their context up to date through this class before every handshake.
    """

    def __init__(self, cloud: Any, context: ssl.SSLContext) -> None:
        self.cloud = cloud
        self.context = context
        #: the CAs in the context's store (certificates hash and compare by their DER)
        self.loaded: set[x509.Certificate] = set()
        #: the same CAs by their DER: a chain a device presents usually repeats one of them
        self.known: dict[bytes, x509.Certificate] = {}
        #: per source ("sphere", "central"): the journal followed and how far it has been read
        self._cursors: dict[str, tuple[list[x509.Certificate], int]] = {}
        self._validity_clock: str | None = None
        #: two listeners may share this trust; a sync is one at a time
        self._syncing = threading.Lock()
        self._apply_validity_clock()

    def _apply_validity_clock(self) -> None:
        clock = self.cloud.settings.dps.tls_validity_clock
        if clock != self._validity_clock:  # the setting can change at run time; the flags are set when it does
            judge_dates_on(self.context, clock)
            self._validity_clock = clock

    def _new_cas(self) -> list[x509.Certificate]:
        """The CAs that appeared since the last call (everything, the first time or after the models changed)."""
        fresh: list[x509.Certificate] = []
        with self.cloud.lock:
            for name in ("sphere", "central"):
                journal = getattr(getattr(self.cloud, name, None), "ca_journal", None)
                if journal is None:
                    continue
                followed, read = self._cursors.get(name, (None, 0))
                if followed is not journal:
                    read = 0
                fresh.extend(journal[read:])
                self._cursors[name] = (journal, len(journal))
        return fresh

    def sync(self) -> int:
        """Load the CAs not loaded yet (and follow the world's date setting); return how many CAs were added."""
        with self._syncing:
            cas = self._new_cas()
            self._apply_validity_clock()
            added = 0
            for cert in cas:
                if cert in self.loaded:
                    continue
                der = to_der(cert)
                self.context.load_verify_locations(cadata=der)  # DER: no PEM round trip (a third faster)
                self.loaded.add(cert)
                self.known[der] = cert
                added += 1
            return added


def prepare_server_context(context: ssl.SSLContext) -> ssl.SSLContext:
    """Make a server context ask for (but not demand) client certificates and accept partial chains.

    ``VERIFY_X509_PARTIAL_CHAIN`` lets an uploaded intermediate CA be a trust anchor on its own, as IoT Central
    allows intermediates in enrollment groups.

    No TLS session tickets are issued (``OP_NO_TICKET``): a device registers with DPS on one connection and goes,
    so a ticket is never used, yet encrypting one costs a fifth of the server's handshake (BENCHMARKS.md). A client
    that wants to resume still can, by session ID. Resumption is not part of the DPS or hub contract.
    """
    context.verify_mode = ssl.CERT_OPTIONAL
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.options |= ssl.OP_NO_TICKET
    return context


# -- one connection -------------------------------------------------------------------------------------------


class _Closed(Exception):
    """The connection must end (protocol violation, refusal, DISCONNECT)."""


@dataclass
class _Connection:
    server: MqttServer
    reader: TlsReader | asyncio.StreamReader
    writer: TlsWriter | asyncio.StreamWriter
    chain: list[x509.Certificate] = field(default_factory=list)
    #: the chain OpenSSL verified in the handshake (:func:`peer_chains`): its signatures are not checked again
    verified_chain: list[x509.Certificate] = field(default_factory=list)
    subscriptions: dict[str, int] = field(default_factory=dict)
    buffer: codec.PacketBuffer = field(default_factory=codec.PacketBuffer)
    pending: list[codec.Packet] = field(default_factory=list)
    next_packet_id: int = 0
    client_id: str = ""
    dps: DpsUsername | None = None
    attestation: Attestation | None = None
    auth_error: DpsError | None = None
    hub: HubSession | None = None

    @property
    def cloud(self) -> Any:
        return self.server.cloud

    # -- I/O --

    async def read_packet(self, timeout: float | None) -> codec.Packet:
        """The next whole packet, which must arrive within ``timeout`` — one deadline for the packet, not per read,
        so a client trickling a byte at a time cannot hold the connection beyond it."""
        try:
            async with asyncio.timeout(timeout):  # no extra task per read, unlike wait_for
                while not self.pending:
                    data = await self.reader.read(65536)
                    if not data:
                        raise _Closed("client closed the connection")
                    self.pending.extend(self.buffer.feed(data))
        except TimeoutError:
            raise _Closed("no whole packet in time (CONNECT timeout or keep-alive expired)") from None
        return self.pending.pop(0)

    async def send(self, *packets: codec.Packet) -> None:
        """Write ``packets`` in one TLS record (a PUBACK and the reply PUBLISH go out together, as one segment)."""
        self.writer.write(b"".join(codec.encode(packet) for packet in packets))
        await self.writer.drain()

    def reply(self, topic: str, payload: bytes) -> codec.Publish | None:
        """The PUBLISH delivering a reply if the client subscribed to a matching filter (QoS min(granted, 1))."""
        granted = [qos for flt, qos in self.subscriptions.items() if codec.topic_matches(flt, topic)]
        if not granted:
            log.debug("dropping %s: %s has no matching subscription", topic, self.client_id)
            return None
        qos = min(max(granted), 1)
        packet_id = None
        if qos:
            self.next_packet_id = self.next_packet_id % 0xFFFF + 1
            packet_id = self.next_packet_id
        return codec.Publish(topic=topic, payload=payload, qos=qos, packet_id=packet_id)

    # -- lifecycle --

    async def run(self) -> None:
        try:
            first = await self.read_packet(self.server.limits.mqtt_connect_timeout_s)
            if not isinstance(first, codec.Connect):
                raise _Closed("the first packet must be CONNECT")
            keepalive = await self.on_connect(first)
            # MQTT 3.1.1 §3.1.2.10: one and a half keep-alive periods; a client that asks for none (0) still gets a
            # bound, so an idle connection cannot be held forever
            timeout = keepalive * 1.5 if keepalive else IDLE_WITHOUT_KEEPALIVE_S
            while True:
                await self.on_packet(await self.read_packet(timeout))
        except _Closed as why:
            log.debug("closing %s: %s", self.client_id or "client", why)
        except codec.MqttProtocolError as exc:
            log.info("protocol error from %s: %s", self.client_id or "client", exc)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.debug("connection of %s failed: %s", self.client_id or "client", exc)

    async def refuse(self, code: int, why: str) -> None:
        await self.send(codec.Connack(return_code=code))
        raise _Closed(why)

    def journal(self, method: str, topic: str, reply_topic: str | None, started: float, at: Any) -> None:
        """Note one MQTT exchange in the world's request journal (:mod:`simulator.journal`): the status is the one
        the reply topic carries (``…/res/202/…``); None when nothing answered (telemetry, a refusal, a drop)."""
        journal = getattr(self.cloud, "journal", None)
        if journal is None:
            return
        path = topic.partition("?")[0]
        service = "dps" if self.dps is not None or path.startswith("$dps/") else "hub"
        operation = {
            DPS_REGISTER: "register",
            DPS_POLL: "operation_status",
            TWIN_GET: "twin_get",
            TWIN_PATCH_REPORTED: "twin_patch",
        }.get(path, "connect" if method == "CONNECT" else "telemetry" if path.startswith("devices/") else path)
        status = None
        if reply_topic is not None:
            match = _REPLY_STATUS.search(reply_topic)
            status = int(match.group(1)) if match else None
        journal.record(
            {
                "service": service,
                "operation": operation,
                "method": method,
                "path": path,
                "query": "",
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 3),
                "at": at.isoformat(),
                "host": "mqtt",
            }
        )

    async def on_connect(self, packet: codec.Connect) -> int:
        started, at = time.perf_counter(), self.cloud.clock.now()
        try:
            keepalive = await self._on_connect(packet)
        except _Closed:
            self.journal("CONNECT", self._connect_path(packet), None, started, at)
            raise
        self.journal("CONNECT", self._connect_path(packet), "/res/200/", started, at)
        return keepalive

    def _connect_path(self, packet: codec.Connect) -> str:
        return "$dps/connect" if "/registrations/" in (packet.username or "") else "$iothub/connect"

    async def _on_connect(self, packet: codec.Connect) -> int:
        self.client_id = packet.client_id
        if packet.protocol_name != "MQTT" or packet.protocol_level != 4:
            await self.refuse(codec.CONNACK_UNACCEPTABLE_PROTOCOL, "not MQTT 3.1.1")
        who = parse_username(packet.username)
        if who is None:
            await self.refuse(codec.CONNACK_NOT_AUTHORIZED, f"unrecognised username {packet.username!r}")
        service = "dps" if isinstance(who, DpsUsername) else "hub"
        effect = await self.fault(service, "connect", tenant=getattr(who, "id_scope", None))
        if effect is not None and effect.kind == "connack":
            await self.refuse(effect.connack_code, "injected CONNACK refusal")
        if effect is not None and effect.kind == "status":
            await self.refuse(connack_for_status(effect.status), f"injected status {effect.status} at CONNECT")
        if isinstance(who, DpsUsername):
            await self.connect_dps(packet, who)
        else:
            assert isinstance(who, HubUsername)
            await self.connect_hub(packet, who)
        await self.send(codec.Connack(return_code=codec.CONNACK_ACCEPTED))
        return packet.keepalive

    async def connect_dps(self, packet: codec.Connect, who: DpsUsername) -> None:
        self.dps = who
        try:
            if packet.client_id.lower() != who.registration_id.lower():
                raise self.cloud.dps.error("unauthorized", "ClientId does not match the registration ID")
            with self.cloud.lock:
                self.attestation = self.cloud.dps.authenticate(
                    who.id_scope, who.registration_id, self.chain, verified_chain=self.verified_chain
                )
        except DpsError as exc:
            if self.cloud.settings.dps.auth_failure_mode == "res401":
                self.auth_error = exc  # accepted; every request will get res/401 (``dps.auth_failure_mode``)
                return
            await self.refuse(codec.CONNACK_NOT_AUTHORIZED, exc.message)

    async def connect_hub(self, packet: codec.Connect, who: HubUsername) -> None:
        if packet.client_id.lower() != who.device_id.lower():
            await self.refuse(codec.CONNACK_NOT_AUTHORIZED, "ClientId does not match the username's device ID")
        try:
            with self.cloud.lock:
                self.hub = self.cloud.dps.hub.connect(
                    who.hub_host, who.device_id, self.chain, verified_chain=self.verified_chain
                )
        except HubError as exc:
            await self.refuse(codec.CONNACK_NOT_AUTHORIZED, exc.message)

    async def on_packet(self, packet: codec.Packet) -> None:
        match packet:
            case codec.Publish():
                await self.on_publish(packet)
            case codec.Subscribe():
                for topic_filter, qos in packet.topics:
                    self.subscriptions[topic_filter] = min(qos, 1)
                codes = tuple(min(qos, 1) for _, qos in packet.topics)  # DPS and the hub grant at most QoS 1
                await self.send(codec.Suback(packet.packet_id, codes))
            case codec.Unsubscribe():
                for topic_filter in packet.topics:
                    self.subscriptions.pop(topic_filter, None)
                await self.send(codec.Unsuback(packet.packet_id))
            case codec.Pingreq():
                await self.send(codec.Pingresp())
            case codec.Puback():
                pass  # acknowledgement of one of our QoS 1 replies
            case codec.Disconnect():
                raise _Closed("DISCONNECT")
            case _:
                raise _Closed(f"unexpected {type(packet).__name__} from a client")

    async def on_publish(self, packet: codec.Publish) -> None:
        if packet.qos > 1:
            raise _Closed("QoS 2 is not supported (IoT Hub and DPS accept QoS 0 and 1)")
        started, at = time.perf_counter(), self.cloud.clock.now()
        reply: tuple[str, bytes] | None = None
        try:
            reply = await self.handle_dps(packet) if self.dps is not None else await self.handle_hub(packet)
        finally:
            self.journal("PUBLISH", packet.topic, reply[0] if reply is not None else None, started, at)
        outgoing: list[codec.Packet] = []
        if packet.qos == 1 and packet.packet_id is not None:
            outgoing.append(codec.Puback(packet.packet_id))
        if reply is not None and (publish := self.reply(*reply)) is not None:
            outgoing.append(publish)
        if outgoing:
            await self.send(*outgoing)

    # -- DPS --

    async def fault(self, service: str, operation: str, *, tenant: str | None = None) -> FaultEffect | None:
        """Ask the world's fault rules about this call and apply what needs no reply: ``latency`` is awaited (then
        the call goes on), ``drop`` closes the connection. Returns the effect the caller applies (or None)."""
        effect = self.server.fault(service, operation, tenant=tenant)
        if effect is None:
            return None
        if effect.kind == "drop":
            raise _Closed(f"injected drop on {service}/{operation}")
        if effect.kind == "latency":
            await asyncio.sleep(effect.latency_s)
            return None
        return effect

    async def handle_dps(self, packet: codec.Publish) -> tuple[str, bytes] | None:
        assert self.dps is not None
        path, props, rid = split_topic(packet.topic)
        if not rid or path not in (DPS_REGISTER, DPS_POLL):
            raise _Closed(f"unsupported DPS topic {packet.topic!r}")
        operation = "register" if path == DPS_REGISTER else "operation_status"
        now = self.cloud.clock.now()
        tracking = self.cloud.dps.tracking_id()
        if self.auth_error is not None:
            return self.dps_reply(self.auth_error.status, rid, self.auth_error.details(tracking, now))
        effect = await self.fault("dps", operation, tenant=self.dps.id_scope)
        if effect is not None and effect.kind == "status":
            body = injected_error_details(effect, tracking, now)
            return self.dps_reply(effect.status, rid, body, retry_after=effect.retry_after)
        try:
            with self.cloud.lock:
                if operation == "register":
                    body = _json_object(packet.payload)
                    if body is None:
                        raise self.cloud.dps.error("bad_request", "the request body is not a JSON object")
                    registration_id = body.get("registrationId")
                    if not isinstance(registration_id, str) or registration_id.lower() != (
                        self.dps.registration_id.lower()
                    ):
                        raise self.cloud.dps.error("bad_request", "registrationId does not match the connection")
                    op = self.cloud.dps.register(
                        self.dps.id_scope,
                        self.dps.registration_id,
                        self.chain,
                        body.get("payload"),
                        served_host=self.server.served_host,
                        injected_failure=(effect.dps_error_code or 400209)
                        if effect is not None and effect.kind == "dps_failed"
                        else None,
                        verified_chain=self.verified_chain,
                    )
                else:
                    op = self.cloud.dps.operation_status(
                        self.dps.id_scope, self.dps.registration_id, props.get("operationId", "")
                    )
                reply = op.to_json()
                if op.finished:
                    return self.dps_reply(200, rid, reply)
                return self.dps_reply(202, rid, reply, retry_after=op.retry_after)
        except DpsError as exc:
            return self.dps_reply(exc.status, rid, exc.details(tracking, now), retry_after=exc.retry_after)

    @staticmethod
    def dps_reply(status: int, rid: str, body: dict[str, Any], *, retry_after: int | None = None) -> tuple[str, bytes]:
        topic = f"{DPS_RESPONSE_FILTER_PREFIX}{status}/?$rid={rid}"
        if retry_after is not None:
            topic += f"&retry-after={retry_after}"
        return topic, json.dumps(body).encode()

    # -- hub --

    async def handle_hub(self, packet: codec.Publish) -> tuple[str, bytes] | None:
        session = self.hub
        assert session is not None
        topic = packet.topic
        if topic.startswith("devices/"):
            effect = await self.fault("hub", "telemetry")
            if effect is not None and effect.kind == "status":  # a PUBACK has no status: IoT Hub disconnects
                raise _Closed(f"injected status {effect.status} on telemetry: the hub closes the connection")
            try:
                with self.cloud.lock:
                    self.cloud.dps.hub.telemetry(session, topic, packet.payload)
            except HubError as exc:
                raise _Closed(exc.message) from None  # IoT Hub disconnects a device publishing where it may not
            return None
        path, _props, rid = split_topic(topic)
        if path == TWIN_GET and rid:
            if (effect := await self.fault("hub", "twin_get")) is not None and effect.kind == "status":
                return twin_error_reply(effect.status, rid, effect.message)
            try:
                with self.cloud.lock:
                    twin = self.cloud.dps.hub.twin_get(session)
            except HubError as exc:
                return twin_error_reply(exc.status, rid, exc.message)
            return f"$iothub/twin/res/200/?$rid={rid}", json.dumps(twin).encode()
        if path == TWIN_PATCH_REPORTED and rid:
            if (effect := await self.fault("hub", "twin_patch")) is not None and effect.kind == "status":
                return twin_error_reply(effect.status, rid, effect.message)
            try:
                with self.cloud.lock:
                    version = self.cloud.dps.hub.twin_patch_reported(session, packet.payload)
            except HubError as exc:
                return twin_error_reply(exc.status, rid, exc.message)
            return f"$iothub/twin/res/204/?$rid={rid}&$version={version}", b""
        if path.startswith(METHOD_RESPONSE):
            return None  # no direct method is ever pending in the fake
        raise _Closed(f"unsupported hub topic {topic!r}")


def connack_for_status(status: int) -> int:
    """The CONNACK return code that stands for an HTTP status at CONNECT (MQTT 3.1.1 has no status there):
    5 "not authorised" for 401/403 (what DPS and IoT Hub send for a refused device), else 3 "server
    unavailable" — what a throttled or failing service can say before a session exists."""
    return codec.CONNACK_NOT_AUTHORIZED if status in (401, 403) else codec.CONNACK_SERVER_UNAVAILABLE


def injected_error_details(effect: FaultEffect, tracking_id: str, now: datetime) -> dict[str, Any]:
    """The ``ProvisioningServiceErrorDetails`` body of an injected ``status`` (the DPS device API): the same four
    fields as every DPS error; ``errorCode`` is the rule's ``code`` when it is a six-digit number, else status × 1000
    (as :func:`simulator.dps.https_api.error_response` answers the same rule over HTTPS)."""
    error = DpsError("bad_request", effect.message, error_code=injected_error_code(effect))  # only its body is used
    return error.details(tracking_id, now)


def injected_error_code(effect: FaultEffect) -> int:
    """The six-digit DPS ``errorCode`` of an injected ``status``: the rule's ``code`` if it is a number, else
    status × 1000 (``429`` → ``429000``)."""
    try:
        return int(effect.code) if effect.code is not None else effect.status * 1000
    except ValueError:
        return effect.status * 1000


def twin_error_reply(status: int, rid: str, message: str) -> tuple[str, bytes]:
    """A twin request refused by the hub: ``$iothub/twin/res/{status}/?$rid=…`` with ``{"message": …}``."""
    return f"$iothub/twin/res/{status}/?$rid={rid}", json.dumps({"message": message}).encode()


def _json_object(payload: bytes) -> dict[str, Any] | None:
    """A PUBLISH payload as a JSON object through the wire seam (:mod:`simulator.wire`), else None."""
    try:
        body = wire.parse_json(payload)
    except wire.WireError:
        return None
    return body if isinstance(body, dict) else None


# -- the server -----------------------------------------------------------------------------------------------


class MqttServer:
    """The listening socket and its connections. Built by :func:`start_mqtt_server`."""

    def __init__(
        self,
        cloud: Any,
        context: ssl.SSLContext,
        served_host: str | None,
        *,
        limits: ListenerLimits | None = None,
        trust: WorldTrust | None = None,
    ) -> None:
        self.cloud = cloud
        #: a trust shared with another listener brings its own (prepared) context; else this one is prepared
        self.trust = trust if trust is not None else WorldTrust(cloud, prepare_server_context(context))
        self.context = self.trust.context
        self.served_host = served_host
        self.port = 0
        #: the connection cap (more are closed at once, with a log line) and the TLS and CONNECT timeouts
        self.limits = limits or ListenerLimits()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._refused = 0
        self._last_cap_log = 0.0

    #: TLS through memory BIOs (:mod:`simulator.dps.tls_pump`); False: asyncio streams and ``start_tls`` (the
    #: listener before BENCHMARKS.md session 5 — kept to measure against, and as a fallback)
    memory_bio_tls: bool = True

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (0: a free port); each connection is served by one task this server tracks.

        The TLS handshake is awaited inside that task (:meth:`TlsPump.handshake`), its server side set up after
        :meth:`WorldTrust.sync` has brought the world's trust up to date — a CA uploaded to IoT Central a moment ago
        is trusted when this connection's client certificate is checked — so :meth:`close` can cancel a connection
        at any point, mid-handshake included.
        (With TLS set on the listening socket instead, a handshake in progress at shutdown is an asyncio-internal
        task that nobody can cancel, destroyed pending when the loop closes.)
        """
        if self.memory_bio_tls:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(lambda: TlsPump(self._synced_context, self._pumped), host, port)
        else:
            self._server = await asyncio.start_server(self._connected, host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    def _synced_context(self) -> ssl.SSLContext:
        self.trust.sync()
        return self.context

    def _admit(self, transport: asyncio.BaseTransport) -> bool:
        """Whether a TCP connection that just arrived may stay: not while stopping, not over the cap (logged)."""
        if self._closing:
            transport.abort()  # type: ignore[attr-defined]
            return False
        if len(self._tasks) >= self.limits.max_connections:
            transport.abort()  # type: ignore[attr-defined]  # before any TLS work
            self._refused += 1
            now = time.monotonic()
            if now - self._last_cap_log >= CAP_LOG_INTERVAL_S:
                log.warning(
                    "MQTT listener: %d connections open, the cap (max_connections=%d): refused %d new connection(s)",
                    len(self._tasks),
                    self.limits.max_connections,
                    self._refused,
                )
                self._last_cap_log, self._refused = now, 0
            return False
        return True

    def _track(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pumped(self, pump: TlsPump) -> None:
        """A TCP connection arrived (memory-BIO TLS): admit it, then serve it in a task this server tracks."""
        if self._admit(pump.transport):
            pump.start_tls()  # the world's trust synced first: a CA uploaded a moment ago is trusted now
            self._track(self._serve(pump.reader, pump.writer, pump.handshake))

    def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A TCP connection arrived (asyncio streams): start its task and track it at once (not when it first runs)."""
        if self._admit(writer.transport):

            async def start_tls() -> None:
                self.trust.sync()
                await writer.start_tls(self.context, ssl_handshake_timeout=self.limits.tls_handshake_timeout_s)

            self._track(self._serve(reader, writer, start_tls))

    def fault(self, service: str, operation: str, *, tenant: str | None = None) -> Any:
        injector = getattr(self.cloud, "faults", None)
        if injector is None or not getattr(injector, "rules", None):
            return None
        with self.cloud.lock:  # a rule's counters are world state: committed (persisted world) before the answer
            return injector.check(service, operation, tenant=tenant)

    async def _serve(self, reader: Any, writer: Any, handshake: Callable[[], Awaitable[None]]) -> None:
        """One connection: the TLS handshake (within the listener's timeout), then MQTT until either side ends."""
        secured = stopping = False
        try:
            async with asyncio.timeout(self.limits.tls_handshake_timeout_s):
                await handshake()
            secured = True
            chain, verified = peer_chains(writer.get_extra_info("ssl_object"), known=self.trust.known)
            connection = _Connection(self, reader, writer, chain=chain, verified_chain=verified)
            await connection.run()
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError) as exc:
            log.debug("MQTT connection failed (TLS or later): %s", exc)
        except asyncio.CancelledError:
            stopping = True
            log.debug("connection closed by server shutdown")  # not re-raised: asyncio would log it as an error
        except Exception:  # a bug must end this connection, not the listener
            log.exception("MQTT connection failed unexpectedly")
        finally:
            await self._hang_up(writer, graceful=secured and not stopping)

    @staticmethod
    async def _hang_up(writer: TlsWriter | asyncio.StreamWriter, *, graceful: bool) -> None:
        """Close a connection: with a TLS close_notify once a session exists, else (or at shutdown) at once.

        A handshake that never finished leaves nothing to wait for — after a failed ``start_tls`` the stream no
        longer hears its transport close, so ``wait_closed`` would wait forever — and a server that is stopping
        does not wait for a client to answer its close_notify (asyncio would give it 30 s).
        """
        if not graceful:
            writer.transport.abort()
            return
        writer.close()
        try:
            async with asyncio.timeout(30.0):  # the bound asyncio gives its own TLS close
                await writer.wait_closed()
        except (asyncio.CancelledError, TimeoutError):  # the server stops while the client dawdles over the close
            writer.transport.abort()
        except Exception:  # the connection is gone either way
            log.debug("closing an MQTT connection failed", exc_info=True)

    def close(self) -> None:
        """Stop listening and end every open connection (a connection arriving from now on is closed at once)."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def start_mqtt_server(
    cloud: Any,
    host: str,
    port: int,
    server_ssl_context_factory: Callable[[], ssl.SSLContext],
    *,
    served_host: str | None = None,
    limits: ListenerLimits | None = None,
    trust: WorldTrust | None = None,
) -> MqttServer:
    """Start the DPS + IoT hub listener in the running event loop (the hook :mod:`simulator.server` calls).

    ``server_ssl_context_factory()`` returns a server context holding the local CA's server certificate; this
    function asks it for client certificates and keeps it trusting the world's CAs. ``served_host`` (default
    ``host``) is what ``assignedHub`` reports with ``dps.assigned_hub_host = "served"``. ``limits`` (a
    :class:`simulator.listeners.ListenerLimits`) caps the connections and bounds the TLS handshake and the CONNECT.
    ``trust`` shares a :class:`WorldTrust` (its context and loaded CAs) with another device-facing listener; the
    factory is then not called.
    """
    context = trust.context if trust is not None else server_ssl_context_factory()
    server = MqttServer(cloud, context, served_host or host, limits=limits, trust=trust)
    await server.start(host, port)
    return server


class MqttServerThread:
    """Run the listener in its own thread and event loop (tests, scripts)::

    with MqttServerThread(cloud, context, host="127.0.0.1", port=0) as server:
        server.port
    """

    def __init__(
        self,
        cloud: Any,
        context: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        served_host: str | None = None,
    ) -> None:
        self.cloud, self.context, self.host, self.requested_port = cloud, context, host, port
        self.served_host = served_host
        self.server: MqttServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    def start(self) -> MqttServerThread:
        self._thread = threading.Thread(target=self._run, name="mqtt-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self.server = loop.run_until_complete(
                start_mqtt_server(
                    self.cloud, self.host, self.requested_port, lambda: self.context, served_host=self.served_host
                )
            )
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _shutdown(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def stop(self) -> None:
        """Close the listener and every connection, then end the thread."""
        if self._loop is None or self.server is None or self._loop.is_closed():
            return
        loop = self._loop
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(10)

    def __enter__(self) -> MqttServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def standalone_server_context(
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), *, now: datetime | None = None
) -> tuple[ssl.SSLContext, str]:
    """A server context with a throw-away local CA and a server certificate for ``hosts``; returns (ctx, CA PEM).

    For standalone use of this module (tests, scripts). The served world uses :mod:`simulator.tls`'s CA instead.
    """
    import ipaddress
    import tempfile
    from pathlib import Path

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sphere-harness MQTT test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp, "server.pem"), Path(tmp, "server.key")
        cert_path.write_bytes(to_pem(cert))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context.load_cert_chain(cert_path, key_path)
    return context, to_pem(ca_cert).decode("ascii")
