"""MQTT 3.1.1 codec: round trips, the remaining-length encoding, and malformed input (never a crash)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.dps import mqtt_codec as codec

# MQTT strings are UTF-8 without U+0000 (§1.5.3); topics must not hold wildcards (PUBLISH) and not be empty.
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
topic_name = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"), min_size=1, max_size=60
)
level = st.one_of(st.just("+"), st.text(alphabet="abc$XYZ09-_.", min_size=0, max_size=8))
topic_filter = st.builds(
    lambda levels, hash_: "/".join(levels + (["#"] if hash_ else [])) or "#",
    st.lists(level, min_size=1, max_size=5),
    st.booleans(),
)
packet_id = st.integers(1, 0xFFFF)


@st.composite
def publishes(draw: st.DrawFn) -> codec.Publish:
    qos = draw(st.sampled_from([0, 1, 2]))
    return codec.Publish(
        topic=draw(topic_name),
        payload=draw(st.binary(max_size=300)),
        qos=qos,
        packet_id=draw(packet_id) if qos else None,
        retain=draw(st.booleans()),
        dup=draw(st.booleans()) if qos else False,
    )


@st.composite
def connects(draw: st.DrawFn) -> codec.Connect:
    has_will = draw(st.booleans())
    username = draw(st.one_of(st.none(), text))
    return codec.Connect(
        client_id=draw(text),
        username=username,
        password=draw(st.one_of(st.none(), st.binary(max_size=30))) if username is not None else None,
        clean_session=draw(st.booleans()),
        keepalive=draw(st.integers(0, 0xFFFF)),
        will_topic=draw(topic_name) if has_will else None,
        will_message=draw(st.binary(max_size=20)) if has_will else None,
        will_qos=draw(st.sampled_from([0, 1, 2])) if has_will else 0,
        will_retain=draw(st.booleans()) if has_will else False,
    )


packets = st.one_of(
    connects(),
    st.builds(codec.Connack, st.integers(0, 5), st.booleans()),
    publishes(),
    st.builds(codec.Puback, packet_id),
    st.builds(
        codec.Subscribe, packet_id, st.lists(st.tuples(topic_filter, st.sampled_from([0, 1, 2])), min_size=1).map(tuple)
    ),
    st.builds(codec.Suback, packet_id, st.lists(st.sampled_from([0, 1, 2, 0x80]), max_size=5).map(tuple)),
    st.builds(codec.Unsubscribe, packet_id, st.lists(topic_filter, min_size=1, max_size=4).map(tuple)),
    st.builds(codec.Unsuback, packet_id),
    st.just(codec.Pingreq()),
    st.just(codec.Pingresp()),
    st.just(codec.Disconnect()),
)


@settings(max_examples=300, deadline=None)
@given(packets)
def test_every_packet_survives_an_encode_decode_round_trip(packet: codec.Packet) -> None:
    assert codec.decode(codec.encode(packet)) == packet


@settings(max_examples=100, deadline=None)
@given(st.lists(packets, min_size=1, max_size=6), st.integers(1, 17))
def test_a_stream_cut_anywhere_yields_the_same_packets(sequence: list[codec.Packet], chunk: int) -> None:
    wire = b"".join(codec.encode(p) for p in sequence)
    buffer = codec.PacketBuffer()
    decoded: list[codec.Packet] = []
    for start in range(0, len(wire), chunk):
        decoded.extend(buffer.feed(wire[start : start + chunk]))
    assert decoded == sequence


@given(st.integers(0, codec.MAX_REMAINING_LENGTH))
def test_remaining_length_round_trips_in_one_to_four_bytes(value: int) -> None:
    encoded = codec.encode_remaining_length(value)
    assert 1 <= len(encoded) <= 4
    assert codec.decode_remaining_length(b"\x30" + encoded) == (value, len(encoded))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01"),
     (2_097_151, b"\xff\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01"), (268_435_455, b"\xff\xff\xff\x7f")],
)  # fmt: skip
def test_remaining_length_matches_the_specification_table(value: int, expected: bytes) -> None:
    """The boundary values of MQTT 3.1.1 table 2.4."""
    assert codec.encode_remaining_length(value) == expected


def test_remaining_length_out_of_range_or_five_bytes_is_a_protocol_error() -> None:
    with pytest.raises(codec.MqttProtocolError):
        codec.encode_remaining_length(codec.MAX_REMAINING_LENGTH + 1)
    with pytest.raises(codec.MqttProtocolError):
        codec.decode_remaining_length(b"\x30\xff\xff\xff\xff\x01")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_a_protocol_error_never_anything_else(data: bytes) -> None:
    try:
        codec.decode(data)
    except codec.MqttProtocolError:
        pass
    try:
        codec.PacketBuffer(max_packet_size=1024).feed(data)
    except codec.MqttProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(packets, st.data())
def test_a_flipped_byte_never_crashes_the_decoder(packet: codec.Packet, data: st.DataObject) -> None:
    wire = bytearray(codec.encode(packet))
    index = data.draw(st.integers(0, len(wire) - 1))
    wire[index] ^= data.draw(st.integers(1, 255))
    try:
        codec.decode(bytes(wire))
    except codec.MqttProtocolError:
        pass


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"\x32\x05\x00\x01a\x00\x00", "QoS 1 PUBLISH with packet identifier 0"),
        (b"\x36\x03\x00\x01a", "QoS 3"),
        (b"\x30\x03\x00\x01#", "wildcard in a PUBLISH topic"),
        (b"\x80\x06\x00\x01\x00\x01a\x01", "SUBSCRIBE with reserved flags 0"),
        (b"\x82\x02\x00\x01", "SUBSCRIBE without a filter"),
        (b"\x82\x07\x00\x01\x00\x02a#\x01", "'#' not a whole level"),
        (b"\x82\x06\x00\x01\x00\x01a\x05", "reserved bits in requested QoS"),
        (b"\xc0\x01\x00", "PINGREQ with a body"),
        (b"\xc1\x00", "PINGREQ with flags"),
        (b"\x30\x04\x00\x02\xc3\x28", "invalid UTF-8 topic"),
        (b"\x30\x03\x00\x01\x00", "U+0000 in a topic"),
        (b"\x50\x02\x00\x01", "PUBREC (QoS 2 flow) is not supported"),
        (b"\x30\x05\x00\x01a", "remaining length larger than the data"),
        (b"\x10\x0c\x00\x04MQTT\x04\x01\x00\x3c\x00\x00", "reserved CONNECT flag"),
        (b"\x10\x0c\x00\x04MQTT\x04\x40\x00\x3c\x00\x00", "password without username"),
        (b"\x30\x80\x00", "remaining length not minimally encoded"),
    ],
)
def test_malformed_packets_are_protocol_errors(wire: bytes, why: str) -> None:
    with pytest.raises(codec.MqttProtocolError):
        codec.decode(wire)


def test_the_sdk_connect_packet_decodes_with_its_username_and_no_password() -> None:
    username = "0ne00FAKE01/registrations/dev-01/api-version=2019-03-31&ClientVersion=azure-iot-device-provisioning-py"
    packet = codec.Connect(client_id="dev-01", username=username, clean_session=False, keepalive=60)
    wire = codec.encode(packet)
    assert wire[0] == 0x10
    decoded = codec.decode(wire)
    assert isinstance(decoded, codec.Connect)
    assert (decoded.username, decoded.password, decoded.clean_session) == (username, None, False)
    assert decoded.protocol_level == 4


def test_oversized_packets_are_refused_before_they_are_buffered() -> None:
    buffer = codec.PacketBuffer(max_packet_size=100)
    with pytest.raises(codec.MqttProtocolError):
        buffer.feed(b"\x30" + codec.encode_remaining_length(1000))


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("$dps/registrations/res/#", "$dps/registrations/res/202/?$rid=1", True),
        ("$iothub/twin/res/#", "$iothub/twin/res/204/?$rid=1&$version=2", True),
        ("#", "$dps/registrations/res/200/?$rid=1", False),
        ("+/registrations/res/#", "$dps/registrations/res/200", False),
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/#", "a", True),
        ("a/b", "a/b/c", False),
    ],
)
def test_topic_filters_match_like_mqtt_section_4_7(topic_filter: str, topic: str, matches: bool) -> None:
    assert codec.topic_matches(topic_filter, topic) is matches
