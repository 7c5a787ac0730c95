"""The query options of every Microsoft.AzureSphere list: ``$filter``, ``$top``, ``$skip``, ``$maxpagesize``, and the
``nextLink`` that continues a list.

The 2024-04-01 document gives the lists four optional query parameters — "Filter the result list using the given
expression", "The number of result items to return", "… to skip", "The maximum number of result items per page" —
and nothing more; which expressions the real service accepts is not published. The fake accepts the OData subset
an onboarding script needs and refuses the rest in the ARM error shape (400 ``InvalidQueryParameterValue``, target
the parameter), so a script never gets a silently unfiltered list:

* ``<path> eq <literal>`` joined by ``and`` (parentheses allowed); ``<path>`` is ``name`` or
  ``properties/<property>`` of the listed resource (the properties its schema names); literals are strings
  (``'it''s'``), integers, ``true``/``false`` and ``null`` (matches an absent property);
* string comparisons ignore case, as ARM resource names and IDs do; anything else (``or``, ``ne``, functions …) is
  400.

The expression is parsed by the ``odata-query`` library (its lexer and parser; this module only walks the tree).
Paging: ``$skip`` items are left out, at most ``$top`` returned in all, ``$maxpagesize`` (default 100, at most
1000) per page; when more remain the page carries ``nextLink``, the request URL with an opaque ``$skipToken`` in
place of ``$skip``. Clients follow it with GET — azure-mgmt-core does so even for the POST lists (``listDevices`` …),
which therefore also answer GET. A token can carry request-body state (``listDeviceGroups``' ``deviceGroupName``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from simulator import wire
from simulator.sphere.errors import SphereError

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "ListQuery", "compile_filter", "list_query"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
INT32_MAX = 2**31 - 1
CODE = "InvalidQueryParameterValue"

Predicate = Callable[[dict[str, Any]], bool]


def _refuse(name: str, message: str) -> SphereError:
    return SphereError(400, CODE, message, target=name)


def compile_filter(text: str, paths: Iterable[str]) -> Predicate:
    """A predicate over ARM bodies for an ``eq``/``and`` expression on ``paths`` (``name``, ``properties/x``)."""
    allowed = {p.lower(): p for p in paths}
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(text))
    except ODataException as exc:
        raise _refuse("$filter", f"The $filter expression is not valid OData: {exc}") from None
    if tree is None:
        raise _refuse("$filter", "The $filter expression is empty.")
    return _compile(tree, allowed)


def _compile(node: Any, allowed: dict[str, str]) -> Predicate:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        left, right = _compile(node.left, allowed), _compile(node.right, allowed)
        return lambda body: left(body) and right(body)
    if isinstance(node, ast.Compare) and isinstance(node.comparator, ast.Eq):
        path_node, literal_node = node.left, node.right
        if not _is_path(path_node):
            path_node, literal_node = literal_node, path_node
        path = _path(path_node, allowed)
        value = _literal(literal_node)
        return lambda body: _equal(_lookup(body, path), value)
    raise _refuse("$filter", "Only 'eq' comparisons of a property with a literal, joined by 'and', are supported.")


def _is_path(node: Any) -> bool:
    return isinstance(node, ast.Identifier | ast.Attribute)


def _path(node: Any, allowed: dict[str, str]) -> tuple[str, ...]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.owner
    if not isinstance(node, ast.Identifier) or node.namespace:
        raise _refuse("$filter", "A comparison needs a property path such as 'properties/deviceId'.")
    parts.insert(0, node.name)
    text = "/".join(parts)
    canonical = allowed.get(text.lower())
    if canonical is None:
        raise _refuse("$filter", f"'{text}' cannot be filtered on; use one of {sorted(allowed.values())}.")
    return tuple(canonical.split("/"))


def _literal(node: Any) -> Any:
    if isinstance(node, ast.String):
        return node.val
    if isinstance(node, ast.Boolean):
        return node.val.lower() == "true"
    if isinstance(node, ast.Integer):
        return int(node.val)
    if isinstance(node, ast.Null):
        return None
    raise _refuse("$filter", "A comparison needs a string, integer, boolean or null literal.")


def _lookup(body: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = body
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual.lower() == wanted.lower()
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted
    return actual == wanted


class ListQuery:
    """The parsed options of one list request; :meth:`page` applies them and builds ``nextLink``."""

    def __init__(self, url: Any, params: Mapping[str, str], paths: Iterable[str]) -> None:
        self.url = url
        self.params = dict(params)
        raw_filter = self.params.get("$filter")
        self.predicate = None if raw_filter is None else compile_filter(raw_filter, paths)
        self.skip = self._int("$skip", 0, minimum=0)
        self.top = self._int("$top", None, minimum=1)
        self.size = self._int("$maxpagesize", DEFAULT_PAGE_SIZE, minimum=1)
        if self.size > MAX_PAGE_SIZE:
            raise _refuse("$maxpagesize", f"$maxpagesize is at most {MAX_PAGE_SIZE}.")
        self.state: dict[str, Any] = {}
        self.offset = 0
        token = self.params.get("$skipToken")
        if token is not None:
            self.offset, self.state = _decode(token)

    def _int(self, name: str, default: int | None, *, minimum: int) -> int | None:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:  # the wire seam: ASCII digits only (str.isdigit accepts '²'), at most ten of them
            return wire.parse_count(raw, name, minimum=minimum, maximum=INT32_MAX)
        except wire.WireError:
            raise _refuse(name, f"{name} must be an integer from {minimum} to {INT32_MAX}.") from None

    def page(self, items: list[dict[str, Any]], state: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``{"value": [...], "nextLink"?}``; ``state`` (JSON-able) rides along in the continuation token."""
        if self.predicate is not None:
            items = [item for item in items if self.predicate(item)]
        selected = items[self.skip :]
        if self.top is not None:
            selected = selected[: self.top]
        start = self.offset
        body: dict[str, Any] = {"value": selected[start : start + self.size]}
        following = start + self.size
        if following < len(selected):
            query = {k: v for k, v in self.params.items() if k != "$skipToken"}
            query["$skipToken"] = _encode(following, dict(state or self.state))
            body["nextLink"] = str(self.url.replace(query=urlencode(query)))
        return body


def list_query(url: Any, params: Mapping[str, str], paths: Iterable[str]) -> ListQuery:
    return ListQuery(url, params, paths)


def _encode(offset: int, state: dict[str, Any]) -> str:
    raw = json.dumps({"o": offset, "s": state}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(token: str) -> tuple[int, dict[str, Any]]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = wire.parse_json(base64.urlsafe_b64decode(padded.encode("ascii")))
        offset, state = data["o"], data["s"]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0 or not isinstance(state, dict):
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error, wire.WireError):
        raise _refuse("$skipToken", "The $skipToken is not one this service issued.") from None
    return offset, state
