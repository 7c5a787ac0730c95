"""httpx clients of the real wire contracts: Sphere legacy v2, Sphere ARM 2024-04-01, IoT Central 2022-07-31.

They work unchanged against Azure (the default base URLs are the real hosts), against the in-process fake
(respx routes those hosts) and against the served fake (``base_url=`` its loopback URL, ``verify=`` its CA).
"""

from harness.clients.auth import (
    ARM_SCOPE,
    CENTRAL_SCOPE,
    SPHERE_APP_SCOPE,
    SPHERE_USER_SCOPE,
    AuthProvider,
    CredentialToken,
    StaticToken,
    auth_from,
)
from harness.clients.base import RetryPolicy, WireClient, parse_retry_after
from harness.clients.central import CentralClient, certificate_string
from harness.clients.control import ControlClient
from harness.clients.errors import (
    ArmError,
    CentralApiError,
    ControlError,
    HarnessClientError,
    OperationFailed,
    ServiceError,
    SphereLegacyError,
    TransportFailure,
    UnexpectedResponse,
)
from harness.clients.sphere_arm import SphereArmClient
from harness.clients.sphere_legacy import SphereLegacyClient

__all__ = [
    "ARM_SCOPE",
    "CENTRAL_SCOPE",
    "SPHERE_APP_SCOPE",
    "SPHERE_USER_SCOPE",
    "ArmError",
    "AuthProvider",
    "CentralApiError",
    "CentralClient",
    "ControlClient",
    "ControlError",
    "CredentialToken",
    "HarnessClientError",
    "OperationFailed",
    "RetryPolicy",
    "ServiceError",
    "SphereArmClient",
    "SphereLegacyClient",
    "SphereLegacyError",
    "StaticToken",
    "TransportFailure",
    "UnexpectedResponse",
    "WireClient",
    "auth_from",
    "certificate_string",
    "parse_retry_after",
]
