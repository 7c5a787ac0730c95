"""Paging and count parameters (``$top``, ``$skip``, ``$maxpagesize``, ``maxPageSize``): strict decimal integers."""

from __future__ import annotations

import re

from simulator.wire.errors import WireError

#: the largest count any parameter accepts unless the operation says less (a 32-bit signed integer, as the
#: services' own parameters are ``int32``)
MAX_COUNT = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII only: str.isdigit() also accepts '²' and other digits int() refuses


def parse_count(
    raw: str | None,
    name: str,
    *,
    default: int | None = None,
    minimum: int = 0,
    maximum: int = MAX_COUNT,
) -> int | None:
    """``raw`` as an integer in ``minimum..maximum``; ``default`` when the parameter is absent.

    Only ASCII digits are accepted — no sign, no white space, no exponent — and at most ten of them, so no input
    reaches :func:`int` that it could choke on. Anything else is :class:`WireError` ``invalid_number`` with
    ``target=name``.
    """
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        raise WireError(
            "invalid_number", f"{name} must be an integer from {minimum} to {maximum}, not {raw[:40]!r}", target=name
        )
    return int(raw)
