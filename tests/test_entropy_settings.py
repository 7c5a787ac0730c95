"""The seeded random source and the settings object."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from simulator.entropy import Entropy
from simulator.settings import CentralSettings, Settings


def test_same_seed_same_stream():
    a, b = Entropy(42), Entropy(42)
    assert [a.hex(8), a.uuid(), a.serial()] == [b.hex(8), b.uuid(), b.serial()]


def test_seeded_keys_repeat():
    a = Entropy(3).ec_private_key(ec.SECP256R1()).private_numbers().private_value
    b = Entropy(3).ec_private_key(ec.SECP384R1()).private_numbers().private_value
    assert a == Entropy(3).ec_private_key(ec.SECP256R1()).private_numbers().private_value
    assert a != b


def test_unseeded_streams_differ():
    assert Entropy().hex(16) != Entropy().hex(16)


def test_serials_are_positive_16_bytes():
    e = Entropy(1)
    for _ in range(200):
        s = e.serial()
        assert 0 < s < 2**127


def test_uuid_is_version_4():
    assert Entropy(9).uuid()[14] == "4"


def test_forks_are_independent_but_repeatable():
    assert Entropy(5).fork("sphere").hex(8) == Entropy(5).fork("sphere").hex(8)
    assert Entropy(5).fork("sphere").hex(8) != Entropy(5).fork("central").hex(8)


def test_settings_from_mapping():
    s = Settings.from_mapping({"central": {"code_reuse": True, "accepted_api_versions": ["2022-07-31"]}})
    assert s.central.code_reuse is True
    assert s.central.accepted_api_versions == ("2022-07-31",)
    assert s.central.code_bytes == CentralSettings().code_bytes


@pytest.mark.parametrize(
    ("mapping", "message"),
    [({"nope": {}}, "unknown settings section"), ({"central": {"colour": 1}}, "unknown central setting")],
)
def test_settings_reject_unknown_keys(mapping, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_mapping(mapping)


@given(st.binary(min_size=16, max_size=16))
def test_uuid_text_is_what_the_uuid_module_makes(raw: bytes) -> None:
    """The hand-formatted UUID is exactly ``str(uuid.UUID(bytes=…, version=4))`` for any 16 random bytes."""
    import uuid

    entropy = Entropy(0)
    entropy.bytes = lambda n: raw  # type: ignore[method-assign]
    assert entropy.uuid() == str(uuid.UUID(bytes=raw, version=4))
