"""The one place where every wire adapter reads what a client sent: bodies, query strings, paging numbers.

Every service of the world — the Sphere legacy and ARM APIs, IoT Central, DPS over HTTPS and MQTT, and the ``/_sim``
control surface — takes untrusted bytes from the network. Before a model sees any of it, the adapter passes it
through this package, which checks what every service needs checked and nothing service-specific:

* **size** — a body is read up to a limit and refused beyond it (413), without reading the rest
  (:func:`read_body`);
* **text** — bodies and query strings are UTF-8 and nothing else; JSON strings hold no lone UTF-16 surrogate
  (``"\\ud800"`` is valid JSON syntax but no text: it cannot be stored, logged or sent back as UTF-8);
* **JSON** — RFC 8259 only (no ``NaN``/``Infinity``, no number that overflows to infinity), nested at most
  :data:`MAX_DEPTH` deep (:func:`parse_json`, :func:`read_json`);
* **paging numbers** — ASCII digits only (``str.isdigit`` accepts ``²``), a bounded number of them, within the
  operation's range (:func:`parse_count`).

A failed check raises :class:`WireError` with the HTTP status (400, 413 or 415), a ``problem`` name and a message
for a person. The adapter renders it in its own service's error shape — the one place per adapter that turns a
:class:`WireError` into that shape — so a client always sees the service it called, and the request ends before the
world's lock is taken: a rejected request changes nothing.

Usage in an adapter::

    from simulator import wire

    try:
        body = await wire.read_json(request, max_bytes=65536)      # None for an empty body
        wire.check_query(request)
        top = wire.parse_count(request.query_params.get("$top"), "$top", minimum=1)
    except wire.WireError as exc:
        return my_service_error(exc.status, exc.message)

Parsing is done by ``pydantic_core.from_json`` (jiter, already a dependency through pydantic): it rejects invalid
UTF-8, lone surrogates, ``NaN`` and nesting beyond 200 levels itself, in Rust, before any recursion can happen in
Python. This package adds what it leaves open — the project's own (smaller) depth bound and non-finite floats that
arrive as overflowing literals (``1e400``) — in one iterative walk, and the error vocabulary the adapters share.
"""

from simulator.wire.body import DEFAULT_MAX_BYTES, MAX_DEPTH, media_type, parse_json, read_body, read_json
from simulator.wire.errors import WireError
from simulator.wire.numbers import MAX_COUNT, parse_count
from simulator.wire.text import check_query, check_text

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_COUNT",
    "MAX_DEPTH",
    "WireError",
    "check_query",
    "check_text",
    "media_type",
    "parse_count",
    "parse_json",
    "read_body",
    "read_json",
]
