"""Which operations of the published documents the fakes implement, and which tests cover them.

``python tests/contracts/coverage.py`` rewrites ``docs/coverage.md``; ``tests/test_contract_coverage.py`` fails
when the file is not what this module generates now (so a new route, or a new document, shows up in review).

*Implemented* is asked of the fakes themselves, not kept by hand: for each operation of a document, a request for
its path template (every parameter filled with a sample value) is matched against the routes of the service's
ASGI adapter; an operation is implemented when a route answers that method there. Every implemented operation is
exercised by the property-based test (``tests/test_contract_fuzz.py``, one test per operation) and, under the
contract layer, by every test that reaches it; :data:`BEHAVIOUR_TESTS` names the test module that pins each
operation family's behaviour (state changes, refusals, documented errors).
"""

from __future__ import annotations

import copy
import functools
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``contracts`` and the project importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from contracts.schemas import COMMON_FILE, COMMON_PREFIX, DOCUMENTS, SERVICE_DOCUMENTS, load

ROOT = Path(__file__).resolve().parents[2]
COVERAGE_MD = ROOT / "docs" / "coverage.md"
FUZZ = "tests/test_contract_fuzz.py"

#: operationId prefix → the test module that pins that family's behaviour
BEHAVIOUR_TESTS: dict[str, dict[str, str]] = {
    "central": {
        "EnrollmentGroups_": "tests/test_central_api_contract.py",
        "Devices_GetAttestation": "tests/test_central_surfaces.py",
        "Devices_CreateAttestation": "tests/test_central_surfaces.py",
        "Devices_UpdateAttestation": "tests/test_central_surfaces.py",
        "Devices_RemoveAttestation": "tests/test_central_surfaces.py",
        "Devices_ListComponents": "tests/test_central_surfaces.py",
        "Devices_ReplaceProperties": "tests/test_central_surfaces.py",
        "Devices_UpdateProperties": "tests/test_central_surfaces.py",
        "Devices_": "tests/test_central_api_contract.py",
        "DeviceTemplates_": "tests/test_central_surfaces.py",
        "Organizations_": "tests/test_central_surfaces.py",
        "ApiTokens_": "tests/test_central_surfaces.py",
        "Roles_": "tests/test_central_surfaces.py",
        "DeviceGroups_": "tests/test_central_surfaces.py",
    },
    "sphere-arm": {
        "Certificates_": "tests/test_sphere_arm_api.py",
        "Operations_": "tests/test_sphere_arm_sdk_ops.py",
        "Catalogs_List": "tests/test_sphere_arm_query.py",
        "Catalogs_Get": "tests/test_sphere_arm_api.py",
        "Catalogs_": "tests/test_sphere_arm_resources.py",
        "Images_": "tests/test_sphere_arm_images.py",
        "Deployments_": "tests/test_sphere_arm_images.py",
        "Devices_GenerateCapabilityImage": "tests/test_sphere_arm_images.py",
        "DeviceGroups_ClaimDevices": "tests/test_sphere_arm_api.py",
        "": "tests/test_sphere_arm_resources.py",
    },
    "dps": {"": "tests/test_dps_https.py"},
}

TITLES = {
    "central": "IoT Central data plane 2022-07-31",
    "sphere-arm": "Azure Sphere ARM (Microsoft.AzureSphere) 2024-04-01",
    "dps": "DPS device API 2021-10-01",
}


def behaviour_test(service: str, operation_id: str) -> str:
    """The test module pinning ``operation_id``'s behaviour: the longest matching prefix of :data:`BEHAVIOUR_TESTS`."""
    table = BEHAVIOUR_TESTS[service]
    best = max((prefix for prefix in table if operation_id.startswith(prefix)), key=len)
    return table[best]


