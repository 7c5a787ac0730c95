"""What each step argument means, for ``docs/steps.md`` and the JSON Schema editors show on hover.

An argument documents itself with ``Field(description=…)`` in its step's model; the many arguments that mean the
same in every step (``app``, ``tenant``, ``api``, ``group``, ``devices`` …) are explained once here, and an argument
whose meaning depends on the step is explained per kind. :func:`argument_note` picks, in that order: the field's own
description, the kind's note, the shared note. A test keeps every argument of every step explained.
"""

from __future__ import annotations

from typing import Any

#: arguments that mean the same in every step that takes them
SHARED: dict[str, str] = {
    "app": "which IoT Central app: a key of `given.apps`; default: the first",
    "tenant": (
        "which Sphere tenant: a key of `given.tenants`; default: the one `sphere.login` selected, else the first"
    ),
    "api": (
        "`legacy` (the v2 API, as `azsphere` uses it) or `arm` (`Microsoft.AzureSphere` 2024-04-01 on the tenant's "
        "catalog, as `az sphere` uses it)"
    ),
    "group": "the enrollment group's ID (live runs add the run prefix, as to every group they create)",
    "entry": "the group's certificate entry: `primary` or `secondary`",
    "devices": ("simulated device IDs: one, a list, or what a creating step saved (`{fleet.ids}`)"),
    "destination": "the file to write, relative to the work folder (DER)",
    "thumbprint": (
        "legacy API: the tenant CA generation to use, by SHA-1 thumbprint (`sphere.ca-certificate.list` shows "
        "them); default: the Active one"
    ),
    "serial": (
        "ARM: the tenant CA generation to use, by serial number (its resource name); `.default` is the Active one"
    ),
    "path": "a certificate file (DER or PEM) relative to the work folder; give this or `certificate`",
    "certificate": "the certificate string to send as it is; give this or `path`",
    "encoding": ("how a `path` file is sent: `der-base64` (what the portal uploads), `pem-base64` or `pem`"),
    "display_name": "the group's display name in IoT Central",
    "enabled": "whether the group admits devices",
    "product": "the Sphere product to claim into (ARM); `.default` for the catalog's default product",
    "device_group": "the device group of that product (ARM); `.default` for its default group",
}

#: arguments whose meaning depends on the step, by step kind
BY_KIND: dict[str, dict[str, str]] = {
    "central.certificate.set": {
        "verified": "upload as already verified (IoT Central's self-attestation; no proof of possession needed)",
    },
    "central.certificate.verify": {
        "path": "the proof-of-possession certificate file (the one `download-proof` wrote)",
        "certificate": "the proof-of-possession certificate string to send as it is; give this or `path`",
    },
    "central.device.get": {"id": "the IoT Central device ID"},
    "central.enrollment-group.create": {
        "id": "the group ID (live runs add the run prefix and delete the group when the run ends)",
        "type": "which devices the group admits: `iot` devices or `iotEdge` devices",
        "attestation": "how its devices authenticate: `x509` (the trust workflow) or `symmetricKey`",
    },
    "central.enrollment-group.delete": {"id": "the group ID"},
    "central.enrollment-group.get": {"id": "the group ID"},
    "central.enrollment-group.update": {
        "id": "the group ID",
        "display_name": "a new display name (unchanged when omitted)",
        "enabled": "enable or disable the group (unchanged when omitted)",
        "if_match": "an etag: the update applies only while the group still has it (412 otherwise)",
    },
    "device.claim": {"api": "claim through the legacy API (claim, then poll the operation) or ARM `claimDevices`"},
    "device.connect": {"model_id": "the DTMI the device announces when it registers (its IoT Central template)"},
    "device.create": {"count": "how many devices to mint"},
    "device.report": {"patch": "the reported properties to patch into each device's twin"},
    "device.send": {
        "body": "the telemetry message (JSON)",
        "properties": "application properties of the message",
    },
    "expect": {
        "actual": "the value to check, usually a `{variable}`",
        "equals": "the value it must equal (a readable diff when it does not)",
        "not_equals": "a value it must not equal",
        "matches": "a pattern: every key given must be present with a matching value (lists item by item)",
        "contains": "an item of a list, a key of a mapping, or a substring of a text it must contain",
        "one_of": "the values it may be",
        "length": "the length it must have",
    },
    "sim.devices.create": {
        "count": "how many devices to mint",
        "claim": "claim them into `tenant` at once (with certificate chains)",
    },
    "sim.fault.add": {
        "id": "a name for the rule (default `fault-<n>`), for `sim.fault.clear`",
        "app": "IoT Central only: fire only for requests to this app (its subdomain)",
        "tenant": "fire only for requests naming this tenant ID, ARM catalog or DPS ID scope",
        "nth": "fire on the nth matching call (then once, unless `count` says more)",
        "count": "fire at most this many times",
        "probability": "fire with this probability (0–1), drawn from the world's seeded random source",
    },
    "sim.token": {"api": "which Sphere token to issue with `tenant`: the legacy API's (`sphere`) or ARM's (`arm`)"},
    "sphere.ca-certificate.download-proof": {
        "verification_code": "the code IoT Central generated (`{code}`): the proof's subject CN",
        "destination": "the file to write, relative to the work folder (DER)",
    },
    "sphere.ca-certificate.download-chain": {
        "destination": "the file to write, relative to the work folder (DER PKCS#7)",
    },
    "sphere.device.claim": {"device": "the device ID to claim (a claim is one-time and permanent)"},
}


def argument_note(kind: str, name: str, info: Any) -> str:
    """What argument ``name`` of step ``kind`` means (its own description first); empty when nobody said."""
    return info.description or BY_KIND.get(kind, {}).get(name) or SHARED.get(name) or ""
