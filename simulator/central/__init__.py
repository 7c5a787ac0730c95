"""The IoT Central fake: the application model (:mod:`.model`) and its data-plane REST adapter (:mod:`.api`).

``model`` holds the rules (enrollment groups, certificate entries, proof of possession, devices, tokens);
``api`` turns ``https://<subdomain>.azureiotcentral.com/api/...`` requests into model calls and renders the
real response and error shapes of the IoT Central REST API 2022-07-31.
"""

from simulator.central.errors import CentralError
from simulator.central.model import App, CentralService

__all__ = ["App", "CentralError", "CentralService"]
