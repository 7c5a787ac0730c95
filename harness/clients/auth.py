"""The ``Authorization`` header of each service, from a fixed token or an ``azure-identity`` credential.

Which token each service wants (each service's public REST reference):

=========================  ===========================================================  ===========================
service                    scope asked of Azure AD                                       header
=========================  ===========================================================  ===========================
Sphere legacy v2 (user)    ``https://sphere.azure.net/api/user_impersonation``           ``Bearer <token>``
Sphere legacy v2 (app)     ``https://firstparty.sphere.azure.net/api/.default``          ``Bearer <token>``
Sphere ARM                 ``https://management.azure.com/.default``                     ``Bearer <token>``
IoT Central                ``https://apps.azureiotcentral.com/.default``, or an API      ``Bearer <token>`` or
                           token made in the app                                         ``SharedAccessSignature …``
=========================  ===========================================================  ===========================

A :class:`StaticToken` sends what it was
given — the fakes issue such tokens, and IoT Central API tokens are used verbatim. A :class:`CredentialToken`
asks any ``azure-identity`` credential (``DefaultAzureCredential()``, ``AzureCliCredential()`` …) for a token for
the scope and reuses it until five minutes before it expires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

SPHERE_USER_SCOPE = "https://sphere.azure.net/api/user_impersonation"
SPHERE_APP_SCOPE = "https://firstparty.sphere.azure.net/api/.default"
ARM_SCOPE = "https://management.azure.com/.default"
CENTRAL_SCOPE = "https://apps.azureiotcentral.com/.default"

REFRESH_MARGIN_S = 300


class AuthProvider(Protocol):
    """Anything that gives the value of the ``Authorization`` header for the next request."""

    def header(self) -> str: ...


class StaticToken:
    """A token used as it is. A bare token gets the ``Bearer`` scheme; ``SharedAccessSignature …`` (an IoT
    Central API token) or any value that already names its scheme is sent verbatim."""

    def __init__(self, token: str) -> None:
        token = token.strip()
        if not token:
            raise ValueError("an empty token cannot authenticate anything")
        self.token = token

    def header(self) -> str:
        scheme, _, rest = self.token.partition(" ")
        if rest and scheme in ("Bearer", "SharedAccessSignature", "SharedAccessToken"):
            return self.token
        return f"Bearer {self.token}"

    def __repr__(self) -> str:  # never print a token
        return "StaticToken(***)"


class CredentialToken:
    """A bearer token from an ``azure.core`` ``TokenCredential`` for one scope, cached until near expiry.

    ``clock`` returns epoch seconds (injectable for tests).
    """

    def __init__(self, credential: Any, scope: str, *, clock: Callable[[], float] = time.time) -> None:
        self.credential = credential
        self.scope = scope
        self._clock = clock
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def header(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_on - REFRESH_MARGIN_S:
                access = self.credential.get_token(self.scope)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return f"Bearer {self._token}"

    def __repr__(self) -> str:
        return f"CredentialToken({type(self.credential).__name__}, scope={self.scope!r})"


def auth_from(token: str | None, *, scope: str, credential: Any = None) -> AuthProvider:
    """A fixed ``token`` when given, else ``credential`` (default: ``azure.identity.DefaultAzureCredential``)."""
    if token:
        return StaticToken(token)
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return CredentialToken(credential, scope)
