"""The version of sphere-harness: one place, read by the build (hatchling) and by ``--version``."""

__version__ = "0.1.0"
