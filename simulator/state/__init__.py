"""A world that lasts: the world codec, change tracking, and the SQLite store behind ``FakeCloud(state_dir=…)``.

* :mod:`simulator.state.codec` — a complete, versioned, safe JSON encoding of a whole world
  (:func:`dump_world` / :func:`load_world`), canonical so that two worlds in the same state dump alike;
* :mod:`simulator.state.values` — the leaf values (instants, DER certificates, PKCS#8 keys …);
* :mod:`simulator.state.adapters` — the clock and the random streams, whose state is not their attributes;
* :mod:`simulator.state.tracking` — which objects a request changed (class swap, tracked dict/list/set);
* :mod:`simulator.state.database` — the SQLite file: durability settings, migrations, transactions, checks;
* :mod:`simulator.state.store` — a world bound to a state directory: adopt, commit, read back (``read_world``);
* :mod:`simulator.state.files` — world files (``.json`` / ``.json.gz``) for ``state export`` / ``import``;
* :mod:`simulator.state.routes` — ``POST /_sim/snapshot`` and ``POST /_sim/restore``.

``docs/persistence.md`` explains the design, the guarantees, the file format and the rule model code follows.
"""

from simulator.state.codec import (
    FORMAT,
    VERSION,
    CodecError,
    describe_differences,
    dump_world,
    dumps,
    load_world,
    loads,
)

__all__ = ["FORMAT", "VERSION", "CodecError", "describe_differences", "dump_world", "dumps", "load_world", "loads"]
