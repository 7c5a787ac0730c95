"""Starlette compiles a route's path pattern once per process here, not once per route object.

Every world builds its own service adapters (their routes hold the world's models), so a test suite or a benchmark
that makes a fresh world per test builds the same ~60 Starlette routes again and again — and
``starlette.routing.compile_path`` (path pattern → regex, format string, parameter convertors) is most of what
building a route costs: about a third of making a world's adapters, more than its tenant CA. The result depends on
the pattern text alone, so :func:`install` puts a memoizing wrapper in its place (each caller still gets its own
convertor mapping). Starlette offers no hook for this; the wrapper is installed once, when the first adapter of a
world is built, and behaves exactly like the original for every caller in the process.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import starlette.routing

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Memoize ``starlette.routing.compile_path`` by pattern (idempotent, thread-safe)."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        original = starlette.routing.compile_path
        remembered = functools.lru_cache(maxsize=2048)(original)

        @functools.wraps(original)
        def compile_path(path: str) -> tuple[Any, str, dict[str, Any]]:
            regex, path_format, convertors = remembered(path)
            return regex, path_format, dict(convertors)

        compile_path.__wrapped_original__ = original  # type: ignore[attr-defined]
        starlette.routing.compile_path = compile_path
        _installed = True
