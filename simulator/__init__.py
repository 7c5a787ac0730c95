"""Offline fakes of the Azure Sphere security service, IoT Central and DPS.

Each service is a pure, synchronous domain model (``simulator.<service>.model``) plus thin wire adapters
that only translate HTTP or MQTT into model calls. :class:`simulator.cloud.FakeCloud` wires the models into
one world that tests reach in-process (respx) or over real sockets (:mod:`simulator.server`).
"""


def __getattr__(name: str) -> str:
    """``simulator.__version__``: the installed distribution's version (the harness package holds the source)."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("sphere-harness")
        except PackageNotFoundError:  # a checkout run without installing
            found = "0+unknown"
        globals()["__version__"] = found
        return found
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
