"""Property-based API tests: schemathesis drives every implemented operation of the three published documents
against a served world.

For each operation schemathesis generates requests from the document (path, query, body) and sends them over
HTTPS to a served world. Every other example keeps what it generated; the rest aim at things that exist —
the world's catalog, a device, a group, a template — so the operation's success path is reached too (the
documents carry no OpenAPI links, so there are no stateful sequences to follow; ``as_state_machine`` has nothing
to chain). DPS requests present a claimed device's TLS client certificate, its tenant CA verified in an enrollment
group, so registrations can succeed. Every answer must then hold:

* **no server error** — nothing the client sends may make a fake answer 5xx;
* **no schema violation** — checked by the contract layer around every adapter (``tests/contracts/layer.py``),
  which fails the test on any answer the document does not allow, including every rejection: a 4xx must be the
  operation's ``default`` error shape.

The ``api-version`` is pinned to the document's (the fakes refuse others, and a test of that refusal alone would
reach nothing else). Sizes: ``CONTRACT_FUZZ_EXAMPLES`` examples per operation (default 6, the CI size; raise it
locally for a deeper run). ``CONTRACT_FUZZ_LOG=FILE`` appends every *accepted* example (a 2xx answer) to FILE as a
JSON line — what to read when looking for inputs the fakes take but Azure would refuse. The Sphere legacy API has
no published document and is not fuzzed here.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from contracts.coverage import bundled, implemented_operations
from hypothesis import HealthCheck, Phase, given, settings
from test_dps_model import enroll_certificate

from simulator.cloud import FakeCloud

EXAMPLES = int(os.environ.get("CONTRACT_FUZZ_EXAMPLES", "6"))
ACCEPTED_LOG = os.environ.get("CONTRACT_FUZZ_LOG")
#: operation → the statuses its examples got (read by the last test: the success paths were reached)
STATUSES: dict[str, set[int]] = {}
THERMOSTAT = "dtmi:contoso:thermostat;1"

pytestmark = pytest.mark.served


class World:
    """A served world with one of everything the documents' path parameters can name."""

    def __init__(self) -> None:
        self.cloud = FakeCloud(seed=1515)
        self.served = self.cloud.serve(mqtt_port=None)
        self.endpoints = self.served.endpoints
        self.session = requests.Session()
        self.session.verify = self.endpoints["ca_bundle"]
        with self.cloud.lock:
            app = self.cloud.central.default_app
            self.central_token = app.issue_api_token("fuzzer")
            tenant = self.cloud.sphere.get_tenant(self.endpoints["sphere"]["tenant_id"])
            tenant_ca = next(g for g in tenant.generations if g.status(self.cloud.clock.now()) == "Active")
            enroll_certificate(self.cloud, app, tenant_ca.certificate, tenant=tenant, group_id="sphere-devices")
        self.folder = Path(tempfile.mkdtemp(prefix="contract-fuzz-"))
        minted = self.session.post(
            self.endpoints["control_url"] + "/devices", json={"count": 1}, verify=self.endpoints["ca_bundle"]
        )
        device = minted.json()["devices"][0]
        (self.folder / "device.cert.pem").write_text(device["certificate_chain_pem"])
        (self.folder / "device.key.pem").write_text(device["key_pem"])
        self.device_id = device["id"]
        self.arrange()

    def arrange(self) -> None:
        """Make sure the named things exist (an example may have deleted them); idempotent."""
        cloud, sphere = self.cloud, self.endpoints["sphere"]
        with cloud.lock:
            app = cloud.central.default_app
            if THERMOSTAT not in app.templates:
                app.put_template(
                    THERMOSTAT,
                    {
                        "@type": ["ModelDefinition", "DeviceModel"],
                        "capabilityModel": {"contents": [{"@type": "Component", "name": "thermostat1"}]},
                    },
                )
            if "fuzz-org" not in app.organization_tree:
                app.put_organization("fuzz-org", {"displayName": "Fuzz"})
            if app.device_registry.find("fuzz-device") is None:
                app.put_device("fuzz-device", {"template": THERMOSTAT, "organizations": ["fuzz-org"]})
            if "fuzz-group" not in app.enrollment.groups:
                app.put_group("fuzz-group", {"displayName": "g", "type": "iot", "attestation": {"type": "x509"}})
            if "fuzz-dg" not in app.device_groups.groups:
                app.put_device_group("fuzz-dg", {"displayName": "dg", "filter": "SELECT * FROM devices"})
            if "fuzz-victim" not in app.tokens.records:
                app.issue_api_token("fuzz-victim")
            tenant = cloud.sphere.get_tenant(sphere["tenant_id"])
            if not any(t.catalog == "FuzzSpare" for t in cloud.sphere.tenants.values()):  # what deletes aim at
                spare = cloud.sphere.create_tenant(
                    name="FuzzSpare",
                    subscription_id=tenant.subscription_id,
                    resource_group=tenant.resource_group,
                    catalog="FuzzSpare",
                )
                cloud.sphere.create_user(sphere["user"], {spare.id: ["Administrator"]})
            cloud.sphere.put_product(tenant.id, "FuzzProduct", None)
            cloud.sphere.put_device_group(tenant.id, "FuzzProduct", "FuzzGroup")
            self.serial = tenant.generations[-1].serial

    def known(self, service: str, operation_id: str) -> dict[str, str]:
        sphere = self.endpoints["sphere"]
        if service == "central":
            return {
                "deviceId": "fuzz-device",
                "enrollmentGroupId": "fuzz-group",
                "entry": "primary",
                "deviceTemplateId": THERMOSTAT,
                "organizationId": "fuzz-org",
                "deviceGroupId": "fuzz-dg",
                "tokenId": "fuzz-victim",
                "roleId": "ae2c9854-393b-4f97-8c42-479d70ce626e",
                "componentName": "thermostat1",
            }
        if service == "sphere-arm":
            return {
                "subscriptionId": sphere["subscription_id"],
                "resourceGroupName": sphere["resource_group"],
                # deleting the world's own catalog would leave nothing for the operations after it
                "catalogName": "FuzzSpare" if operation_id == "Catalogs_Delete" else sphere["catalog"],
                "productName": "FuzzProduct",
                "deviceGroupName": "FuzzGroup",
                "serialNumber": self.serial,
            }
        return {"idScope": self.endpoints["dps"]["id_scope"], "registrationId": self.device_id}

    def base_url(self, service: str) -> str:
        if service == "central":
            return self.endpoints["central"]["url"] + "/api"
        if service == "sphere-arm":
            return self.endpoints["sphere"]["arm_url"]
        return self.endpoints["dps"]["https_url"]

    def headers(self, service: str) -> dict[str, str]:
        if service == "central":
            return {"Authorization": self.central_token}
        if service == "sphere-arm":
            return {"Authorization": f"Bearer {self.endpoints['sphere']['arm_token']}"}
        return {}

    def client_certificate(self, service: str) -> tuple[str, str] | None:
        """DPS authenticates the device by its TLS client certificate: a claimed device of the enrolled tenant."""
        if service != "dps":
            return None
        return str(self.folder / "device.cert.pem"), str(self.folder / "device.key.pem")

    def stop(self) -> None:
        self.session.close()
        self.served.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    made = World()
    try:
        yield made
    finally:
        made.stop()


