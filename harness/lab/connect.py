"""``sphere-harness device connect``: simulated devices made with ``device new`` connect like real ones.

A real Azure Sphere device, once claimed, gets a 24-hour certificate from its daily attestation and, given the app's
ID scope, registers with DPS on its first connection. Out of process there is no attestation service to ask, so the
device's fresh chain comes from the served world's control surface (``GET /_sim/devices/{id}``, fake-only), and the
registration is the real thing: MQTT 3.1.1 over TLS with the device's key in the handshake, the topics and payloads
of the Azure IoT device SDK (:func:`simulator.device.register_over_mqtt`). An unclaimed device is refused by the
control surface; a device whose tenant CA is not verified in the app is refused by DPS — both say so.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: MQTT 3.1.1's "not authorized": how DPS refuses a device whose chain leads to no verified, enabled group
CONNACK_NOT_AUTHORIZED = 5


class ConnectError(Exception):
    """The devices cannot even be tried (no device folder, the world not reachable)."""


@dataclass
class ConnectResult:
    """One device's outcome: ``ok`` with the hub it was assigned to, or why not."""

    device_id: str
    ok: bool
    detail: str

    def line(self) -> str:
        mark = "provisioned" if self.ok else "NOT provisioned"
        return f"{self.device_id[:16]}…  {mark}: {self.detail}"


def _devices(device_dir: Path, only: str | None) -> list[dict[str, Any]]:
    index = device_dir / "devices.json"
    try:
        listing = json.loads(index.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConnectError(
            f"{index} cannot be read ({exc.strerror}): make devices with 'sphere-harness device new'"
        ) from None
    if only is not None:
        listing = [d for d in listing if d["id"].lower() == only.lower()]
        if not listing:
            raise ConnectError(f"device {only} is not in {index}")
    return listing


def connect_devices(endpoints: dict[str, Any], device_dir: Path, *, only: str | None = None) -> list[ConnectResult]:
    from harness.clients import ControlClient, HarnessClientError
    from simulator.device import DeviceConnectionError, register_over_mqtt

    dps = endpoints["dps"]
    if not dps.get("mqtt_port"):
        raise ConnectError("the world serves no MQTT listener (serve it with --mqtt-port)")
    ca_pem = Path(endpoints["ca_bundle"]).read_text(encoding="ascii")
    results = []
    with ControlClient.for_endpoints(endpoints) as control:
        for entry in _devices(device_dir, only):
            device_id = entry["id"]
            try:
                response = control.request("GET", f"/devices/{device_id}")
            except HarnessClientError as exc:
                results.append(ConnectResult(device_id, False, getattr(exc, "message", str(exc))))
                continue
            chain_pem = response.json()["certificate_chain_pem"]
            chain_file = device_dir / f"{device_id}.chain.pem"
            chain_file.write_text(chain_pem, encoding="ascii")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.load_verify_locations(cadata=ca_pem)
            context.load_cert_chain(chain_file, entry["key_file"])
            try:
                result = register_over_mqtt(dps["host"], int(dps["mqtt_port"]), dps["id_scope"], device_id, context)
            except DeviceConnectionError as exc:
                why = f"the connection failed: {exc}"
                if exc.connack == CONNACK_NOT_AUTHORIZED:
                    why += (
                        ": DPS found no verified enrollment group for the device's chain; verify the tenant CA in "
                        "your app (checklist step 6), then connect again"
                    )
                results.append(ConnectResult(device_id, False, why))
                continue
            except OSError as exc:
                results.append(ConnectResult(device_id, False, f"the connection failed: {exc}"))
                continue
            if result.status == "assigned":
                results.append(ConnectResult(device_id, True, f"assigned to {result.assigned_hub}"))
            else:
                why = result.error_message or result.status
                results.append(ConnectResult(device_id, False, f"DPS answered {result.status}: {why}"))
    return results


__all__ = ["ConnectError", "ConnectResult", "connect_devices"]
