"""What the Azure IoT CLI extension's ``az iot central`` sends, replayed with ``requests`` against a served world.

``az iot central`` builds ``https://{--app-id}.{--central-dns-suffix}/api/...`` and sends the ``--token`` value
verbatim as ``Authorization``, a ``User-Agent`` and an ``x-ms-client-request-id``, with ``api-version=2022-07-31``.
The README shows the trick that points it at a served world without a hosts file —
``--app-id 127.0.0 --central-dns-suffix 1:<port>`` makes the host ``127.0.0.1:<port>``, the world's default app —
with ``REQUESTS_CA_BUNDLE`` set to the world's CA. These tests send exactly those requests (azure-cli itself is not
installed in CI) for the two commands that used to fail, ``device attestation show`` and
``device list-components``, for ``device create``, which they follow in practice, and for ``enrollment-group list``.
The CLI reads an answer as a failure only when its JSON has an ``error`` member, so each success must be JSON
without one.

``device attestation show``: the extension's ``azext_iot/central/services/device.py`` (``get_device_attestation``)
sends ``DELETE …/attestation`` — a bug of the extension. The fake answers what Azure answers to that request: 204,
which the CLI prints as ``{"result": "success"}``, and the attestation is gone. The README warns about it.
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
        call.token = endpoints["central"]["api_token"]  # type: ignore[attr-defined]
        call.ca_bundle = endpoints["ca_bundle"]  # type: ignore[attr-defined]
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


def test_attestation_show_as_the_extension_sends_it_removes_the_attestation(cli: Any) -> None:
    cli_result(cli("PUT", "devices/shown", {"displayName": "shown", "simulated": False, "enabled": True}))
    assert cli_result(cli("GET", "devices/shown/attestation"))["type"] == "symmetricKey"
    assert cli_result(cli("DELETE", "devices/shown/attestation")) == {"result": "success"}  # what 'show' sends
    gone = cli("GET", "devices/shown/attestation")
    assert gone.status_code == 404 and "error" in gone.json()


def test_enrollment_group_list_follows_next_link_with_the_parameters_again(cli: Any) -> None:
    """``list`` re-sends ``params`` on every page, so a ``nextLink`` carrying ``api-version`` arrives with it twice;
    the fake takes the repeated identical value and the CLI reads every page."""
    with cli.cloud.lock:
        app = cli.cloud.central.default_app
        size = cli.cloud.settings.central.page_size
        for number in range(size + 1):
            app.put_group(f"listed-{number}", {"displayName": "g", "type": "iot", "attestation": {"type": "x509"}})
    first = cli_result(cli("GET", "enrollmentGroups"))
    assert "nextLink" in first and "api-version=" in first["nextLink"]
    following = requests.get(
        first["nextLink"],
        params={"api-version": "2022-07-31"},
        headers={"Authorization": cli.token},
        verify=cli.ca_bundle,
        timeout=10,
    )
    assert following.request.url.count("api-version=") == 2
    ids = [g["id"] for g in first["value"]] + [g["id"] for g in cli_result(following)["value"]]
    assert {f"listed-{number}" for number in range(size + 1)} <= set(ids)


def test_a_refusal_reads_as_a_cli_error(cli: Any) -> None:
    response = cli("GET", "devices/nobody/attestation")
    assert response.status_code == 404 and response.json()["error"]["code"] == "NotFound"
