"""MQTT 3.1.1 packets as bytes and back: the part of the protocol the Azure device SDK speaks.

An MQTT control packet is a *fixed header* — one byte holding the packet type (high nibble) and flags (low
nibble), then the *remaining length* in a variable-length encoding of 1–4 bytes, 7 bits per byte, low bits
first, the top bit saying "another byte follows" — followed by that many bytes of variable header and payload
(OASIS MQTT 3.1.1 §2.2). Strings are UTF-8 with a two-byte big-endian length prefix.

This module is pure: :func:`encode` turns a packet object into bytes, :func:`decode` turns exactly one packet's
bytes into an object, and :class:`PacketBuffer` splits a byte stream into packets. Anything that breaks the
3.1.1 rules the server relies on (reserved flag bits, a QoS of 3, a zero packet identifier, a wildcard in a
PUBLISH topic, a length that does not add up, invalid UTF-8) raises :class:`MqttProtocolError` — never another
exception — so the server can answer a malformed client by closing the connection, as §4.8 requires.

Only what DPS and IoT Hub use is modelled: no QoS 2 flow (PUBREC/PUBREL/PUBCOMP are rejected, IoT Hub does not
support QoS 2 either) and no MQTT 5 properties.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_REMAINING_LENGTH = 268_435_455  # four length bytes of 7 bits each (§2.2.3)

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

# CONNACK return codes (§3.2.2.3)
CONNACK_ACCEPTED = 0
CONNACK_UNACCEPTABLE_PROTOCOL = 1
CONNACK_IDENTIFIER_REJECTED = 2
CONNACK_SERVER_UNAVAILABLE = 3
CONNACK_BAD_CREDENTIALS = 4
CONNACK_NOT_AUTHORIZED = 5


class MqttProtocolError(ValueError):
    """Bytes that are not a valid MQTT 3.1.1 packet; the server closes the connection (§4.8)."""


@dataclass(frozen=True)
class Connect:
    """CONNECT: the client's identity. DPS and IoT Hub read ``client_id`` and ``username``."""

    client_id: str
    username: str | None = None
    password: bytes | None = None
    clean_session: bool = True
    keepalive: int = 60
    will_topic: str | None = None
    will_message: bytes | None = None
    will_qos: int = 0
    will_retain: bool = False
    protocol_name: str = "MQTT"
    protocol_level: int = 4


@dataclass(frozen=True)
class Connack:
    return_code: int = CONNACK_ACCEPTED
    session_present: bool = False


