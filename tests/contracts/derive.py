"""Derive the vendored contract documents from Azure's published OpenAPI files, keeping the facts only.

Usage (from the repository root)::

    python tests/contracts/derive.py --originals DIR           # rewrite documents/ and SOURCES.json
    python tests/contracts/derive.py --originals DIR --check   # exit 1 if a derived file differs

``DIR`` holds byte-exact copies of the four files listed in :data:`SOURCES` (repository
Azure/azure-rest-api-specs, MIT licence, at the commits given), laid out as in :data:`SOURCES` (``local``).
Each original is checked against its recorded sha256 before anything is written, so a derived document can only
come from the published bytes.

What "facts only" means: every ``description``, ``summary`` and ``x-ms-examples`` member of an operation, a
parameter, a response, a schema or an enum value is dropped — the prose and the links to example files. Nothing
else changes: paths, operations, parameters, schemas, status codes, enums, patterns and ``$ref`` strings are
kept exactly (the Sphere document's reference to the common-types file keeps its upstream relative path; the
loader maps it). Names are never dropped: a *property* called ``description`` (a member of a ``properties``
map) is a fact and stays. The output is JSON with a fixed layout (``indent=1``, keys in document order), so a
re-derivation from the same originals is byte-identical, which ``--check`` verifies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOCUMENTS = HERE / "documents"
REPOSITORY = "Azure/azure-rest-api-specs"

#: local file (relative to DIR and to documents/) → where it comes from, and the sha256 of the original bytes
SOURCES: dict[str, dict[str, str]] = {
    "iotcentral-2022-07-31.json": {
        "path": "specification/iotcentral/data-plane/Microsoft.IoTCentral/stable/2022-07-31/iotcentral.json",
        "commit": "1cd06b5128955b2ea481331d174f5559c95b79d9",
        "sha256": "8272eedc27022ce6ad0642c39e397e18c75e619fcbf6285b42d4aaf63d7ca887",
    },
    "azuresphere-2024-04-01.json": {
        "path": "specification/sphere/resource-manager/Microsoft.AzureSphere/stable/2024-04-01/azuresphere.json",
        "commit": "0d688d0d74cb7b41618716ec98e89e8fdd7853f6",
        "sha256": "4e3995ff0855b8b0d005a568db46264beaf684ac0ad02e17a805af8afbd79eca",
    },
    "dps-device-2021-10-01.json": {
        "path": (
            "specification/deviceprovisioningservices/data-plane/DeviceProvisioningServices/stable/2021-10-01/"
            "device.json"
        ),
        "commit": "097665682f080be4d7e0a8c60e1739828518bf77",
        "sha256": "0b457cd8f5d7f55c950bc99119deaed86d200d10257fc7c3f4eb2be22c869160",
    },
    "common-types/resource-management/v3/types.json": {
        "path": "specification/common-types/resource-management/v3/types.json",
        "commit": "05432ee0bc8a3feb5bc0f6fd21f49bb7aeaf13af",
        "sha256": "5240dd737c77318d4ac3373c1af240ce962376adb8c5b7b06517f7849b2cfaa9",
    },
}

PROSE = frozenset({"description", "summary", "x-ms-examples"})
#: members whose value is a map from *names* to objects: their keys are facts, never prose
NAME_MAPS = frozenset({"properties", "definitions", "paths", "responses", "securityDefinitions", "headers", "scopes"})


def strip_prose(node: Any, *, names: bool = False) -> Any:
    """``node`` without prose members; ``names`` says that ``node``'s keys are names (a ``properties`` map …)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if not names and key in PROSE:
                continue
            # a name map's members are objects whatever their names ("properties": {"properties": {…}});
            # the top-level "parameters" is a name map, an operation's "parameters" a list
            is_map = key in NAME_MAPS or (key == "parameters" and isinstance(value, dict))
            out[key] = strip_prose(value, names=not names and is_map)
        return out
    if isinstance(node, list):
        return [strip_prose(item) for item in node]
    return node


def derive(original: bytes) -> bytes:
    """The derived document for one original's bytes."""
    document = json.loads(original.decode("utf-8"))
    return (json.dumps(strip_prose(document), indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def sources_record(derived: dict[str, bytes]) -> bytes:
    """``SOURCES.json``: for each document, its upstream repository, path, commit and both sha256 values."""
    record = {
        "repository": REPOSITORY,
        "licence": "MIT, Copyright (c) Microsoft Corporation (see LICENSE beside this file)",
        "derivation": "tests/contracts/derive.py: description, summary and x-ms-examples members removed",
        "documents": {
            local: {**source, "derived_sha256": hashlib.sha256(derived[local]).hexdigest()}
            for local, source in SOURCES.items()
        },
    }
    return (json.dumps(record, indent=1) + "\n").encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=Path, required=True, help="folder holding the byte-exact originals")
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = parser.parse_args(argv)
    derived: dict[str, bytes] = {}
    for local, source in SOURCES.items():
        original = (args.originals / local).read_bytes()
        digest = hashlib.sha256(original).hexdigest()
        if digest != source["sha256"]:
            print(f"{local}: sha256 {digest} is not the published {source['sha256']}", file=sys.stderr)
            return 1
        derived[local] = derive(original)
    outputs = {DOCUMENTS / local: data for local, data in derived.items()}
    outputs[HERE / "SOURCES.json"] = sources_record(derived)
    differing = [path for path, data in outputs.items() if not path.exists() or path.read_bytes() != data]
    if args.check:
        for path in differing:
            print(f"{path.relative_to(HERE)} differs from its derivation", file=sys.stderr)
        return 1 if differing else 0
    for path in differing:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(outputs[path])
        print(f"wrote {path.relative_to(HERE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