SCHEMAS = {service: schemathesis.openapi.from_dict(bundled(service)) for service in ("central", "sphere-arm", "dps")}
CASES = [
    pytest.param(service, operation_id, id=f"{service}:{operation_id}")
    for service in SCHEMAS
    for operation_id in sorted(implemented_operations(service))
]


@pytest.mark.parametrize(("service", "operation_id"), CASES)
def test_every_answer_conforms_and_no_request_breaks_the_fake(world: World, service: str, operation_id: str) -> None:
    operation = SCHEMAS[service].find_operation_by_id(operation_id)
    version = SCHEMAS[service].raw_schema["info"]["version"]
    known = world.known(service, operation_id)
    server_errors: list[str] = []

    calls = itertools.count()

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure names its request as found
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    def run(case: Any) -> None:
        world.arrange()
        if next(calls) % 2 == 0:  # every other example aims at things that exist (the first one always does)
            for name in case.path_parameters or {}:
                if name in known:
                    case.path_parameters[name] = known[name]
        if case.query is not None and "api-version" in case.query:
            case.query["api-version"] = version
        response = case.call(
            base_url=world.base_url(service),
            session=world.session,
            headers=world.headers(service),
            verify=world.endpoints["ca_bundle"],
            cert=world.client_certificate(service),
        )
        STATUSES.setdefault(f"{service}:{operation_id}", set()).add(response.status_code)
        if ACCEPTED_LOG and 200 <= response.status_code < 300:
            log_accepted(service, operation_id, case, response)
        if response.status_code >= 500:
            server_errors.append(f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:200]}")

    run()
    assert not server_errors, "\n".join(server_errors)


def log_accepted(service: str, operation_id: str, case: Any, response: requests.Response) -> None:
    """One accepted example as a JSON line of ``CONTRACT_FUZZ_LOG``: the request as sent and the status."""
    line = {
        "operation": f"{service}:{operation_id}",
        "status": response.status_code,
        "method": case.method,
        "path": case.formatted_path,
        "query": case.query,
        "body": case.body if isinstance(case.body, dict | list | str | int | float | bool | None) else repr(case.body),
    }
    with open(ACCEPTED_LOG, "a", encoding="utf-8") as log:  # type: ignore[arg-type]
        log.write(json.dumps(line, default=repr) + "\n")


def test_most_operations_reached_their_success_path() -> None:
    """Runs after the fuzz tests (same module, same worker): aiming at existing things must reach 2xx answers."""
    if len(STATUSES) < len(CASES):
        pytest.skip("the fuzz tests did not all run in this session")
    succeeded = sorted(op for op, statuses in STATUSES.items() if any(200 <= s < 300 for s in statuses))
    assert len(succeeded) >= 0.6 * len(CASES), sorted(set(STATUSES) - set(succeeded))


def test_the_fuzzed_operations_are_the_implemented_ones() -> None:
    ids = {operation_id for service in SCHEMAS for operation_id in implemented_operations(service)}
    assert {
        "EnrollmentGroups_VerifyX509",
        "Devices_GetAttestation",
        "Certificates_RetrieveProofOfPossessionNonce",
    } <= ids
    assert "RuntimeRegistration_RegisterDevice" in ids


def test_a_bundled_document_needs_no_other_file() -> None:
    text = json.dumps(bundled("sphere-arm"))
    assert "common-types" not in text and '"common.ErrorResponse"' in text
