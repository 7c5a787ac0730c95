"""World templates: build the costly part of a world once per process, hand every new world an independent copy.

Making a seeded world is cheap — except its first tenant: the tenant CA is a P-256 key signed by the P-384 policy
CA, about two thirds of what ``FakeCloud(seed)`` plus :func:`simulator.control.ensure_defaults` costs (the P-384
signature alone is ~0.3 ms). A test suite that wants a fresh world with its default tenant and app per test pays
that again and again for the same bytes: with a seed, the tenant's ID, key and certificate are the same every time.

Two tools, one mechanism (:func:`clone`, a copy of an object graph that shares what cannot change):

* :meth:`FakeCloud.clone() <simulator.cloud.FakeCloud.clone>` — an independent copy of a whole world, as
  ``snapshot()`` + ``restore()`` would make it but without encoding anything: the same state, the same secret (a
  copy is the same world, so its tokens work in it), its own lock, no adapters, no request journal, no store;
* **the default-tenant template** — :func:`simulator.control.ensure_defaults` on a *pristine* seeded world (no
  tenant, user, app, device or fault rule yet; in memory) takes the Sphere model of a template world that already
  holds the default tenant and its Administrator, built once per process for each (seed, settings, clock), instead
  of creating the tenant. Everything that involves the world's secret — the app's signing key, the tokens — is
  made afterwards in the new world as usual, so its tokens still work in it alone.

**What is shared, what is copied.** Immutable values are shared: strings, numbers, instants, certificates, keys,
frozen dataclasses (a CA :class:`~simulator.pki.Issuer` with its leaf-certificate template included), tuples and
frozensets of them. Everything mutable is copied: model records (any class under ``simulator.``), dicts, lists,
sets, the random streams (with their position), the clock; locks are new. This is the codec's classification
(:mod:`simulator.state.codec`), so a model class the codec can store can be cloned, with no per-class code.
``tests/test_world_templates.py`` proves worlds from one template independent under hypothesis: any sequence of
operations on one leaves the others exactly as they were (``dump_world``), and a world made from the template is
the world made the long way.

**Time.** A template is built at the instant its clock reads: with a frozen clock (``Clock(start, frozen=True)``)
that is exactly the world's own instant, so a world from the template equals the one made the long way. With a
clock that follows real time, the default tenant of a world from the template dates from when the template was
made (earlier in this process, the same UTC day — a template is made anew each day); a clock set anywhere else
(``Clock(start)`` running, or travelled) gets no template.
"""

from __future__ import annotations

import contextlib
import copy
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.state.codec import Kind, base_type, container_kind, kind_of, skipped_names, world_class

__all__ = [
    "CopiedRandom",
    "adopt_sphere",
    "clone",
    "clone_world",
    "default_tenant_template",
    "disabled",
    "sphere_template",
    "template_key",
]


_IMMUTABLE = (Kind.SCALAR, Kind.LEAF, Kind.VALUE, Kind.EXCEPTION, Kind.FROZENSET)


class CopiedRandom:
    """A copy of a random generator's state that becomes a real :class:`random.Random` on first use.

    A world's streams are copied with it; most of a clone's streams are never drawn from (a test uses a few), and
    building a generator from a state costs more than the rest of a stream's copy. ``getstate()`` answers without
    building one (the codec and the tests read states). The first other call puts the real generator in its
    owner's place — :class:`~simulator.entropy.Entropy` calls its generator with its own lock held, so that happens
    once.
    """

    __slots__ = ("_owner", "_state")

    def __init__(self, owner: Entropy, state: tuple[Any, ...]) -> None:
        self._owner = owner
        self._state = state

    def getstate(self) -> tuple[Any, ...]:
        return self._state

    def __getattr__(self, name: str) -> Any:
        generator = random.Random.__new__(random.Random)
        generator.setstate(self._state)
        self._owner._random = generator
        return getattr(generator, name)


def _random_state(generator: Any) -> tuple[Any, ...]:
    return generator._state if type(generator) is CopiedRandom else generator.getstate()


