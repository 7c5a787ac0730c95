"""The MQTT listener's TLS through memory BIOs (:mod:`simulator.dps.tls_pump`) keeps the listener's guarantees.

What asyncio streams gave the listener and the pump must give too, over real sockets: a flood of clients that stall
in every phase (no TLS, TLS and no CONNECT, half a packet, garbage instead of TLS) is closed by the server and the
process's descriptors, memory and connection count come back; a client that sends and never reads cannot make the
server buffer without bound (the server stops reading it); stopping the listener ends every connection, whatever
phase it is in.
"""

from __future__ import annotations

import gc
import socket
import ssl
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from test_served_listeners import SHORT, closed_by_server, eventually, memory_held_after, tls_client

from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.device import DPS_API_VERSION
from simulator.dps import mqtt_codec as codec
from simulator.dps.mqtt import MqttServer
from simulator.dps.tls_pump import READ_LIMIT

pytestmark = pytest.mark.served


@pytest.fixture
def served() -> Iterator[Any]:
    with FakeCloud(seed=8, clock=Clock(frozen=True)).serve(mqtt_port=0, limits=SHORT) as world:
        yield world


def mqtt_server(served: Any) -> MqttServer:
    return served._mqtt


def flood(served: Any, count: int) -> None:
    port = served.mqtt_port
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    garbage = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"\x16\x03\x01\x00\x05hello, not TLS" * 4)
        garbage.append(sock)
    no_connect = [tls_client(served, port) for _ in range(count)]
    trickle = []
    for _ in range(count // 2):
        sock = tls_client(served, port)
        sock.sendall(b"\x10\x7f")  # a CONNECT that promises 127 bytes and sends none
        trickle.append(sock)
    for sock in silent + garbage + no_connect + trickle:
        assert closed_by_server(sock)
        sock.close()


def test_resources_return_after_a_flood_of_stalled_mqtt_clients(served: Any) -> None:
    flood(served, 4)  # warm-up: caches, code paths
    eventually(lambda: not mqtt_server(served)._tasks, "the warm-up connections are released")
    grown = memory_held_after(lambda: flood(served, 30), lambda: not mqtt_server(served)._tasks)
    assert grown < 512 * 1024, f"{grown} bytes still held after 105 stalled MQTT clients were closed"


def connected_device(served: Any) -> ssl.SSLSocket:
    """A TLS client past CONNECT: an unknown device under DPS with ``res401``, so the connection is accepted."""
    sock = tls_client(served, served.mqtt_port)
    username = f"{served.endpoints['dps']['id_scope']}/registrations/dev-1/api-version={DPS_API_VERSION}"
    sock.sendall(codec.encode(codec.Connect(client_id="dev-1", username=username, keepalive=60)))
    return sock


@pytest.mark.parametrize("memory_bio", [True, False])
def test_a_client_that_never_reads_cannot_grow_the_server(memory_bio: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MqttServer, "memory_bio_tls", memory_bio)
    with FakeCloud(seed=8, clock=Clock(frozen=True)).serve(mqtt_port=0, limits=SHORT) as served:
        with served.cloud.lock:
            served.cloud.settings.dps.auth_failure_mode = "res401"  # CONNACK 0 without a certificate chain
        sock = connected_device(served)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            pings = codec.encode(codec.Pingreq()) * 32768  # 64 KiB of PINGREQ, each answered with a PINGRESP
            sock.settimeout(3)
            sent = 0
            try:
                while sent < 64 * 1024 * 1024:
                    sock.sendall(pings)
                    sent += len(pings)
            except TimeoutError:
                pass  # the server stopped reading: what this test wants to see
            assert sent < 64 * 1024 * 1024, "the server read 64 MiB of pings it could not answer"
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
            sock.close()
        # one 64 KiB read is 32,768 PINGREQ objects before the first PINGRESP goes out (~8 MB at the peak, with
        # either TLS path): bounded by the read size, not by what the client sends
        assert peak < 256 * READ_LIMIT, f"the server buffered {peak} bytes for a client that never reads"
        eventually(lambda: not mqtt_server(served)._tasks, "the connection is released")


def test_stopping_the_listener_ends_connections_in_every_phase() -> None:
    with FakeCloud(seed=8, clock=Clock(frozen=True)).serve(mqtt_port=0) as served:
        with served.cloud.lock:
            served.cloud.settings.dps.auth_failure_mode = "res401"
        port = served.mqtt_port
        silent = socket.create_connection(("127.0.0.1", port))
        half_hello = socket.create_connection(("127.0.0.1", port))
        half_hello.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello
        no_connect = tls_client(served, port)
        session = connected_device(served)
        eventually(lambda: len(mqtt_server(served)._tasks) == 4, "the listener holds the four connections")
    for sock in (silent, half_hello, no_connect, session):
        assert closed_by_server(sock)
        sock.close()
