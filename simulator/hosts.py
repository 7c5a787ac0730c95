"""The world's host names: the same names the real services have, and the control surface's own.

A leaf: the in-process router (:mod:`simulator.inprocess.hosts`) routes by these names, and the control surface
(:mod:`simulator.control`) announces its host, without either importing the other.
"""

from __future__ import annotations

SPHERE_LEGACY_HOST = "prod.core.sphere.azure.net"
ARM_HOST = "management.azure.com"
CENTRAL_DOMAIN = "azureiotcentral.com"
DPS_HOST = "global.azure-devices-provisioning.net"
#: the control surface's host in-process (``https://sim.sphere-harness.local/_sim/…``); served, ``/_sim`` rides on
#: every HTTPS port instead
CONTROL_HOST = "sim.sphere-harness.local"
