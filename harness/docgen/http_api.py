"""``docs/http-api.md``: every route of every fake, read from the adapters' own route tables.

For each service: where it answers (in-process host and served port), how it authenticates, which api-versions it
accepts (from the settings' defaults), its error shape and codes (from its errors module), then one row per route —
method, path, the operation name fault rules and the request journal use, the request body it takes where the table
says, and the handler's own one-line description.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from harness.docgen._markdown import banner, table

ROOT = Path(__file__).resolve().parent.parent.parent


#: a control handler's docstring opens with its own method and path (````GET /_sim/health`` — …``): the row has both
_SELF_NAMED = re.compile(r"^``[A-Z|]+ /\S*``\s*—\s*")


def _summary(handler: Any, service: str = "", operation: str = "") -> str:
    """What a route does: this project's note for it (:mod:`harness.docgen.route_notes`), else the first paragraph
    of its handler's docstring."""
    from harness.docgen.route_notes import note

    written = note(service, operation)
    if written:
        return written
    doc = inspect.getdoc(handler) or ""
    return _SELF_NAMED.sub("", doc.split("\n\n")[0].replace("\n", " ")) if doc else ""


def _rows(service: str, table_rows: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, str]]:
    return [
        (method, f"`{path}`", f"`{name}`", _summary(handler, service, name))
        for method, path, name, handler in table_rows
    ]


def _routes(app: Any) -> list[Any]:
    """The Starlette routes inside an adapter chain (journal → faults → app)."""
    while not hasattr(app, "routes"):
        app = app.app
    return list(app.routes)


def _with_contract(service: str, app: Any, rows: list[tuple[str, ...]]) -> tuple[list[str], list[tuple[str, ...]]]:
    """Add the published contract's request and responses to each row (method first, operation name third),
    when the service's OpenAPI document is vendored in the repository."""
    from harness.docgen.contract_shapes import shape

    by_name: dict[tuple[str, str], Any] = {}
    for route in _routes(app):
        for method in route.methods or ():
            by_name.setdefault((route.name, method), route)
    shapes = []
    for row in rows:
        method, name = row[0].split(",")[0].strip(), row[2].strip("`")
        route = by_name.get((name, method))
        shapes.append((shape(service, route, method) if route is not None else "") or "—")
    if all(text == "—" for text in shapes):
        return [], rows
    return ["published contract: request → responses"], [(*row, text) for row, text in zip(rows, shapes, strict=True)]


def _sphere_codes() -> list[tuple[int, str]]:
    """Every (status, ARM code) the Sphere model and adapters raise, read from their source."""
    found: set[tuple[int, str]] = set()
    pattern = re.compile(r'SphereError\(\s*(\d{3}),\s*"([A-Za-z]+)"')
    for path in sorted((ROOT / "simulator" / "sphere").glob("*.py")):
        for status, code in pattern.findall(path.read_text(encoding="utf-8")):
            found.add((int(status), code))
    found |= {(404, "ResourceNotFound"), (400, "InvalidRequestContent")}  # not_found() and bad_request() helpers
    return sorted(found)


