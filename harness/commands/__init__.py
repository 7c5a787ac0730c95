"""The ``sphere-harness`` commands, one module each, registered (and imported lazily) by :mod:`harness.cli`.

Every module here may import what its command needs at the top: it is only imported when that command runs.
"""
