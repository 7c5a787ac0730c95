"""The Azure Sphere security service: one model (:mod:`.model`) behind two wire surfaces.

* :mod:`simulator.sphere.legacy_api` — the legacy public API v2 on ``prod.core.sphere.azure.net``;
* :mod:`simulator.sphere.arm_api` — ``Microsoft.AzureSphere`` 2024-04-01 on ``management.azure.com``.
"""

from simulator.sphere.errors import SphereError

__all__ = ["SphereError"]
