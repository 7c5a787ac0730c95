"""The device's TLS client context is built once per (presented chain, CA bundle, hostname check) and rebuilt when
the daily certificate is renewed — the context a fresh build would give, without rebuilding it for every connection.
The contexts are then used for real handshakes in the MQTT tests (test_dps_mqtt_served.py, test_fault_effects_mqtt.py).
"""

from __future__ import annotations

import ssl
from datetime import timedelta

import pytest
from test_dps_model import World

from simulator.device import SimulatedDevice
from simulator.dps.mqtt import standalone_server_context


@pytest.fixture(scope="module")
def ca_pems() -> tuple[str, str]:
    return standalone_server_context()[1], standalone_server_context()[1]


def _device() -> tuple[World, SimulatedDevice]:
    world = World()
    return world, world.device(world.tenant())


def test_the_same_context_serves_every_connection_with_the_same_certificate(ca_pems: tuple[str, str]) -> None:
    _, device = _device()
    first = device.client_context(ca_pems[0])
    assert device.client_context(ca_pems[0]) is first
    assert first.minimum_version == first.maximum_version == ssl.TLSVersion.TLSv1_2
    assert first.check_hostname and first.verify_mode == ssl.CERT_REQUIRED


def test_another_ca_bundle_or_hostname_check_gets_its_own_context(ca_pems: tuple[str, str]) -> None:
    _, device = _device()
    first = device.client_context(ca_pems[0])
    other_ca = device.client_context(ca_pems[1])
    no_check = device.client_context(ca_pems[0], server_hostname_check=False)
    assert len({id(first), id(other_ca), id(no_check)}) == 3
    assert not no_check.check_hostname
    assert device.client_context(ca_pems[1]) is other_ca  # each is kept


def test_a_renewed_certificate_gets_a_new_context_and_the_old_ones_are_dropped(ca_pems: tuple[str, str]) -> None:
    world, device = _device()
    before = device.client_context(ca_pems[0])
    device.client_context(ca_pems[1])
    world.cloud.clock.advance(timedelta(hours=25))  # the 24 h certificate has expired in the world
    expired = device.client_context(ca_pems[0], renew=False)
    assert expired is before  # presented as it is: the same chain, the same context
    renewed = device.client_context(ca_pems[0])
    assert renewed is not before
    assert device.certificate_valid()
    assert len(device._client_contexts) == 1  # only the renewed certificate's context remains
