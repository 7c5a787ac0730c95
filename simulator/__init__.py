"""Offline fakes of the Azure Sphere security service, IoT Central and DPS.

Each service is a pure, synchronous domain model (``simulator.<service>.model``) plus thin wire adapters
that only translate HTTP or MQTT into model calls. :class:`simulator.cloud.FakeCloud` wires the models into
one world that tests reach in-process (respx) or over real sockets (:mod:`simulator.server`).
"""
