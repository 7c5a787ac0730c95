"""World files: a world document (:mod:`simulator.state.codec`) as one file on disk — ``.json``, or ``.json.gz``.

What ``sphere-harness state export`` writes and ``state import`` / ``serve --from-snapshot`` read. The file is the
document's canonical JSON text (:func:`~simulator.state.codec.dumps`), gzip-compressed when the name ends in
``.gz`` (a world with a few thousand devices shrinks about fivefold). Writing is atomic (temporary file + rename,
mode 0600: a world holds private keys and tokens). Reading is bounded — at most ``max_bytes`` of JSON, also after
decompression, so a small hostile ``.gz`` cannot expand without limit — and the document is only *parsed* here;
:func:`~simulator.state.codec.load_world` checks it.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path
from typing import Any

from simulator.state.codec import CodecError, dumps, loads

__all__ = ["MAX_WORLD_BYTES", "read_world_file", "write_world_file"]

MAX_WORLD_BYTES = 1 << 30  # 1 GiB of JSON: far beyond a 10⁵-device world


def write_world_file(document: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``document`` to ``path`` (gzip if it ends in ``.gz``); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = dumps(document).encode("ascii")
    if target.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_world_file(path: str | os.PathLike[str], *, max_bytes: int = MAX_WORLD_BYTES) -> dict[str, Any]:
    """The (parsed, not yet checked) document in ``path``; :class:`CodecError` if it is not one."""
    source = Path(path)
    try:
        with source.open("rb") as raw:
            head = raw.read(2)
            raw.seek(0)
            stream: Any = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
            data = stream.read(max_bytes + 1)
    except (OSError, EOFError) as exc:
        raise CodecError(f"cannot read {source}: {exc}") from None
    if len(data) > max_bytes:
        raise CodecError(f"{source} holds more than {max_bytes} bytes of JSON")
    return loads(data)
