"""The endpoints file of a served world: written when the world is ready, gone when it is not, never left stale.

Tools in any language find a served world through one JSON file (URLs, CA bundle, tokens — see
:mod:`simulator.server`). A file that outlives its server points at dead ports (issue 16, reproduction 10), so:

* it is written atomically (temporary file + rename, mode 0600: it holds bearer tokens) and names the serving
  process (``"pid"``);
* it is removed by :meth:`ServedCloud.stop <simulator.server.ServedCloud.stop>` — on a normal stop, on SIGINT and
  SIGTERM (the CLI turns both into a stop) and when the serving code raises — and, for a process that ends without
  stopping its world, by an :mod:`atexit` hook. Only ``kill -9`` (or a power cut) can leave one behind;
* on start, an existing file is examined (:func:`claim`): if its process is gone or its control URL no longer
  accepts connections it is *stale* and replaced (with a log line saying so); if its world is still serving, start
  refuses rather than clobber a live world's file.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

_written: set[Path] = set()
_written_lock = threading.Lock()


class EndpointsFileInUse(RuntimeError):
    """The endpoints file belongs to a world that is still serving."""


def write(path: Path, endpoints: dict[str, Any]) -> None:
    """Write ``endpoints`` to ``path`` atomically (mode 0600) and remember to remove it when the process exits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(endpoints, handle, indent=2)
            handle.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with _written_lock:
        _written.add(path)


def remove(path: Path) -> None:
    """Remove the file if it is this process's (another process may have replaced it meanwhile)."""
    with _written_lock:
        _written.discard(path)
    _unlink_own(path)


def _unlink_own(path: Path) -> None:
    try:
        owner = json.loads(path.read_text(encoding="utf-8")).get("pid")
    except FileNotFoundError:
        return
    except (OSError, ValueError, AttributeError):
        owner = None
    if owner in (None, os.getpid()):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def claim(path: Path) -> None:
    """Make way for a new world's endpoints file at ``path``: remove a stale one, refuse a live one."""
    if not path.exists():
        return
    reason = stale_reason(path)
    if reason is None:
        try:
            pid = json.loads(path.read_text(encoding="utf-8")).get("pid")
        except (OSError, ValueError, AttributeError):
            pid = None
        raise EndpointsFileInUse(
            f"{path} belongs to a world that is still serving (pid {pid}); stop it or choose another endpoints file"
        )
    log.warning("replacing the stale endpoints file %s (%s)", path, reason)
    path.unlink(missing_ok=True)


def stale_reason(path: Path) -> str | None:
    """Why the endpoints file at ``path`` is stale, or None if its world is still serving."""
    try:
        endpoints = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "it is gone"
    except (OSError, ValueError) as exc:
        return f"it is not readable JSON: {exc}"
    if not isinstance(endpoints, dict):
        return "it is not an endpoints object"
    pid = endpoints.get("pid")
    if isinstance(pid, int) and not isinstance(pid, bool) and not _alive(pid):
        return f"its process {pid} is gone"
    url = endpoints.get("control_url")
    if not isinstance(url, str):
        return "it names no control URL"
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 443), timeout=1):
            pass
    except (OSError, ValueError):
        return f"nothing answers at {parts.hostname}:{parts.port}"
    return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    except OSError:
        return False
    return True


@atexit.register
def _remove_all() -> None:
    """A process ending without stopping its served worlds removes their endpoints files."""
    with _written_lock:
        paths = list(_written)
        _written.clear()
    for path in paths:
        _unlink_own(path)
