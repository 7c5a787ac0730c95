"""Who may call an IoT Central application: API tokens and bearer tokens.

The real application accepts two ``Authorization`` forms (IoT Central REST API 2022-07-31):

* **API tokens** — ``SharedAccessSignature sr=<appId>&sig=<signature>&skn=<token id>&se=<expiry ms>``,
  created in the application (``skn`` is the token's name, e.g. ``operator-token``; ``se`` is the expiry in
  *milliseconds* since the epoch). How the real service computes ``sig`` is not documented, so the fake
  defines it: base64 of HMAC-SHA256 over ``"{sr}\\n{skn}\\n{se}"`` under a secret
  key that belongs to the application. The fake checks the signature, the expiry on the world's clock, and
  that ``sr`` names *this* application — a token of app A is refused by app B.
* **Bearer tokens** — in Azure an Azure AD access token for ``https://apps.azureiotcentral.com``. Offline
  there is no Azure AD, so the fake issues opaque random tokens, bound to one application, with an expiry.

**API token records.** Every API token the application has is a record (``GET /apiTokens``): its ID (``skn``),
its role assignments (``[{"role": <role ID>, "organization"?: <organization ID>}]``) and its expiry. A token is
accepted only while its record exists: ``DELETE /apiTokens/{id}`` makes every token string issued under that ID
fail at once, and re-creating the ID later does not revive them (each record signs with its own random salt).
Issuing again under an existing ID (the simulator control surface does, for a fresh ``operator-token``) keeps the
record and its salt, so earlier strings of that record stay valid until they expire. What a token may do follows
its roles (:mod:`simulator.central.permissions`: API tokens only for an Administrator, …).

The CLI's docstrings spell the scheme ``SharedAccessToken``; that alias is refused unless
``central.accept_shared_access_token_alias`` is set. Every refusal is a 401 ``Unauthorized``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from simulator.central.devices import wire_time
from simulator.central.errors import CentralError
from simulator.clock import Clock
from simulator.entropy import Entropy

SAS_SCHEME = "SharedAccessSignature"
SAS_ALIAS = "SharedAccessToken"
BEARER_SCHEME = "Bearer"
_SAS_FIELDS = ("sr", "sig", "skn", "se")


@dataclass(frozen=True)
class Principal:
    """Who a request was authenticated as: the token kind, its name (``skn``) or a bearer handle, and the role IDs
    it holds (an API token's role assignments; a bearer token stands for the application's own user, an
    Administrator). What the roles allow is :mod:`simulator.central.permissions`."""

    kind: str  # "api-token" | "bearer"
    name: str
    roles: tuple[str, ...] = ()


@dataclass
class _BearerGrant:
    expires: datetime


#: IoT Central's built-in roles (the role IDs are the same in every application)
ROLES: dict[str, str] = {
    "ca310b8d-2f4a-44e0-a36e-957c202cd8d4": "Administrator",
    "344138e9-8de4-4497-8c54-5237e96d6aaf": "Builder",
    "ae2c9854-393b-4f97-8c42-479d70ce626e": "Operator",
    "c495eb57-eb18-489e-9802-62c474e5645c": "Org Administrator",
    "b4935647-30e4-4ed3-9074-dcac66c2f8ef": "Org Operator",
    "84cc62c1-dabe-49d3-b16e-8b9c4b5bd4d9": "Org Viewer",
}
ADMINISTRATOR = "ca310b8d-2f4a-44e0-a36e-957c202cd8d4"
#: an API token's ID: "[0-9a-zA-Z-] allowed, max length limit to 40" (the Azure IoT CLI extension's help for
#: ``az iot central api-token create --token-id``, which passes the ID to the service unchanged)
TOKEN_ID_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,40}$")


@dataclass
class ApiTokenRecord:
    """One API token of the application, as ``/apiTokens`` lists it (the token string itself is never kept)."""

    id: str
    roles: list[dict[str, str]]
    expiry: datetime
    salt: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "roles": [dict(r) for r in self.roles], "expiry": wire_time(self.expiry)}


class TokenAuthority:
    """Issues and checks the tokens of one IoT Central application.

    ``app_id`` is what API tokens carry in ``sr``; ``key`` is the application's signing secret: drawn from the
    world's entropy and sealed with the world's secret (:meth:`~simulator.entropy.Entropy.seal`), so a token works
    in the world that issued it — after a restart too — and in no other world, even one with the same seed.
    """

    def __init__(
        self,
        app_id: str,
        clock: Clock,
        entropy: Entropy,
        *,
        api_token_lifetime: timedelta,
        bearer_lifetime: timedelta,
        accept_alias: bool = False,
        error_codes: Mapping[str, str] | None = None,
    ) -> None:
        self.app_id = app_id
        self.clock = clock
        self.entropy = entropy
        self.key = entropy.seal(entropy.bytes(32))  # bound to the world's secret: another world's tokens fail
        self.api_token_lifetime = api_token_lifetime
        self.bearer_lifetime = bearer_lifetime
        self.accept_alias = accept_alias
        self.error_codes = error_codes or {}
        self.records: dict[str, ApiTokenRecord] = {}
        self.records_created = 0
        self._bearers: dict[str, _BearerGrant] = {}

    # -- issuing ---------------------------------------------------------------------------------------

    def sign(self, sr: str, skn: str, se: str, salt: str = "") -> str:
        """The fake-defined API-token signature: base64(HMAC-SHA256(key, "{sr}\\n{skn}\\n{se}\\n{salt}")),
        ``salt`` being the token record's."""
        mac = hmac.new(self.key, f"{sr}\n{skn}\n{se}\n{salt}".encode(), hashlib.sha256).digest()
        return base64.b64encode(mac).decode("ascii")

    def _salt(self, token_id: str) -> str:
        """A new record's salt: derived from the key and a counter (drawing on the world's entropy here would shift
        every seeded value after the first token)."""
        self.records_created += 1
        return hmac.new(self.key, f"salt\n{token_id}\n{self.records_created}".encode(), hashlib.sha256).hexdigest()[:16]

    def _token_string(self, record: ApiTokenRecord, expires: datetime) -> str:
        se = str(int(expires.timestamp() * 1000))
        sig = self.sign(self.app_id, record.id, se, record.salt)
        return f"{SAS_SCHEME} sr={self.app_id}&sig={quote(sig, safe='')}&skn={record.id}&se={se}"

    def issue_api_token(
        self,
        token_id: str = "operator-token",
        lifetime: timedelta | None = None,
        roles: list[dict[str, str]] | None = None,
    ) -> str:
        """A complete ``Authorization`` value: ``SharedAccessSignature sr=…&sig=…&skn=…&se=…``.

        Creates the record ``token_id`` (an Administrator unless ``roles`` says otherwise) or, if it exists, issues
        another string of it and extends its expiry to this one's.
        """
        if not TOKEN_ID_PATTERN.match(token_id or ""):
            raise ValueError(f"not a usable API token id: {token_id!r}")
        expires = self.clock.now() + (lifetime if lifetime is not None else self.api_token_lifetime)
        record = self.records.get(token_id)
        if record is None:
            record = ApiTokenRecord(token_id, roles or [{"role": ADMINISTRATOR}], expires, self._salt(token_id))
            self.records[token_id] = record
        else:
            record.expiry = max(record.expiry, expires)
            if roles is not None:
                record.roles = roles
        return self._token_string(record, expires)

    def create_api_token(
        self, token_id: str, roles: list[dict[str, str]], expiry: datetime
    ) -> tuple[ApiTokenRecord, str]:
        """``PUT /apiTokens/{id}``: a new record (replacing one of that ID, whose strings then stop working)."""
        record = ApiTokenRecord(token_id, roles, expiry, self._salt(token_id))
        self.records[token_id] = record
        return record, self._token_string(record, expiry)

    def revoke_api_token(self, token_id: str) -> None:
        """Refuse every token issued under ``token_id`` from now on (deleting the token in the app)."""
        self.records.pop(token_id, None)

    def issue_bearer_token(self, lifetime: timedelta | None = None) -> str:
        """A complete ``Authorization`` value ``Bearer <opaque>``, valid for this application only."""
        token = self.entropy.seal(self.entropy.bytes(32)).hex()
        expires = self.clock.now() + (lifetime if lifetime is not None else self.bearer_lifetime)
        self._bearers[token] = _BearerGrant(expires)
        return f"{BEARER_SCHEME} {token}"

    # -- checking --------------------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Principal:
        """Check an ``Authorization`` header value; return who it is or raise a 401 :class:`CentralError`."""
        if authorization is None or not authorization.strip():
            raise self._refuse("the request has no Authorization header")
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme == SAS_ALIAS and not self.accept_alias:
            raise self._refuse(
                f"the authorization scheme {SAS_ALIAS!r} is not supported; use '{SAS_SCHEME} sr=…&sig=…&skn=…&se=…'"
            )
        if scheme in (SAS_SCHEME, SAS_ALIAS):
            return self._check_sas(credential)
        if scheme.lower() == BEARER_SCHEME.lower():
            return self._check_bearer(credential)
        raise self._refuse(f"unsupported authorization scheme {scheme!r}")

    def _check_sas(self, credential: str) -> Principal:
        fields: dict[str, str] = {}
        for part in credential.split("&"):
            name, sep, value = part.partition("=")
            if not sep or name not in _SAS_FIELDS or name in fields or not value:
                raise self._refuse("the API token is malformed (expected sr=…&sig=…&skn=…&se=…)")
            fields[name] = unquote(value)
        if set(fields) != set(_SAS_FIELDS):
            missing = ", ".join(f for f in _SAS_FIELDS if f not in fields)
            raise self._refuse(f"the API token is malformed (missing {missing})")
        if not fields["se"].isdigit():
            raise self._refuse("the API token's expiry 'se' is not a number of milliseconds")
        record = self.records.get(fields["skn"])
        expected = self.sign(fields["sr"], fields["skn"], fields["se"], record.salt if record else "")
        if not hmac.compare_digest(expected.encode(), fields["sig"].encode()):
            if fields["sr"] == self.app_id and record is None:
                raise self._refuse(f"the API token {fields['skn']!r} does not exist (or has been removed)")
            if fields["sr"] != self.app_id:
                raise self._refuse("the API token was not issued for this application")
            raise self._refuse("the API token's signature is not valid")
        if fields["sr"] != self.app_id:  # pragma: no cover - a valid signature binds sr to this app
            raise self._refuse("the API token was not issued for this application")
        now_ms = int(self.clock.now().timestamp() * 1000)
        if int(fields["se"]) <= now_ms:
            raise self._refuse("the API token has expired")
        return Principal("api-token", fields["skn"], tuple(role["role"] for role in record.roles) if record else ())

    def _check_bearer(self, credential: str) -> Principal:
        if not credential or " " in credential:
            raise self._refuse("the bearer token is malformed")
        grant = self._bearers.get(credential)
        if grant is None:
            raise self._refuse("the bearer token is not valid for this application")
        if grant.expires <= self.clock.now():
            raise self._refuse("the bearer token has expired")
        return Principal("bearer", credential[:8], (ADMINISTRATOR,))

    def _refuse(self, message: str) -> CentralError:
        return CentralError.of("unauthorized", message, self.error_codes)
