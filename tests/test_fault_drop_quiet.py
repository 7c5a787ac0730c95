"""A served ``drop`` fault closes the connection without uvicorn's "Exception in ASGI application" traceback.

The drop is what the tester asked for, not a server error: :class:`simulator.fault_middleware.QuietInjectedDrops`
filters exactly those records out of uvicorn's error logger, and nothing else.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import httpx
import pytest

from simulator.cloud import FakeCloud
from simulator.fault_middleware import InjectedDrop, QuietInjectedDrops, quiet_injected_drops
from simulator.server import serve_cloud


def _record(exc: BaseException | None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application", (), exc_info)


def test_the_filter_drops_only_injected_drops() -> None:
    quiet = QuietInjectedDrops()
    assert not quiet.filter(_record(InjectedDrop("injected connection drop on central/verify")))
    assert quiet.filter(_record(RuntimeError("a real bug")))
    assert quiet.filter(_record(None))


def test_installing_twice_adds_one_filter() -> None:
    quiet_injected_drops("sphere-harness-test")
    quiet_injected_drops("sphere-harness-test")
    filters = logging.getLogger("sphere-harness-test").filters
    assert sum(isinstance(f, QuietInjectedDrops) for f in filters) == 1


@pytest.mark.served
def test_a_served_drop_is_a_transport_error_and_logs_no_traceback(tmp_path: Path) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    cloud = FakeCloud(seed=3)
    try:
        with serve_cloud(cloud, mqtt_port=None, workdir=tmp_path) as served:
            central = served.endpoints["central"]
            rule = cloud.faults.add({"service": "central", "count": 1, "effect": {"kind": "drop"}})
            url = central["url"] + "/api/enrollmentGroups"
            with httpx.Client(
                verify=ssl.create_default_context(cafile=served.ca_bundle),
                headers={"Authorization": central["api_token"]},
            ) as client:
                with pytest.raises(httpx.TransportError):
                    client.get(url, params={"api-version": "2022-07-31"})
                assert client.get(url, params={"api-version": "2022-07-31"}).status_code == 200
    finally:
        logger.removeHandler(handler)
    assert rule.fired == 1
    assert not [r for r in records if r.exc_info and isinstance(r.exc_info[1], InjectedDrop)]
    assert "Exception in ASGI application" not in [r.getMessage() for r in records]