@dataclass(frozen=True)
class Publish:
    """PUBLISH: an application message. ``packet_id`` is present exactly when ``qos`` > 0."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    packet_id: int | None = None
    retain: bool = False
    dup: bool = False


@dataclass(frozen=True)
class Puback:
    packet_id: int


@dataclass(frozen=True)
class Subscribe:
    packet_id: int
    topics: tuple[tuple[str, int], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Suback:
    """SUBACK: one granted QoS (0, 1, 2) or failure ``0x80`` per requested filter."""

    packet_id: int
    return_codes: tuple[int, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Unsubscribe:
    packet_id: int
    topics: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Unsuback:
    packet_id: int


@dataclass(frozen=True)
class Pingreq:
    pass


@dataclass(frozen=True)
class Pingresp:
    pass


@dataclass(frozen=True)
class Disconnect:
    pass


Packet = (
    Connect | Connack | Publish | Puback | Subscribe | Suback | Unsubscribe | Unsuback | Pingreq | Pingresp | Disconnect
)


# -- primitives ----------------------------------------------------------------------------------------------


def encode_remaining_length(value: int) -> bytes:
    """The variable-length encoding of §2.2.3: 7 bits per byte, least significant first."""
    if not 0 <= value <= MAX_REMAINING_LENGTH:
        raise MqttProtocolError(f"remaining length {value} outside 0..{MAX_REMAINING_LENGTH}")
    out = bytearray()
    while True:
        digit, value = value % 128, value // 128
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def decode_remaining_length(data: bytes, offset: int = 1) -> tuple[int, int] | None:
    """Read a remaining length at ``offset``; return ``(value, bytes used)`` or None if more bytes are needed."""
    multiplier, value = 1, 0
    for used in range(1, 5):
        if offset + used > len(data):
            return None
        byte = data[offset + used - 1]
        value += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            if used > 1 and byte == 0:
                raise MqttProtocolError("remaining length is not minimally encoded")
            return value, used
        multiplier *= 128
    raise MqttProtocolError("remaining length longer than four bytes")


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _binary(raw)


def _binary(raw: bytes) -> bytes:
    if len(raw) > 0xFFFF:
        raise MqttProtocolError("string longer than 65535 bytes")
    return len(raw).to_bytes(2, "big") + raw


class _Cursor:
    """Reads the variable header and payload of one packet, raising MqttProtocolError on any shortfall."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def remaining(self) -> int:
        return len(self.body) - self.pos

    def take(self, n: int) -> bytes:
        if n > self.remaining():
            raise MqttProtocolError("packet ends before its fields do")
        chunk = self.body[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        raw = self.binary()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MqttProtocolError("string is not valid UTF-8") from None
        if "\x00" in text:
            raise MqttProtocolError("string contains U+0000")  # §1.5.3
        return text

    def packet_id(self) -> int:
        value = self.u16()
        if value == 0:
            raise MqttProtocolError("packet identifier 0 is not allowed")
        return value

    def end(self) -> None:
        if self.remaining():
            raise MqttProtocolError(f"{self.remaining()} unexpected bytes at the end of the packet")


def _check_qos(qos: int) -> int:
    if qos not in (0, 1, 2):
        raise MqttProtocolError(f"QoS {qos} is not 0, 1 or 2")
    return qos


def _check_topic_name(topic: str) -> str:
    if not topic:
        raise MqttProtocolError("a topic name cannot be empty")
    if "+" in topic or "#" in topic:
        raise MqttProtocolError("a PUBLISH topic name cannot contain wildcards")
    return topic


def _check_topic_filter(topic: str) -> str:
    if not topic:
        raise MqttProtocolError("a topic filter cannot be empty")
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise MqttProtocolError(f"'#' must be a whole last level in {topic!r}")
        if "+" in level and level != "+":
            raise MqttProtocolError(f"'+' must be a whole level in {topic!r}")
    return topic


# -- encode ---------------------------------------------------------------------------------------------------


def encode(packet: Packet) -> bytes:
    """The wire bytes of ``packet`` (validated the same way :func:`decode` validates)."""
    flags = 0
    match packet:
        case Connect():
            kind = CONNECT
            connect_flags = 0x02 if packet.clean_session else 0
            payload = _string(packet.client_id)
            if packet.will_topic is not None:
                connect_flags |= 0x04 | (_check_qos(packet.will_qos) << 3) | (0x20 if packet.will_retain else 0)
                payload += _string(packet.will_topic) + _binary(packet.will_message or b"")
            if packet.username is not None:
                connect_flags |= 0x80
                payload += _string(packet.username)
            if packet.password is not None:
                connect_flags |= 0x40
                payload += _binary(packet.password)
            if not 0 <= packet.keepalive <= 0xFFFF:
                raise MqttProtocolError("keepalive outside 0..65535")
            body = (
                _string(packet.protocol_name)
                + bytes([packet.protocol_level, connect_flags])
                + packet.keepalive.to_bytes(2, "big")
                + payload
            )
        case Connack():
            kind = CONNACK
            body = bytes([1 if packet.session_present else 0, packet.return_code])
        case Publish():
            kind = PUBLISH
            qos = _check_qos(packet.qos)
            flags = (0x08 if packet.dup else 0) | (qos << 1) | (0x01 if packet.retain else 0)
            body = _string(_check_topic_name(packet.topic))
            if qos:
                if not packet.packet_id or not 0 < packet.packet_id <= 0xFFFF:
                    raise MqttProtocolError("a QoS 1 or 2 PUBLISH needs a packet identifier 1..65535")
                body += packet.packet_id.to_bytes(2, "big")
            elif packet.packet_id is not None:
                raise MqttProtocolError("a QoS 0 PUBLISH has no packet identifier")
            body += packet.payload
        case Puback():
            kind, body = PUBACK, _pid(packet.packet_id)
        case Subscribe():
            kind, flags = SUBSCRIBE, 0x02
            if not packet.topics:
                raise MqttProtocolError("SUBSCRIBE needs at least one topic filter")
            body = _pid(packet.packet_id) + b"".join(
                _string(_check_topic_filter(t)) + bytes([_check_qos(q)]) for t, q in packet.topics
            )
        case Suback():
            kind = SUBACK
            for code in packet.return_codes:
                if code not in (0, 1, 2, 0x80):
                    raise MqttProtocolError(f"SUBACK return code {code} is not 0, 1, 2 or 0x80")
            body = _pid(packet.packet_id) + bytes(packet.return_codes)
        case Unsubscribe():
            kind, flags = UNSUBSCRIBE, 0x02
            if not packet.topics:
                raise MqttProtocolError("UNSUBSCRIBE needs at least one topic filter")
            body = _pid(packet.packet_id) + b"".join(_string(_check_topic_filter(t)) for t in packet.topics)
        case Unsuback():
            kind, body = UNSUBACK, _pid(packet.packet_id)
        case Pingreq():
            kind, body = PINGREQ, b""
        case Pingresp():
            kind, body = PINGRESP, b""
        case Disconnect():
            kind, body = DISCONNECT, b""
        case _:
            raise TypeError(f"not an MQTT packet: {packet!r}")
    return bytes([kind << 4 | flags]) + encode_remaining_length(len(body)) + body


def _pid(packet_id: int) -> bytes:
    if not 0 < packet_id <= 0xFFFF:
        raise MqttProtocolError("packet identifier must be 1..65535")
    return packet_id.to_bytes(2, "big")


# -- decode ---------------------------------------------------------------------------------------------------

# Fixed-header flags that 3.1.1 requires for every type except PUBLISH (§2.2.2).
_REQUIRED_FLAGS = {
    CONNECT: 0,
    CONNACK: 0,
    PUBACK: 0,
    SUBSCRIBE: 2,
    SUBACK: 0,
    UNSUBSCRIBE: 2,
    UNSUBACK: 0,
    PINGREQ: 0,
    PINGRESP: 0,
    DISCONNECT: 0,
}


def decode(data: bytes) -> Packet:
    """Decode exactly one complete packet; trailing or missing bytes are a :class:`MqttProtocolError`."""
    if not data:
        raise MqttProtocolError("no bytes")
    header = decode_remaining_length(data)
    if header is None:
        raise MqttProtocolError("truncated fixed header")
    length, used = header
    if len(data) != 1 + used + length:
        raise MqttProtocolError(f"remaining length {length} does not match the {len(data) - 1 - used} bytes given")
    return _decode_body(data[0], data[1 + used :])


def _decode_body(first: int, body: bytes) -> Packet:
    kind, flags = first >> 4, first & 0x0F
    if kind != PUBLISH:
        if kind not in _REQUIRED_FLAGS:
            raise MqttProtocolError(f"packet type {kind} is not supported")
        if flags != _REQUIRED_FLAGS[kind]:
            raise MqttProtocolError(f"reserved flags {flags:#x} of packet type {kind} are wrong")
    cur = _Cursor(body)
    packet: Packet
    if kind == CONNECT:
        packet = _decode_connect(cur)
    elif kind == CONNACK:
        ack_flags, code = cur.u8(), cur.u8()
        if ack_flags & 0xFE:
            raise MqttProtocolError("reserved CONNACK flag bits set")
        packet = Connack(return_code=code, session_present=bool(ack_flags & 1))
    elif kind == PUBLISH:
        qos = (flags >> 1) & 0x03
        if qos == 3:
            raise MqttProtocolError("QoS 3 is not allowed")
        if qos == 0 and flags & 0x08:
            raise MqttProtocolError("DUP must be 0 for a QoS 0 PUBLISH")
        topic = _check_topic_name(cur.string())
        packet_id = cur.packet_id() if qos else None
        packet = Publish(
            topic=topic,
            payload=cur.take(cur.remaining()),
            qos=qos,
            packet_id=packet_id,
            retain=bool(flags & 1),
            dup=bool(flags & 8),
        )
    elif kind in (PUBACK, UNSUBACK):
        packet_id = cur.packet_id()
        packet = Puback(packet_id) if kind == PUBACK else Unsuback(packet_id)
    elif kind == SUBSCRIBE:
        packet_id = cur.packet_id()
        topics: list[tuple[str, int]] = []
        while cur.remaining():
            topic = _check_topic_filter(cur.string())
            options = cur.u8()
            if options & 0xFC:
                raise MqttProtocolError("reserved bits of a requested QoS byte are set")
            topics.append((topic, _check_qos(options)))
        if not topics:
            raise MqttProtocolError("SUBSCRIBE needs at least one topic filter")
        packet = Subscribe(packet_id, tuple(topics))
    elif kind == SUBACK:
        packet_id = cur.packet_id()
        codes = tuple(cur.take(cur.remaining()))
        if any(c not in (0, 1, 2, 0x80) for c in codes):
            raise MqttProtocolError("SUBACK return code is not 0, 1, 2 or 0x80")
        packet = Suback(packet_id, codes)
    elif kind == UNSUBSCRIBE:
        packet_id = cur.packet_id()
        filters: list[str] = []
        while cur.remaining():
            filters.append(_check_topic_filter(cur.string()))
        if not filters:
            raise MqttProtocolError("UNSUBSCRIBE needs at least one topic filter")
        packet = Unsubscribe(packet_id, tuple(filters))
    elif kind == PINGREQ:
        packet = Pingreq()
    elif kind == PINGRESP:
        packet = Pingresp()
    else:
        packet = Disconnect()
    cur.end()
    return packet


def _decode_connect(cur: _Cursor) -> Connect:
    protocol_name = cur.string()
    level = cur.u8()
    flags = cur.u8()
    if flags & 0x01:
        raise MqttProtocolError("the reserved CONNECT flag must be 0")
    keepalive = cur.u16()
    client_id = cur.string()
    will_topic = will_message = None
    will_qos = (flags >> 3) & 0x03
    if flags & 0x04:
        will_topic = _check_topic_name(cur.string())
        will_message = cur.binary()
        _check_qos(will_qos)
    elif will_qos or flags & 0x20:
        raise MqttProtocolError("will QoS and retain must be 0 without a will")
    username = cur.string() if flags & 0x80 else None
    if flags & 0x40 and not flags & 0x80:
        raise MqttProtocolError("a password needs a username in MQTT 3.1.1")
    password = cur.binary() if flags & 0x40 else None
    return Connect(
        client_id=client_id,
        username=username,
        password=password,
        clean_session=bool(flags & 0x02),
        keepalive=keepalive,
        will_topic=will_topic,
        will_message=will_message,
        will_qos=will_qos,
        will_retain=bool(flags & 0x20),
        protocol_name=protocol_name,
        protocol_level=level,
    )


class PacketBuffer:
    """Splits a byte stream into packets: :meth:`feed` bytes, get every complete packet back.

    ``max_packet_size`` bounds what one client may make the server buffer (IoT Hub caps messages at 256 KB).
    """

    def __init__(self, max_packet_size: int = 512 * 1024) -> None:
        self._data = bytearray()
        self.max_packet_size = max_packet_size

    def feed(self, data: bytes) -> list[Packet]:
        self._data += data
        packets: list[Packet] = []
        while True:
            size = self.next_packet_size()
            if size is None or len(self._data) < size:
                return packets
            raw = bytes(self._data[:size])
            del self._data[:size]
            packets.append(decode(raw))

    def next_packet_size(self) -> int | None:
        """Total size of the next packet once its fixed header is complete, else None."""
        if not self._data:
            return None
        header = decode_remaining_length(bytes(self._data[:5]))
        if header is None:
            return None
        length, used = header
        size = 1 + used + length
        if size > self.max_packet_size:
            raise MqttProtocolError(f"packet of {size} bytes exceeds the {self.max_packet_size}-byte limit")
        return size


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (§4.7): ``+`` one level, ``#`` the rest; ``$`` topics only match explicit filters."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    f_levels, t_levels = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(f_levels):
        if level == "#":
            return True
        if index >= len(t_levels):
            return False
        if level != "+" and level != t_levels[index]:
            return False
    return len(f_levels) == len(t_levels)
