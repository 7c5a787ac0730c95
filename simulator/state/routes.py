"""``POST /_sim/snapshot`` and ``POST /_sim/restore``: a whole world to one JSON document and back, over HTTP.

Part of the control API (:mod:`simulator.control`), so a trainer or a CI job can prepare a world once and start
every run from it::

    POST /_sim/snapshot                   → 200, the world document (application/json, :mod:`simulator.state.codec`)
    POST /_sim/restore   <the document>   → 200 {"restored": true, "objects": N, "now", "offset_s"[, "endpoints"]}

A restore is checked strictly before anything changes: a document that is not a valid world is a 400
``InvalidWorld`` and the world stays exactly as it was. A persisted world writes the restored world to its state
directory in one transaction before answering. The restored world is *that* world — its tenants, apps, tokens
and secret — so tokens issued in it before the snapshot work after the restore. A served world then re-reads its
defaults (the first tenant and app) and rewrites its endpoints file, returned as ``endpoints``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator import wire
from simulator.control_base import CONTROL_PREFIX, ControlError
from simulator.state.codec import CodecError, dumps, loads

__all__ = ["state_routes"]


async def snapshot(request: Request) -> Response:
    """``POST /_sim/snapshot`` — the whole world as one JSON document (:mod:`simulator.state.codec`)."""
    cloud = request.app.state.cloud
    body = await _read(request, 1024)
    if body.strip() not in (b"", b"{}"):
        raise ControlError(400, "UnknownField", "snapshot takes no body (or {})")
    return Response(dumps(cloud.snapshot()), media_type="application/json")


async def restore(request: Request) -> Response:
    """``POST /_sim/restore`` — become the world the body's document describes; 400 ``InvalidWorld`` changes nothing."""
    cloud = request.app.state.cloud
    raw = await _read(request, MAX_WORLD_BYTES)
    try:
        document = loads(raw)
        _check_text(document)
        cloud.restore(document)
    except CodecError as exc:
        raise ControlError(400, "InvalidWorld", f"not a world this simulator can load: {exc}") from None
    with cloud.lock:
        now = cloud.clock.now()
        answer: dict[str, Any] = {
            "restored": True,
            "objects": len(document.get("objects", {})),
            "now": now.isoformat(),
            "offset_s": cloud.clock.offset.total_seconds(),
        }
        for hook in getattr(request.app.state, "on_restore", []):
            extra = hook()
            if extra:
                answer.update(extra)
    return JSONResponse(answer)


#: the largest world document ``/_sim/restore`` reads (a world of 10⁵ devices is tens of MB)
MAX_WORLD_BYTES = 256 * 1024 * 1024


async def _read(request: Request, limit: int) -> bytes:
    """The body through the wire seam's size check (413 beyond ``limit``, read no further)."""
    try:
        return await wire.read_body(request, max_bytes=limit)
    except wire.WireError as exc:
        raise ControlError(exc.status, "BodyTooLarge", exc.message) from None


def _check_text(document: Any) -> None:
    """No lone surrogate anywhere in the document: it could be stored, but never sent back as UTF-8 (the wire seam
    refuses them in every other body; a world document may nest deeper than the seam's parser allows)."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise CodecError("the document holds a lone UTF-16 surrogate, which is not text") from None


def state_routes() -> list[Route]:
    """The control API's persistence routes (mounted by :func:`simulator.control.build_control_app`)."""
    p = CONTROL_PREFIX
    return [
        Route(f"{p}/snapshot", snapshot, methods=["POST"], name="snapshot"),
        Route(f"{p}/restore", restore, methods=["POST"], name="restore"),
    ]