def render() -> str:
    from simulator.central import api as central_api
    from simulator.central.errors import SITUATIONS
    from simulator.cloud import FakeCloud
    from simulator.control import build_control_app
    from simulator.dps.model import DEFAULT_ERROR_CODES
    from simulator.settings import Settings
    from simulator.sphere.arm_api import API_VERSION, ArmApi
    from simulator.sphere.errors import LEGACY_ERROR_CODES
    from simulator.sphere.legacy_api import LegacyApi

    cloud = FakeCloud(seed=0)
    settings = Settings()
    out = [banner("the adapters' route tables (simulator/*/…api.py, simulator/control.py)")]
    out.append("# The fakes' HTTP API\n\n")
    out.append(
        "Every route each fake serves. In-process (`FakeCloud.mock()`), requests to the real host names reach the "
        "fakes; served (`sphere-harness serve`), each service has an HTTPS port on loopback named in the endpoints "
        "file, and every port also answers the simulator control API under `/_sim`. The *operation* column is the "
        "name fault rules match (`docs/faults.md`) and the request journal records (`GET /_sim/requests`). Where "
        "a behaviour is this project's choice rather than a documented fact, `docs/fidelity.md` names the setting "
        "that changes it.\n\n"
    )
    legacy = LegacyApi(cloud)
    out.append("## Azure Sphere security service, legacy API v2\n\n")
    out.append(
        "* **Host** `https://prod.core.sphere.azure.net` (served: the `sphere` port, paths under `/v2`).\n"
        "* **Auth** `Authorization: Bearer <token>` — a token the fake issued for a user (`POST /_sim/tenants`, "
        "`POST /_sim/tokens`); missing, unknown or expired → 401 with `WWW-Authenticate: Bearer`; a tenant the "
        f"user has no role in → {settings.sphere.foreign_tenant_status} (`sphere.foreign_tenant_status`).\n"
        "* **Versions** the path carries `v2`; no `api-version` parameter.\n"
        "* **Bodies** PascalCase JSON with integer enums and `…UTC` timestamps (seven fractional digits); "
        "certificate downloads are a JSON string of base64 (`sphere.legacy_string_body`); fixed path segments match "
        "case-insensitively; device lists page with `?maxPageSize` and the `Sphere-Continuation` header.\n"
        "* **Errors** a JSON array of one `PublicApiErrorDetails` object (`sphere.legacy_error_body`): "
        + ", ".join(f"{status} `{code}`" for status, code in sorted(LEGACY_ERROR_CODES.items()))
        + "; claim operations report failures in their `Error` member.\n\n"
    )
    out.append(table(["method", "path", "operation", "what it does"], _rows("sphere-legacy", legacy.table)))
    arm = ArmApi(cloud)
    out.append("\n## Azure Sphere, Azure Resource Manager (`Microsoft.AzureSphere`)\n\n")
    out.append(
        "* **Host** `https://management.azure.com` (served: the `sphere` port, paths under `/subscriptions`).\n"
        "* **Auth** `Authorization: Bearer <token>` issued for the ARM audience (`arm_token` in the endpoints file)."
        "\n"
        f"* **Versions** `api-version` is required; accepted: {', '.join(settings.sphere.arm_accepted_api_versions)} "
        f"(`sphere.arm_accepted_api_versions`; the published contract is {API_VERSION}).\n"
        "* **Bodies** camelCase ARM resources (`id`, `name`, `type`, `properties`); lists page with `nextLink`, "
        "`$filter`, `$top`, `$skip`, `$maxpagesize`. Every create, update and delete (and `claimDevices`, "
        "`uploadImage`, `generateCapabilityImage`) is long-running, as the published document marks it: a PUT "
        "answers 201 or 200 with the resource (`provisioningState` `Accepted`) and `Azure-AsyncOperation`; a PATCH, "
        "DELETE or action answers 202 with `Location` to poll (a catalog PATCH: 200 at once); "
        '`sphere.arm_long_running = "sync"` answers with the result at once.\n'
        '* **Errors** `{"error": {"code", "message", "target"?}}` (ARM common types): '
        + ", ".join(f"{status} `{code}`" for status, code in _sphere_codes())
        + ".\n\n"
    )
    extra, arm_rows = _with_contract("sphere-arm", cloud.arm_app, _rows("sphere-arm", arm.table))
    out.append(table(["method", "path", "operation", "what it does", *extra], arm_rows))
    out.append("\n## IoT Central data plane\n\n")
    out.append(
        "* **Host** `https://<subdomain>.azureiotcentral.com/api` — the app is chosen by the `Host` subdomain "
        "(served: the `central` port; a host without a subdomain reaches the default app).\n"
        "* **Auth** `Authorization: SharedAccessSignature sr=…&sig=…&skn=…&se=…` (an API token, `api_token` in the "
        "endpoints file) or `Bearer <token>`; missing or foreign → 401.\n"
        f"* **Versions** `api-version` is required on every route; accepted: "
        f"{', '.join(settings.central.accepted_api_versions)} (`central.accepted_api_versions`).\n"
        f"* **Bodies** camelCase JSON; PATCH takes `application/merge-patch+json` or `application/json`; bodies over "
        f"{settings.central.max_body_bytes} bytes → 413 (`central.max_body_bytes`); lists page with `nextLink` "
        f"({settings.central.page_size} per page, `central.page_size`).\n"
        '* **Errors** `{"error": {"code", "message", "requestId", "time"}}` plus the `x-ms-error-code` '
        "header. The codes are this project's names for each situation (`central.error_codes` replaces them): "
        + ", ".join(f"{row.status} `{row.code}` ({name})" for name, row in SITUATIONS.items())
        + ".\n\n"
    )
    rows = []
    for path, verb, operation, body, media_types in central_api.ROUTES:
        media = ", ".join(sorted(media_types)) if body != "none" else ""
        rows.append(
            (
                verb,
                f"`/api{path}`" if not path.startswith("/api") else f"`{path}`",
                f"`{operation.__name__}`",
                f"{body}{' (' + media + ')' if media else ''}",
                _summary(operation, "central", operation.__name__),
            )
        )
    extra, rows = _with_contract("central", cloud.central_app, rows)
    out.append(table(["method", "path", "operation", "request body", "what it does", *extra], rows))
    out.append("\n## Device Provisioning Service (HTTPS device API)\n\n")
    out.append(
        "* **Host** `https://global.azure-devices-provisioning.net` (served: the `dps` port; MQTT/TLS on "
        "`mqtt_port` carries the same operations and the IoT hub device surface).\n"
        "* **Auth** the TLS client certificate chain only (the device's leaf and its tenant CA); the chain must reach "
        "a verified certificate entry of an enabled X.509 enrollment group of the app owning the ID scope.\n"
        "* **Versions** `api-version` is required (any non-empty value).\n"
        '* **Bodies** `{"registrationId", "payload"?}` in; operation `{operationId, status}` and '
        "`registrationState` out; 202 `assigning` carries `Retry-After` (`dps.retry_after_s`).\n"
        '* **Errors** `{"errorCode", "trackingId", "message", "timestampUtc"}` with six-digit codes '
        "(`dps.error_codes`): " + ", ".join(f"{kind} `{code}`" for kind, code in DEFAULT_ERROR_CODES.items()) + ".\n\n"
    )
    dps_rows = [
        (
            ", ".join(sorted(route.methods - {"HEAD"})),
            f"`{route.path}`",
            f"`{route.name}`",
            _summary(route.endpoint, "dps", route.name),
        )
        for route in _routes(cloud.dps_app)
    ]
    extra, dps_rows = _with_contract("dps", cloud.dps_app, dps_rows)
    out.append(table(["method", "path", "operation", "what it does", *extra], dps_rows))
    out.append("\n## Simulator control API (`/_sim`)\n\n")
    out.append(
        "What Azure cannot do: arrange the world, travel its clock, inject faults, see what happened. In-process on "
        "`https://sim.sphere-harness.local/_sim`, served on every HTTPS port (`control_url` in the endpoints file). "
        "Bodies are JSON objects; an unknown field is a 400 naming the expected ones. "
        'Errors are `{"error": {"code", "message"}}`.\n\n'
        "* **Auth** none on loopback; a world served on any other address (`serve --host`) asks for "
        "`Authorization: Bearer <control_token>` (the endpoints file's `control_token`; `serve --control "
        "auto|token|off`).\n\n"
    )
    control = build_control_app(cloud)
    out.append(
        table(
            ["method", "path", "operation", "what it does"],
            [
                (
                    ", ".join(sorted(route.methods - {"HEAD"})),
                    f"`{route.path}`",
                    f"`{route.name}`",
                    _summary(route.endpoint, "control", route.name),
                )
                for route in control.routes
            ],
        )
    )
    return "".join(out)