@functools.cache
def _app_routes(service: str) -> list[Any]:
    from simulator.cloud import FakeCloud

    cloud = FakeCloud(seed=0)
    app = {"central": cloud.central_app, "sphere-arm": cloud.arm_app, "dps": cloud.dps_app}[service]
    while not hasattr(app, "router") and hasattr(app, "app"):  # unwrap the contract and fault layers
        app = app.app
    return list(app.router.routes)


def implemented_operations(service: str) -> list[str]:
    """The operationIds of ``service``'s document that its adapter routes (the protocol extras excluded)."""
    from starlette.routing import Match

    found = []
    for operation in load(service).operations:
        if operation.operation_id.startswith("ARM."):
            continue
        path = operation.template
        for parameter in operation.parameters:
            if parameter.location == "path":
                path = path.replace("{" + parameter.name + "}", _sample(parameter.name))
        scope = {"type": "http", "path": path, "method": operation.method, "root_path": "", "query_string": b""}
        if any(route.matches(scope)[0] is Match.FULL for route in _app_routes(service)):
            found.append(operation.operation_id)
    return found


def _sample(name: str) -> str:
    return {"entry": "primary", "deviceTemplateId": "dtmi:contoso:sample;1"}.get(name, "sample1")


def bundled(service: str) -> dict[str, Any]:
    """The service's document with the common-types definitions and parameters copied in (``common.<name>``), so
    a tool that resolves only local references (schemathesis) can load it alone."""
    document = json.loads((DOCUMENTS / SERVICE_DOCUMENTS[service]).read_text(encoding="utf-8"))
    text = json.dumps(document)
    if COMMON_PREFIX not in text:
        return document
    common = json.loads(COMMON_FILE.read_text(encoding="utf-8"))
    text = text.replace(COMMON_PREFIX + "#/definitions/", "#/definitions/common.")
    text = text.replace(COMMON_PREFIX + "#/parameters/", "#/parameters/common.")
    document = json.loads(text)
    common_text = json.dumps(common).replace('"#/definitions/', '"#/definitions/common.')
    common = json.loads(common_text)
    document["definitions"].update({f"common.{k}": v for k, v in common["definitions"].items()})
    document.setdefault("parameters", {}).update({f"common.{k}": v for k, v in common["parameters"].items()})
    return copy.deepcopy(document)


def render() -> str:
    """``docs/coverage.md`` as it should be now."""
    lines = [
        "# Coverage of Azure's published API documents",
        "",
        "Generated by `python tests/contracts/coverage.py` from the vendored documents (`tests/contracts/documents/`)",
        "and the fakes' route tables; `tests/test_contract_coverage.py` fails when this file is out of date.",
        "",
        f"Every implemented operation is fuzzed by `{FUZZ}` (one test per operation, against a served world) and every",
        "answer any test receives is validated against its document by the contract layer (`tests/contracts/`). The",
        "*behaviour* column names the test module that pins the operation's state changes and refusals. See",
        "`docs/contracts.md` for how the layer works and where the fakes are deliberately stricter than the documents.",
        "",
    ]
    for service in ("central", "sphere-arm", "dps"):
        contract = load(service)
        implemented = set(implemented_operations(service))
        operations = [op for op in contract.operations if not op.operation_id.startswith("ARM.")]
        operations.sort(key=lambda op: (op.operation_id, op.method))
        lines += [
            f"## {TITLES[service]} — {len(implemented)} of {len(operations)} operations",
            "",
            f"Document: `tests/contracts/documents/{contract.name}`.",
            "",
            "| operation | method | path | implemented | behaviour |",
            "|---|---|---|---|---|",
        ]
        for op in operations:
            done = op.operation_id in implemented
            test = f"`{behaviour_test(service, op.operation_id)}`" if done else "—"
            path = op.template.replace("|", "\\|")
            lines.append(f"| `{op.operation_id}` | {op.method} | `{path}` | {'yes' if done else 'no'} | {test} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    COVERAGE_MD.write_text(render(), encoding="utf-8")
    print(f"wrote {COVERAGE_MD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