class _Cloner:
    """One copy of one object graph; ``memo`` maps ``id(original)`` to its copy (and may be seeded: "use this")."""

    def __init__(self, memo: dict[int, Any], secret: Any, states: dict[int, Any] | None) -> None:
        self.memo = memo
        self.secret = secret  # a replacement secret for every random stream, or _KEEP
        self.states = states  # generator states by id(Entropy), reused between clones of a template (or None)
        self._originals: list[Any] = []  # ids are id()s: the originals must outlive the copy

    def copy(self, value: Any) -> Any:
        cls = type(value)
        if cls is str or cls is int or cls is bool or value is None:
            return value
        found = self.memo.get(id(value))
        if found is not None:
            return found
        kind = kind_of(cls)
        if kind in _IMMUTABLE:
            return value
        if kind is Kind.CONTAINER:
            return self._container(value, container_kind(cls))
        if kind is Kind.RECORD:
            return self._record(value, base_type(cls))
        if kind is Kind.TUPLE:
            items = tuple(self.copy(v) for v in value)
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        if kind is Kind.LOCK:
            return threading.RLock() if "RLock" in cls.__name__ else threading.Lock()
        raise TypeError(f"cannot clone a {cls.__module__}.{cls.__qualname__}: not world state (see simulator.state)")

    def _keep(self, original: Any, copied: Any) -> Any:
        self.memo[id(original)] = copied
        self._originals.append(original)
        return copied

    def _container(self, value: Any, kind: str | None) -> Any:
        copy = self.copy
        if kind == "dict":
            new: Any = self._keep(value, {})
            for key, item in value.items():
                new[copy(key)] = copy(item)
            return new
        if kind == "list":
            new = self._keep(value, [])
            new.extend(copy(item) for item in value)
            return new
        new = self._keep(value, set())
        new.update(copy(item) for item in value)
        return new

    def _record(self, value: Any, cls: type) -> Any:
        if cls is Entropy:
            return self._keep(value, self._entropy(value))
        if cls is Clock:
            return self._keep(value, _clock_copy(value))
        new = self._keep(value, object.__new__(cls))
        skipped = skipped_names(cls)
        state = new.__dict__
        copy = self.copy
        for name, item in vars(value).items():
            if name not in skipped and not name.startswith("_p_"):
                state[name] = copy(item)
        return new

    def _entropy(self, entropy: Entropy) -> Entropy:
        new = object.__new__(Entropy)
        own = vars(new)
        own.update((k, v) for k, v in vars(entropy).items() if not k.startswith("_p_"))
        own["_lock"] = threading.Lock()
        generator = entropy._random
        if generator is not None:
            if self.states is not None:
                state = self.states.get(id(entropy))
                if state is None:
                    state = self.states[id(entropy)] = _random_state(generator)
            else:
                with entropy._lock:
                    state = _random_state(generator)
            own["_random"] = CopiedRandom(new, state)
        if self.secret is not _KEEP:
            own["secret"] = self.secret
        return new


_KEEP = object()


def _clock_copy(clock: Clock) -> Clock:
    new = object.__new__(Clock)
    vars(new).update((k, v) for k, v in vars(clock).items() if not k.startswith("_p_"))
    new._lock = threading.Lock()
    new._listeners = []
    return new


def clone(
    root: Any, *, share: dict[int, Any] | None = None, secret: Any = _KEEP, states: dict[int, Any] | None = None
) -> Any:
    """An independent copy of the object graph under ``root`` (see the module docstring for what is shared).

    ``share`` maps ``id(original)`` to the object the copy should use instead of copying it (e.g. the clock and
    settings of the world the copy goes into); ``secret`` replaces the secret of every random stream copied;
    ``states`` keeps the streams' generator states between clones of a graph that no longer draws (a template).
    """
    return _Cloner(dict(share or {}), secret, states).copy(root)


def clone_world(cloud: Any) -> Any:
    """A new world in ``cloud``'s state (:meth:`simulator.cloud.FakeCloud.clone`)."""
    with cloud.lock:
        return clone(cloud, share={id(cloud.lock): threading.RLock()})


# -- the default-tenant template ---------------------------------------------------------------------------------

_TEMPLATES: dict[tuple[Any, ...], Any] = {}
_TEMPLATES_LOCK = threading.Lock()
_MAX_TEMPLATES = 32
_disabled = threading.local()


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """No default-tenant template in this thread for the block: every world makes its tenant the long way (for
    comparisons — the tests' and the benchmarks' before/after)."""
    before = getattr(_disabled, "on", False)
    _disabled.on = True
    try:
        yield
    finally:
        _disabled.on = before


