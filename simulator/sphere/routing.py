"""The front door both Sphere APIs share: routes whose fixed path segments match case-insensitively, the ``Allow``
list a 405 answer names, and who a request's bearer token speaks for."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.sphere.errors import SphereError
from simulator.sphere.model import Audience, Principal, SphereService

Endpoint = Callable[[Request], Awaitable[Response]]


def case_insensitive_routes(
    table: Iterable[tuple[str, str, str, Any]], endpoint: Callable[[Any], Endpoint]
) -> list[Route]:
    """One route per ``(method, path, name, handler)`` row; ``endpoint(handler)`` makes its ASGI endpoint."""
    routes = []
    for method, path, name, handler in table:
        route = Route(path, endpoint(handler), methods=[method], name=name)
        route.path_regex = re.compile(route.path_regex.pattern, re.IGNORECASE)
        routes.append(route)
    return routes


def allowed_methods(routes: Iterable[Route], path: str) -> str:
    """Every method some route serves at ``path`` (for the ``Allow`` header of a 405): Starlette names only the
    first matching route's methods, and each Sphere route serves one method."""
    methods: set[str] = set()
    for route in routes:
        if route.path_regex.match(path) and route.methods:
            methods |= route.methods
    return ", ".join(sorted(methods))


def bearer_principal(sphere: SphereService, request: Request, audience: Audience, malformed: str) -> Principal:
    """Who the request's ``Authorization: Bearer <token>`` speaks for (no header: what the model says of an
    anonymous caller); any other scheme, or an empty token, is 401 ``InvalidAuthenticationToken`` with the
    API's own ``malformed`` message."""
    header = request.headers.get("authorization")
    if header is None:
        return sphere.authenticate(None, audience)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SphereError(401, "InvalidAuthenticationToken", malformed)
    return sphere.authenticate(token.strip(), audience)
