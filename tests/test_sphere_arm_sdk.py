"""Acceptance 1: the unmodified ``azure-mgmt-sphere`` 1.0.0 client against the served fake over HTTPS.

The client gets a credential whose ``get_token`` returns the fake's ARM token, trusts the fake's local CA through
``connection_verify`` and polls with ``polling_interval=0``. It lists certificates, reads ``.default``, downloads
the chain, has a proof signed for a verification code, claims a device through the long-running operation, and
reads the device back.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

pytest.importorskip("azure.mgmt.sphere", reason="azure-mgmt-sphere is not installed")

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.sphere import AzureSphereMgmtClient
from azure.mgmt.sphere.models import ClaimDevicesRequest, ProofOfPossessionNonceRequest

from simulator import pki
from simulator.cloud import FakeCloud

pytestmark = pytest.mark.served

# azure-core keeps the connection of an *error* response checked out of its pool, so ``client.close()`` cannot
# close it and the server finds it still open when it stops (a ResourceWarning). Calls expected to fail therefore
# ask for ``Connection: close`` — a per-call header; the client itself is used unmodified.
CLOSE = {"headers": {"Connection": "close"}}


class FakeTokenCredential:
    """Any object with ``get_token`` will do (azure-core's ``TokenCredential`` protocol)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="module")
def served():
    cloud = FakeCloud(seed=12)
    with cloud.serve(port=0, mqtt_port=None) as served:
        yield served


@pytest.fixture
def clients():
    """Clients made by a test; closed before the server stops, so no keep-alive connection outlives it."""
    made: list[AzureSphereMgmtClient] = []
    yield made
    for client in made:
        client.close()


def client_for(served, clients: list, token: str | None = None) -> tuple[AzureSphereMgmtClient, FakeTokenCredential]:
    sphere = served.endpoints["sphere"]
    credential = FakeTokenCredential(token or sphere["arm_token"])
    client = AzureSphereMgmtClient(
        credential,
        sphere["subscription_id"],
        base_url=sphere["arm_url"],
        connection_verify=served.ca_bundle,
        polling_interval=0,
    )
    clients.append(client)
    return client, credential


def test_trust_workflow_and_claim_with_the_unmodified_client(served, clients) -> None:
    sphere = served.endpoints["sphere"]
    rg, catalog = sphere["resource_group"], sphere["catalog"]
    client, credential = client_for(served, clients)
    tenant = served.cloud.sphere.get_tenant(sphere["tenant_id"])
    generation = tenant.generations[0]

    certificates = list(client.certificates.list_by_catalog(rg, catalog))
    assert [c.name for c in certificates] == [generation.serial]
    assert certificates[0].properties.status == "Active"
    assert ("https://management.azure.com/.default",) in credential.scopes

    default = client.certificates.get(rg, catalog, ".default")
    assert default.name == generation.serial
    assert default.properties.thumbprint == generation.thumbprint
    ca = pki.b64_to_certificate(default.properties.certificate)
    assert ca == generation.certificate

    chain = client.certificates.retrieve_cert_chain(rg, catalog, ".default").certificate_chain
    assert ca in pki.p7b_to_chain(base64.b64decode(chain))

    code = "75B86466DA34D2B04C0C4C9557A119687ADAE7D4732BDDB3"
    response = client.certificates.retrieve_proof_of_possession_nonce(
        rg, catalog, ".default", ProofOfPossessionNonceRequest(proof_of_possession_nonce=code)
    )
    proof = pki.b64_to_certificate(response.certificate)
    assert pki.get_common_name(proof.subject) == code
    assert pki.is_signed_by(proof, ca.public_key())  # verifies under the .default certificate's public key

    with served.cloud.lock:
        device = served.cloud.sphere.create_device()
    poller = client.device_groups.begin_claim_devices(
        rg, catalog, ".default", ".default", ClaimDevicesRequest(device_identifiers=[device.id])
    )
    assert poller.result() is None
    assert served.cloud.sphere.get_device(device.id).tenant_id == tenant.id
    listed = [d.name for d in client.catalogs.list_devices(rg, catalog)]
    assert device.id in listed
    fetched = client.devices.get(rg, catalog, ".default", ".default", device.id)
    assert fetched.properties.device_id == device.id

    with pytest.raises(ResourceExistsError):  # claiming twice: 409 Conflict (``sphere.claim_conflict_mode``)
        client.device_groups.begin_claim_devices(
            rg, catalog, ".default", ".default", ClaimDevicesRequest(device_identifiers=[device.id]), **CLOSE
        ).result()


def test_sdk_sees_the_fakes_refusals(served, clients) -> None:
    sphere = served.endpoints["sphere"]
    rg, catalog = sphere["resource_group"], sphere["catalog"]
    client, _ = client_for(served, clients)
    with pytest.raises(ResourceNotFoundError):
        client.certificates.get(rg, catalog, "ABCDEF0123", **CLOSE)
    with pytest.raises(ResourceNotFoundError):
        client.catalogs.get(rg, "no-such-catalog", **CLOSE)
    stranger, _ = client_for(served, clients, token="forged-token")
    with pytest.raises(ClientAuthenticationError):
        stranger.certificates.get(rg, catalog, ".default", **CLOSE)
