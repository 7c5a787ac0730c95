"""The served world (simulator.server + simulator.tls): real sockets on loopback, TLS verified with the local CA.

Every test starts its own world on free ports (``port=0``, ``mqtt_port=0``) and stops it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

pytest.importorskip("simulator.sphere.model", reason="the Sphere model (simulator/sphere/model.py) has not landed")

from simulator.cloud import FakeCloud
from simulator.server import ServedCloud, ServeError, serve_cloud
from simulator.tls import CA_COMMON_NAME, local_tls

pytestmark = pytest.mark.served

ENDPOINT_KEYS = {
    "ca_bundle": None,
    "sphere": {
        "legacy_url",
        "arm_url",
        "token",
        "arm_token",
        "tenant_id",
        "subscription_id",
        "resource_group",
        "catalog",
        "user",
    },
    "central": {"url", "subdomain", "api_token", "id_scope", "portal_url"},  # portal_url: the sign-in link (training)
    "dps": {"host", "mqtt_port", "https_url", "id_scope"},
    "control_url": None,
    "pid": None,
    "state_dir": None,
}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedCloud]:
    with serve_cloud(FakeCloud(seed=21), mqtt_port=0, workdir=tmp_path / "tls") as world:
        yield world


def client(world: ServedCloud) -> httpx.Client:
    """An httpx client trusting only the world's CA — what any tool given the endpoints file would do."""
    return httpx.Client(verify=ssl.create_default_context(cafile=world.ca_bundle), timeout=10)


def https_ports(world: ServedCloud) -> list[int]:
    return [world.port_of(service) for service in ("sphere", "central", "dps")]


def refuses_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except OSError:
        return True


def test_endpoints_have_exactly_the_agreed_keys_and_working_values(served: ServedCloud) -> None:
    endpoints = served.endpoints
    assert set(endpoints) == set(ENDPOINT_KEYS)
    for section, keys in ENDPOINT_KEYS.items():
        if keys is not None:
            assert set(endpoints[section]) == keys, section
    assert Path(endpoints["ca_bundle"]).is_absolute() and Path(endpoints["ca_bundle"]).is_file()
    sphere_port, central_port, dps_port = https_ports(served)
    assert len({sphere_port, central_port, dps_port, served.mqtt_port}) == 4
    assert endpoints["sphere"]["legacy_url"] == f"https://127.0.0.1:{sphere_port}/v2"
    assert endpoints["sphere"]["arm_url"] == f"https://127.0.0.1:{sphere_port}"
    assert endpoints["central"]["url"] == f"https://127.0.0.1:{central_port}"
    assert endpoints["dps"] == {
        "host": "127.0.0.1",
        "mqtt_port": served.mqtt_port,
        "https_url": f"https://127.0.0.1:{dps_port}",
        "id_scope": endpoints["central"]["id_scope"],
    }
    assert endpoints["control_url"] == f"https://127.0.0.1:{sphere_port}/_sim"
    cloud = served.cloud
    tenant = cloud.sphere.get_tenant(endpoints["sphere"]["tenant_id"])
    assert (tenant.subscription_id, tenant.resource_group, tenant.catalog) == (
        endpoints["sphere"]["subscription_id"],
        endpoints["sphere"]["resource_group"],
        endpoints["sphere"]["catalog"],
    )
    assert cloud.central.default_app.subdomain == endpoints["central"]["subdomain"]


def test_every_https_port_is_tls_verified_by_the_local_ca_and_serves_the_control_api(served: ServedCloud) -> None:
    with client(served) as http:
        for port in https_ports(served):
            for host in ("127.0.0.1", "localhost"):  # both SANs
                response = http.get(f"https://{host}:{port}/_sim/health")
                assert response.status_code == 200
                assert response.json()["tenants"] == 1
    with httpx.Client(timeout=5) as default_trust, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
        default_trust.get(served.endpoints["control_url"] + "/health")


