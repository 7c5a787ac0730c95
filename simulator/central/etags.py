"""ETags as IoT Central writes them, and the preconditions clients put on them.

Every enrollment group and certificate entry carries an ``etag``. The documented values, e.g.
``IjE3MDAwODNhLTAwMDAtMDcwMC0wMDAwLTYyNjFmNzk0MDAwMCI=``, are base64 of a *quoted Cosmos DB etag*:
``"1700083a-0000-0700-0000-6261f7940000"`` (IoT Central REST API 2022-07-31) — eight random hex digits, a fixed middle,
and the write time in hex. Clients must treat them as opaque; they change on every write and only then.

A client makes a write conditional with ``If-Match`` or with an ``etag`` inside the body
(``central.body_etag_is_precondition``): the write only happens when the entity's current etag is one of those
given, or ``*`` is given and the entity exists. The header wins when both are present.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime

from simulator.central.errors import CentralError
from simulator.entropy import Entropy


def new_etag(entropy: Entropy, now: datetime, previous: str | None = None) -> str:
    """A fresh Cosmos-style etag, base64-wrapped, guaranteed to differ from ``previous``."""
    while True:
        inner = f'"{entropy.hex(4)}-0000-0700-0000-{int(now.timestamp()) & 0xFFFFFFFF:08x}0000"'
        etag = base64.b64encode(inner.encode("ascii")).decode("ascii")
        if etag != previous:
            return etag


def parse_if_match(header: str) -> list[str]:
    """The etags listed in an ``If-Match`` header (comma-separated, optionally quoted or weak-prefixed)."""
    values = []
    for raw in header.split(","):
        value = raw.strip()
        if value.startswith("W/"):
            value = value[2:]
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if value:
            values.append(value)
    return values


def check_precondition(
    current: str | None,
    *,
    if_match: str | None,
    body_etag: object,
    body_etag_counts: bool,
    what: str,
    overrides: dict[str, str] | None = None,
) -> None:
    """Raise 412 ``PreconditionFailed`` unless the write's precondition (if any) holds.

    ``current`` is the entity's etag, or None when the entity does not exist yet. ``body_etag`` is the
    ``etag`` member of the request body (validated here: it must be a string when present).
    """
    if body_etag is not None and not isinstance(body_etag, str):
        raise CentralError.of("bad_request", "'etag' must be a string", overrides)
    candidates: Iterable[str]
    if if_match is not None:
        candidates = parse_if_match(if_match)
        source = "If-Match"
    elif body_etag is not None and body_etag_counts:
        candidates = [body_etag]
        source = "etag"
    else:
        return
    candidates = list(candidates)
    if current is None:
        raise CentralError.of("precondition_failed", f"{source} was given but the {what} does not exist", overrides)
    if "*" in candidates or current in candidates:
        return
    raise CentralError.of(
        "precondition_failed", f"the {what} has changed: its etag does not match the {source} value", overrides
    )


def check_merge_patch(
    current: str,
    patch: object,
    *,
    if_match: str | None,
    body_etag_counts: bool,
    what: str,
    overrides: dict[str, str] | None = None,
) -> None:
    """What every PATCH checks before it reads a member: the body is a JSON object (400 ``BadRequest``), and the
    precondition — ``If-Match``, or the body's ``etag`` where that counts — holds for the entity's ``current`` etag
    (:func:`check_precondition`)."""
    if not isinstance(patch, dict):
        raise CentralError.of("bad_request", "a merge patch must be a JSON object", overrides)
    check_precondition(
        current,
        if_match=if_match,
        body_etag=patch.get("etag"),
        body_etag_counts=body_etag_counts,
        what=what,
        overrides=overrides,
    )
