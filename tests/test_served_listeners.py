"""What a served world's listeners do with idle, stalled and too many clients (issue 16, reproductions 1 and 4).

Facts, not timings: a health request is answered while 200 idle connections are held; clients that stall in the
TLS handshake, in CONNECT or half-way through a request are closed by the server, after which its connections, file
descriptors and memory are back where they were; a listener over its connection cap refuses the surplus and says so
in its log. The timeouts are shortened for the test through :class:`simulator.listeners.ListenerLimits`; how long a
request takes while connections are held is measured in ``bench/`` (BENCHMARKS.md), never asserted here.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import ssl
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.listeners import ListenerLimits

pytestmark = pytest.mark.served

SHORT = ListenerLimits(
    max_connections=400,
    tls_handshake_timeout_s=0.5,
    header_timeout_s=0.5,
    body_timeout_s=0.5,
    mqtt_connect_timeout_s=0.5,
)


def eventually(condition: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    """Wait for ``condition`` (a fact the server must reach by itself); the limit only stops a broken test."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def memory_held_after(flood: Callable[[], None], released: Callable[[], bool]) -> int:
    """Bytes still allocated after ``flood()`` once ``released()`` holds and the process's file descriptors are back
    to where they were before it (call after a warm-up flood, so that caches are not counted)."""
    gc.collect()
    fds = open_fds()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        flood()
        eventually(released, "every stalled connection is released")
        gc.collect()
        eventually(lambda: open_fds() <= fds, "the process's file descriptors are back to where they were")
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def health(served: Any, service: str = "dps") -> int:
    url = f"https://127.0.0.1:{served.port_of(service)}/_sim/health"
    return httpx.get(url, verify=served.client_ssl_context(), timeout=30).status_code


def guard(served: Any, service: str) -> Any:
    return next(listener.guard for listener in served._listeners if listener.service == service)


@pytest.fixture
def served() -> Iterator[Any]:
    with FakeCloud(seed=8, clock=Clock(frozen=True)).serve(mqtt_port=0, limits=SHORT) as world:
        yield world


def tls_client(served: Any, port: int) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return served.client_ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")


def closed_by_server(sock: socket.socket) -> bool:
    """Read whatever the server still says (an early 401, say) until it closes the connection."""
    sock.settimeout(10)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    return True


def test_a_health_request_is_answered_while_200_idle_connections_are_held() -> None:
    limits = ListenerLimits(max_connections=400)  # the default timeouts: nothing idle is closed during the test
    with FakeCloud(seed=8, clock=Clock(frozen=True)).serve(mqtt_port=0, limits=limits) as served:
        idle = [socket.create_connection(("127.0.0.1", served.mqtt_port)) for _ in range(100)]
        idle += [socket.create_connection(("127.0.0.1", served.port_of("dps"))) for _ in range(100)]
        try:
            eventually(lambda: guard(served, "dps").connections == 100, "the DPS listener holds its 100 connections")
            assert health(served, "dps") == 200
            assert health(served, "sphere") == 200
            assert guard(served, "dps").connections == 100  # nobody was closed to make room
        finally:
            for sock in idle:
                sock.close()


def stall(served: Any, port: int, count: int) -> None:
    """``count`` clients of each kind stall on ``port``; every one must be closed by the server."""
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]  # never start TLS
    half = []
    for _ in range(count):  # TLS done, then half a request line (reproduction 4)
        client = tls_client(served, port)
        client.sendall(b"GET /api/enrollmentGroups?api-ver")
        half.append(client)
    promised = []
    for _ in range(count // 2):  # headers done, a body promised and never sent
        client = tls_client(served, port)
        client.sendall(b"PUT /api/enrollmentGroups/g HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        promised.append(client)
    for sock in silent + half + promised:
        assert closed_by_server(sock)
        sock.close()


def test_clients_stalled_in_the_handshake_or_mid_request_are_closed_and_resources_return(served: Any) -> None:
    port = served.port_of("central")
    stall(served, port, 5)  # the first connections warm up caches (TLS, code paths): the baseline comes after
    eventually(lambda: guard(served, "central").connections == 0, "the warm-up connections are released")
    grown = memory_held_after(lambda: stall(served, port, 50), lambda: guard(served, "central").connections == 0)
    assert health(served, "central") == 200
    assert grown < 512 * 1024, f"{grown} bytes still held after 125 stalled clients were closed"


def test_an_mqtt_client_that_never_sends_connect_is_closed(served: Any) -> None:
    silent_tls = [tls_client(served, served.mqtt_port) for _ in range(20)]
    no_tls = [socket.create_connection(("127.0.0.1", served.mqtt_port)) for _ in range(20)]
    trickle = tls_client(served, served.mqtt_port)
    trickle.sendall(b"\x10")  # the first byte of a CONNECT, and nothing more
    for sock in [*silent_tls, *no_tls, trickle]:
        assert closed_by_server(sock)
        sock.close()


def test_a_listener_over_its_cap_refuses_the_surplus_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    limits = ListenerLimits(max_connections=10)
    with FakeCloud(seed=8, clock=Clock(frozen=True)).serve(mqtt_port=0, limits=limits) as served:
        for port, name in ((served.port_of("sphere"), "sphere"), (served.mqtt_port, "MQTT")):
            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
            time.sleep(0.2)  # let the listener admit them
            surplus = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
            try:
                for sock in surplus:
                    assert closed_by_server(sock)
                assert any(name in r.getMessage() and "max_connections=10" in r.getMessage() for r in caplog.records)
            finally:
                for sock in held + surplus:
                    sock.close()
        eventually(lambda: guard(served, "sphere").connections == 0, "the held connections are released")
        assert health(served, "sphere") == 200