def template_key(cloud: Any) -> tuple[Any, ...] | None:
    """The key of the default-tenant template ``cloud`` may take, or None when it may take none: the world must be
    seeded, in memory, pristine (no tenant, user, device, app or fault rule, no draw from the Sphere model's random
    streams yet) and on a frozen or real-time clock."""
    if cloud.seed is None or getattr(cloud, "_store", None) is not None:
        return None
    sphere, central = cloud.sphere, cloud.central
    if sphere.tenants or sphere.users or sphere.devices or central.apps or cloud.faults.rules:
        return None
    clock = cloud.clock
    if clock._frozen:
        moment: Any = ("frozen", clock._frozen_at)
    elif clock._offset == timedelta(0) and clock._source is time.time:
        moment = ("real", datetime.now(UTC).date())
    else:
        return None
    return (cloud.seed, _settings_key(cloud.settings), moment)


_DEFAULT_SETTINGS: Any = None


def _settings_key(settings: Any) -> str:
    global _DEFAULT_SETTINGS
    if _DEFAULT_SETTINGS is None:
        _DEFAULT_SETTINGS = type(settings)()
    return "default" if settings == _DEFAULT_SETTINGS else repr(settings)


def _stream_positions(sphere: Any) -> tuple[Any, ...]:
    """Where each random stream of a Sphere model stands (a pristine model's are where the seed put them)."""
    return tuple(
        (name, _random_state(value._random) if value._random is not None else None)
        for name, value in sorted(vars(sphere).items())
        if isinstance(value, Entropy)
    )


class _Template:
    """A template world, where its Sphere model's streams stood before it was built, their states after, and what
    its recipe's ``build`` returned."""

    def __init__(self, world: Any, pristine: tuple[Any, ...], result: Any) -> None:
        self.world = world
        self.pristine = pristine
        self.result = result
        self.states: dict[int, Any] = {}


class _Refused:
    """A recipe whose ``build`` raised on a pristine world: the world the long way would refuse it too."""

    def __init__(self, pristine: tuple[Any, ...]) -> None:
        self.pristine = pristine


def default_tenant_template(cloud: Any, build: Callable[[Any], None]) -> Any | None:
    """The default-tenant template for ``cloud`` (:func:`sphere_template` with the recipe ``"defaults"``)."""
    return sphere_template(cloud, ("defaults",), build)


def sphere_template(cloud: Any, recipe: tuple[Any, ...], build: Callable[[Any], Any]) -> Any | None:
    """The template world of ``recipe`` for ``cloud`` — made by ``build(world)`` on a pristine world like ``cloud``
    (same seed, settings and instant) if this process has none yet — or None when ``cloud`` may take none
    (:func:`template_key`) or ``build`` raised (the recipe is then remembered as refused: the caller takes the long
    way, whose refusal is the real one).

    ``recipe`` must name everything ``build`` does that changes the result (hashable); ``build`` runs under the
    template world's lock, changes only its Sphere model and what the Sphere model alone decides (the caller
    adopts the Sphere model, nothing else), and may return a value for the caller (``template.result``).
    """
    key = None if getattr(_disabled, "on", False) else template_key(cloud)
    if key is None:
        return None
    key = (*key, recipe)
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get(key)
    if template is None:
        clock = cloud.clock
        template_clock = Clock(clock._frozen_at, frozen=True) if clock._frozen else Clock()
        world_type = world_class(type(cloud))  # FakeCloud, found without importing the module above this one
        assert world_type is not None, f"{type(cloud).__name__} is not a world"
        world = world_type(cloud.seed, settings=copy.deepcopy(cloud.settings), clock=template_clock)
        pristine = _stream_positions(world.sphere)
        try:
            with world.lock:
                result = build(world)
        except Exception:  # any refusal: the long way answers it (and says why)
            template = _Refused(pristine)
        else:
            template = _Template(world, pristine, result)
        with _TEMPLATES_LOCK:
            if len(_TEMPLATES) >= _MAX_TEMPLATES:
                _TEMPLATES.pop(next(iter(_TEMPLATES)))
            template = _TEMPLATES.setdefault(key, template)
    if isinstance(template, _Refused):
        return None
    if _stream_positions(cloud.sphere) != template.pristine:
        return None  # something drew from the Sphere model's streams already: not the world the template began as
    return template


def adopt_sphere(cloud: Any, template: _Template) -> None:
    """Give ``cloud`` a copy of the template's Sphere model, bound to ``cloud``'s clock, settings and secret."""
    world = template.world
    share = {id(world.clock): cloud.clock, id(world.settings): cloud.settings}
    for name in vars(world.settings):
        share[id(getattr(world.settings, name))] = getattr(cloud.settings, name)
    with world.lock:
        cloud.sphere = clone(world.sphere, share=share, secret=cloud.entropy.secret, states=template.states)
    cloud.dps.sphere = cloud.sphere
    cloud._forget_adapters()  # an adapter built already would hold the Sphere model it replaced
