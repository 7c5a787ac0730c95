"""Every refused request leaves the whole world as it was — checked around every call a state machine makes.

:func:`watch_services` wraps the public methods of a world's service models (instance attributes, so only that
world is affected): before the outermost call the whole world is captured (:func:`world_state.world_state`), and if
the call is refused — the service's domain exception — the world must be equal afterwards. :func:`watch_client` does
the same for an httpx client talking to the world: any answer of 400 or more must leave the world as it was.

Before the capture, what the clock alone would change is applied (claims and assignments that came due, tenant CA
generations that rotated in): that is time passing, not the refused request.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

import httpx
from world_state import world_state

from simulator.central.errors import CentralError
from simulator.dps.errors import DpsError
from simulator.dps.hub import HubError
from simulator.sphere.errors import SphereError

REFUSALS: tuple[type[Exception], ...] = (SphereError, CentralError, DpsError, HubError)


def settle(world: Any) -> None:
    """Apply what time alone changes (pending claims and assignments, tenant CA rotation)."""
    with world.lock:
        sphere = getattr(world, "sphere", None)
        if sphere is not None:
            sphere._settle()
            for tenant in list(sphere.tenants.values()):
                tenant.roll()
        dps = getattr(world, "dps", None)
        if dps is not None:
            dps.settle()


def capture(world: Any) -> Any:
    settle(world)
    return world_state(world)


def watch_services(world: Any, *services: Any) -> None:
    """Check every refused call of ``services``' public methods against the whole world's state."""
    depth = [0]
    for service in services:
        for name in dir(type(service)):
            if name.startswith("_"):
                continue
            if not isinstance(inspect.getattr_static(type(service), name), types.FunctionType):
                continue  # properties, static and class methods stay as they are
            setattr(service, name, _checked(world, getattr(service, name), depth))


def _checked(world: Any, method: Callable[..., Any], depth: list[int]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        if depth[0]:
            return method(*args, **kwargs)
        depth[0] += 1
        try:
            before = capture(world)
            try:
                return method(*args, **kwargs)
            except REFUSALS:
                assert world_state(world) == before, f"{method.__qualname__} was refused but changed the world"
                raise
        finally:
            depth[0] -= 1

    return call


def watch_client(world: Any, client: httpx.Client) -> httpx.Client:
    """Check that every answer of 400 or more that ``client`` receives left the world as it was."""
    pending: list[Any] = []

    def before(request: httpx.Request) -> None:
        pending.append(capture(world))

    def after(response: httpx.Response) -> None:
        state = pending.pop()
        if response.status_code >= 400:
            request = response.request
            message = f"{request.method} {request.url} answered {response.status_code} but changed the world"
            assert world_state(world) == state, message

    client.event_hooks["request"].append(before)
    client.event_hooks["response"].append(after)
    return client
