"""Which cloud router is active, and the client patches that exist while one is.

Entering the first ``cloud.mock()`` block installs the patches — httpx's ``HTTPTransport.handle_request`` and
``AsyncHTTPTransport.handle_async_request`` (:mod:`simulator.inprocess.httpx_transport`), requests'
``HTTPAdapter.send`` (:mod:`simulator.inprocess.requests_transport`) — and leaving the last one removes them, so
outside a block both libraries are exactly as shipped. Routers stack: the oldest active one answers (respx's rule
for several active routers), the others wait their turn.

``requests`` is patched when the first block starts if it is already imported; otherwise a finder on
``sys.meta_path`` patches ``requests.adapters`` the moment something imports it inside a block (the Azure SDKs
import their requests transport lazily, on the first pipeline they build). Code that never uses requests never
pays for importing it (~35 ms).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from types import ModuleType
from typing import Any

import httpx

from simulator.inprocess import httpx_transport, requests_transport
from simulator.inprocess.active import ROUTERS as _active

_lock = threading.RLock()
_httpx_originals: tuple[Any, Any] | None = None


def activate(router: Any) -> None:
    """Make ``router`` active (after the ones already active); install the patches if it is the first."""
    with _lock:
        if not _active:
            _install()
        _active.append(router)


def deactivate(router: Any) -> None:
    """``router`` is no longer active; the last one to go removes the patches."""
    with _lock:
        if router in _active:
            _active.remove(router)
            if not _active:
                _uninstall()


def _install() -> None:
    global _httpx_originals
    _httpx_originals = (httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request)
    httpx_transport.ORIGINALS[:] = _httpx_originals
    httpx.HTTPTransport.handle_request = httpx_transport.handle_request  # type: ignore[method-assign]
    httpx.AsyncHTTPTransport.handle_async_request = httpx_transport.handle_async_request  # type: ignore[method-assign]
    adapters = sys.modules.get("requests.adapters")
    if adapters is not None:
        _patch_requests(adapters)
    else:
        sys.meta_path.insert(0, _REQUESTS_HOOK)


def _uninstall() -> None:
    global _httpx_originals
    if _httpx_originals is not None:
        # restore only what is still ours: a patch someone laid over ours while the block ran stays theirs
        if httpx.HTTPTransport.handle_request is httpx_transport.handle_request:
            httpx.HTTPTransport.handle_request = _httpx_originals[0]  # type: ignore[method-assign]
        if httpx.AsyncHTTPTransport.handle_async_request is httpx_transport.handle_async_request:
            httpx.AsyncHTTPTransport.handle_async_request = _httpx_originals[1]  # type: ignore[method-assign]
        _httpx_originals = None
    if _REQUESTS_HOOK in sys.meta_path:
        sys.meta_path.remove(_REQUESTS_HOOK)
    requests_transport.uninstall()


def _patch_requests(adapters: ModuleType) -> None:
    requests_transport.install(adapters)


class _PatchAfterImport(importlib.abc.Loader):
    """Runs the real loader of ``requests.adapters``, then patches the module it made."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        with _lock:
            if _active:
                _patch_requests(module)

    def __getattr__(self, name: str) -> Any:  # get_data, get_filename, is_package … of the real loader
        return getattr(self.loader, name)


class _RequestsImportHook(importlib.abc.MetaPathFinder):
    """Finds ``requests.adapters`` the usual way and hands back its spec with :class:`_PatchAfterImport`."""

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> Any:
        if fullname != "requests.adapters":
            return None
        for finder in list(sys.meta_path):  # what the import system would do without this finder
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None  # a namespace package or a legacy loader: leave it to the import system (not patched)
        spec.loader = _PatchAfterImport(spec.loader)
        return spec


_REQUESTS_HOOK = _RequestsImportHook()