def test_https_connections_have_nagle_off(served: ServedCloud) -> None:
    """Every accepted HTTPS connection has TCP_NODELAY: otherwise each response's second write waits for the
    client's delayed ACK and a kept-alive request costs ~40 ms instead of ~1 ms (found by the benchmarks)."""
    with client(served) as http:
        for port in https_ports(served):
            assert http.get(f"https://127.0.0.1:{port}/_sim/health").status_code == 200
        connections = [c for listener in served._listeners for c in listener.server.server_state.connections]
        assert len(connections) == len(https_ports(served))
        for protocol in connections:
            sock = protocol.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_the_local_ca_is_not_the_sphere_pki(served: ServedCloud) -> None:
    ca = x509.load_pem_x509_certificate(Path(served.ca_bundle).read_bytes())
    assert CA_COMMON_NAME in ca.subject.rfc4514_string()
    sphere_roots = {served.cloud.sphere.root.certificate.subject, served.cloud.sphere.policy.certificate.subject}
    assert ca.subject not in sphere_roots
    with socket.create_connection(("127.0.0.1", served.port_of("central"))) as raw:
        context = ssl.create_default_context(cafile=served.ca_bundle)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            leaf = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def test_iot_central_answers_with_the_endpoints_token_and_refuses_others(served: ServedCloud) -> None:
    central = served.endpoints["central"]
    url = f"{central['url']}/api/enrollmentGroups?api-version=2022-07-31"
    with client(served) as http:
        assert http.get(url, headers={"Authorization": central["api_token"]}).status_code == 200
        forged = "SharedAccessSignature sr=x&sig=y&skn=z&se=1"
        assert http.get(url, headers={"Authorization": forged}).status_code == 401


