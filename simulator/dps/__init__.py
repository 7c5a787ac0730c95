"""DPS and the IoT hub device surface: the path by which a claimed Sphere device auto-enrolls into IoT Central.

* :mod:`simulator.dps.model` — registrations and their checks (pure, synchronous);
* :mod:`simulator.dps.errors` — :class:`DpsError` and the six-digit codes (``dps.error_codes``);
* :mod:`simulator.dps.registration` — the records a registration leaves: attestation and assignment;
* :mod:`simulator.dps.hub` — the assigned IoT hub: admission, telemetry, twin (pure, synchronous);
* :mod:`simulator.dps.mqtt_codec` — MQTT 3.1.1 packets;
* :mod:`simulator.dps.mqtt` — the MQTT-over-TLS listener serving DPS and the hub on one port;
* :mod:`simulator.dps.https_api` — the DPS device REST API (``build_app(cloud)``).
"""

from simulator.dps.hub import HubError, HubSession, IotHub
from simulator.dps.model import Attestation, DpsError, DpsService, Operation, Registration

__all__ = ["Attestation", "DpsError", "DpsService", "HubError", "HubSession", "IotHub", "Operation", "Registration"]
