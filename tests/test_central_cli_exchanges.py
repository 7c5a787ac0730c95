"""What the Azure IoT CLI extension's ``az iot central`` sends, replayed with ``requests`` against a served world.

``az iot central`` builds ``https://{--app-id}.{--central-dns-suffix}/api/...`` and sends the ``--token`` value
verbatim as ``Authorization``, a ``User-Agent`` and an ``x-ms-client-request-id``, with ``api-version=2022-07-31``
(central-api.md §9). The README shows the trick that points it at a served world without a hosts file —
``--app-id 127.0.0 --central-dns-suffix 1:<port>`` makes the host ``127.0.0.1:<port>``, the world's default app —
with ``REQUESTS_CA_BUNDLE`` set to the world's CA. These tests send exactly those requests (azure-cli itself is not
installed in CI) for the two commands that used to fail, ``device attestation show`` and
``device list-components``, and for ``device create``, which they follow in practice. The CLI reads an answer as a
failure only when its JSON has an ``error`` member (§9.4), so each success must be JSON without one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulator.cloud import FakeCloud

pytestmark = pytest.mark.served
THERMOSTAT = "dtmi:contoso:thermostat;1"


@pytest.fixture(scope="module")
def cli() -> Iterator[Any]:
    cloud = FakeCloud(seed=9)
    with cloud.serve(mqtt_port=None) as served:
        endpoints = served.endpoints
        port = endpoints["central"]["url"].rsplit(":", 1)[1]
        app_id, suffix = "127.0.0", f"1:{port}"  # the README's --app-id / --central-dns-suffix

        def call(method: str, path: str, body: Any = None) -> requests.Response:
            headers = {
                "Authorization": endpoints["central"]["api_token"],
                "User-Agent": "AZURECLI/2.67.0 (PIP) azsdk-python-core/1.31.0 azext_iot/0.25.0",
                "x-ms-client-request-id": str(uuid.uuid1()),
            }
            if body is not None:
                headers["Content-Type"] = "application/json"
            return requests.request(
                method,
                f"https://{app_id}.{suffix}/api/{path}",
                params={"api-version": "2022-07-31"},
                headers=headers,
                json=body,
                verify=endpoints["ca_bundle"],
                timeout=10,
            )

        call.cloud = cloud  # type: ignore[attr-defined]
        yield call


def cli_result(response: requests.Response) -> Any:
    """``try_extract_result``: 201/204 are success unread; otherwise JSON, and an ``error`` member is a failure."""
    if response.status_code in (201, 204):
        return {"result": "success"}
    body = response.json()
    assert "error" not in body, body
    return body


def test_device_create_then_attestation_show(cli: Any) -> None:
    created = cli_result(
        cli("PUT", "devices/cli-device", {"displayName": "cli-device", "simulated": False, "enabled": True})
    )
    assert created["id"] == "cli-device"
    attestation = cli_result(cli("GET", "devices/cli-device/attestation"))
    assert attestation["type"] == "symmetricKey" and set(attestation["symmetricKey"]) == {"primaryKey", "secondaryKey"}


def test_device_list_components(cli: Any) -> None:
    with cli.cloud.lock:
        cli.cloud.central.default_app.put_template(
            THERMOSTAT,
            {
                "@type": ["ModelDefinition", "DeviceModel"],
                "capabilityModel": {
                    "contents": [{"@type": "Component", "name": "thermostat1", "schema": "dtmi:x:t;1"}]
                },
            },
        )
    cli_result(
        cli(
            "PUT",
            "devices/thermo",
            {"displayName": "thermo", "simulated": False, "enabled": True, "template": THERMOSTAT},
        )
    )
    components = cli_result(cli("GET", "devices/thermo/components"))
    assert components == {"value": [{"@type": "Component", "name": "thermostat1", "schema": "dtmi:x:t;1"}]}
    assert cli_result(cli("GET", "devices/cli-device/components")) == {"value": []}  # no template, no components


def test_a_refusal_reads_as_a_cli_error(cli: Any) -> None:
    response = cli("GET", "devices/nobody/attestation")
    assert response.status_code == 404 and response.json()["error"]["code"] == "NotFound"