def test_mqtt_listener_speaks_tls_with_the_local_ca(served: ServedCloud) -> None:
    context = ssl.create_default_context(cafile=served.ca_bundle)
    with (
        socket.create_connection(("127.0.0.1", served.mqtt_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_the_endpoints_file_appears_only_once_every_listener_answers(tmp_path: Path) -> None:
    target = tmp_path / "out" / "endpoints.json"
    seen: dict[str, Any] = {}
    stop_watching = threading.Event()

    def watch() -> None:
        while not stop_watching.is_set():
            if target.exists():
                endpoints = json.loads(target.read_text())
                context = ssl.create_default_context(cafile=endpoints["ca_bundle"])
                ports = [int(url.rsplit(":", 1)[1].split("/")[0]) for url in _urls(endpoints)]
                seen["answers"] = [_health(context, port) for port in ports]
                seen["mqtt"] = not refuses_connections("127.0.0.1", endpoints["dps"]["mqtt_port"])
                return
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        world = serve_cloud(FakeCloud(seed=3), mqtt_port=0, workdir=tmp_path / "tls", endpoints_file=target)
    except BaseException:
        stop_watching.set()
        raise
    finally:
        watcher.join(10)
    try:
        assert seen == {"answers": [200, 200, 200], "mqtt": True}
        assert json.loads(target.read_text()) == world.endpoints
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o600  # it carries bearer tokens
        assert [p.name for p in target.parent.iterdir()] == ["endpoints.json"]  # no temp file left behind
    finally:
        world.stop()
    assert not target.exists()


def _urls(endpoints: dict[str, Any]) -> list[str]:
    return [endpoints["sphere"]["arm_url"], endpoints["central"]["url"], endpoints["dps"]["https_url"]]


def _health(context: ssl.SSLContext, port: int) -> int:
    with httpx.Client(verify=context, timeout=5) as http:
        return http.get(f"https://127.0.0.1:{port}/_sim/health").status_code


def test_two_worlds_at_once_are_separate(tmp_path: Path) -> None:
    with (
        serve_cloud(FakeCloud(seed=1), mqtt_port=0, workdir=tmp_path) as first,
        serve_cloud(FakeCloud(seed=2), mqtt_port=0, workdir=tmp_path) as second,
    ):
        assert not set(https_ports(first)) & set(https_ports(second))
        assert first.ca_bundle == second.ca_bundle  # one local CA per directory
        with client(first) as http:
            http.post(first.endpoints["control_url"] + "/tenants", json={"name": "Only-in-first"})
            assert http.get(first.endpoints["control_url"] + "/health").json()["tenants"] == 2
            assert http.get(second.endpoints["control_url"] + "/health").json()["tenants"] == 1


def test_stop_closes_every_port_and_ends_every_thread(tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    cloud = FakeCloud(seed=4)
    for _ in range(2):  # usable many times in one process, with the same world
        world = serve_cloud(cloud, mqtt_port=0, workdir=tmp_path)
        ports = [*https_ports(world), world.mqtt_port]
        world.stop()
        world.stop()  # idempotent
        assert all(refuses_connections("127.0.0.1", port) for port in ports)
        assert set(threading.enumerate()) <= threads_before
    assert len(cloud.sphere.tenants) == 1  # the defaults were reused, not duplicated


def test_a_taken_port_is_a_clear_error_and_leaves_nothing_listening(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        threads_before = set(threading.enumerate())
        with pytest.raises(ServeError, match=f"127.0.0.1:{taken}"):
            serve_cloud(FakeCloud(seed=5), port=taken, mqtt_port=None, workdir=tmp_path)
        assert set(threading.enumerate()) <= threads_before
    with pytest.raises(ValueError):
        serve_cloud(FakeCloud(seed=5), port=65535, workdir=tmp_path)


def test_without_mqtt_the_endpoints_say_so(tmp_path: Path) -> None:
    with serve_cloud(FakeCloud(seed=6), mqtt_port=None, workdir=tmp_path) as world:
        assert world.endpoints["dps"]["mqtt_port"] is None
        assert world.urls["mqtt"] is None


def test_reset_keeps_the_advertised_ids_and_rewrites_the_tokens(tmp_path: Path) -> None:
    target = tmp_path / "endpoints.json"
    with serve_cloud(FakeCloud(), mqtt_port=None, workdir=tmp_path, endpoints_file=target) as world:
        before = json.loads(target.read_text())
        with client(world) as http:
            http.post(before["control_url"] + "/apps", json={"subdomain": "extra"})
            answer = http.post(before["control_url"] + "/reset").json()
            after = json.loads(target.read_text())
            assert answer["endpoints"] == after == world.endpoints
            for section, key in (("sphere", "tenant_id"), ("sphere", "catalog"), ("central", "subdomain")):
                assert after[section][key] == before[section][key]
            assert after["central"]["api_token"] != before["central"]["api_token"]
            url = f"{after['central']['url']}/api/enrollmentGroups?api-version=2022-07-31"
            assert http.get(url, headers={"Authorization": after["central"]["api_token"]}).status_code == 200
            assert http.get(url, headers={"Authorization": before["central"]["api_token"]}).status_code == 401
            assert sorted(world.cloud.central.apps) == [after["central"]["subdomain"]]


def test_in_process_and_served_share_one_world(served: ServedCloud) -> None:
    with client(served) as http:
        http.post(served.endpoints["control_url"] + "/clock", json={"advance": "30d"})
        with served.cloud.mock():
            moved = httpx.get("https://sim.sphere-harness.local/_sim/clock").json()
            httpx.post("https://sim.sphere-harness.local/_sim/apps", json={"subdomain": "shared"})
        assert moved["offset_s"] >= 30 * 86400 - 60
        assert http.get(served.endpoints["control_url"] + "/health").json()["apps"] == 2


def test_log_requests_logs_method_path_status_and_time(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="simulator.server")
    world = serve_cloud(FakeCloud(seed=8), mqtt_port=None, workdir=tmp_path, log_requests=True)
    with world, client(world) as http:
        http.get(world.endpoints["central"]["url"] + "/_sim/nowhere")
    lines = [r.getMessage() for r in caplog.records if r.name == "simulator.server"]
    assert any(line.startswith("central GET /_sim/nowhere -> 404 (") and line.endswith(" ms)") for line in lines)


def test_local_tls_is_cached_per_directory_and_grows_its_names(tmp_path: Path) -> None:
    first = local_tls(tmp_path)
    assert local_tls(tmp_path) is first
    ca_before = first.ca_pem.read_bytes()
    wider = local_tls(tmp_path, names=["127.0.0.2", "world.test"])
    assert wider.covers("127.0.0.2") and wider.covers("WORLD.test") and wider.covers("localhost")
    assert wider.ca_pem.read_bytes() == ca_before  # clients that trust the CA keep trusting it
    assert stat.S_IMODE(os.stat(wider.server_key_pem).st_mode) == 0o600
