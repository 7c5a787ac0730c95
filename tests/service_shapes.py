"""Each service's error shape, as a check on an ``httpx.Response`` — shared by the input and fuzz tests.

A refusal must come back the way the service the client called would send it (the reference's wire contracts):
IoT Central ``{"error": {code, message, requestId, time}}`` with ``x-ms-error-code``; the Sphere legacy API an array
of ``PublicApiErrorDetails``; ARM ``{"error": {code, message[, target, details, additionalInfo]}}``; DPS
``ProvisioningServiceErrorDetails``; the control surface ``{"error": {code, message}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

LEGACY_DETAIL_KEYS = {"Type", "Title", "Status", "Detail", "Instance", "ErrorCode", "Extensions"}


def central(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "requestId", "time"}, error
    assert response.headers["x-ms-error-code"] == error["code"]
    return error


def legacy(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    detail = body[0] if isinstance(body, list) else body
    assert isinstance(body, list) and len(body) == 1, body
    assert set(detail) == LEGACY_DETAIL_KEYS, detail
    assert detail["Status"] == response.status_code
    return detail


def arm(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "target", "details", "additionalInfo"}, error
    assert isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str)
    return error


def dps(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"errorCode", "trackingId", "message", "timestampUtc"}, body
    assert isinstance(body["errorCode"], int) and 100000 <= body["errorCode"] <= 999999
    assert response.headers["x-ms-error-code"] == str(body["errorCode"])
    return body


def control(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert set(error) == {"code", "message"}, error
    return error


SHAPES: dict[str, Callable[[httpx.Response], dict[str, Any]]] = {
    "central": central,
    "sphere-legacy": legacy,
    "sphere-arm": arm,
    "dps": dps,
    "control": control,
}


def assert_refusal(service: str, response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A 4xx (``status`` if given) in ``service``'s own error shape; returns the error object."""
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text[:500])
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    return SHAPES[service](response)
