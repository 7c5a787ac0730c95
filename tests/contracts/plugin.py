"""The contract layer as a pytest plugin: on for the whole suite, failing the test that caused a violation.

Loaded from ``tests/conftest.py``. At start-up it installs the two seams of :mod:`contracts.layer` — the
response check around every service adapter a :class:`~simulator.cloud.FakeCloud` builds, the request check on
every harness wire client — and after each phase of each test (setup, call, teardown) it fails that phase if a
violation was recorded during it, listing each one (service, operation, status, JSON path, message).

A test that *means* to receive a non-conforming answer says so, with its reason::

    @pytest.mark.contract_exempt("a fault rule answers 418, which no operation declares")

Its violations are still collected (so they cannot leak into the next test) but do not fail it. Use it for a
deliberately broken exchange only, never to silence a fake that answers wrongly.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from contracts.layer import RECORDER, check_client_request, wrap_adapter


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "contract_exempt(reason): the test deliberately receives answers that break the published contract"
    )
    from harness.clients import base
    from simulator import cloud

    if wrap_adapter not in cloud.ADAPTER_WRAPPERS:
        cloud.ADAPTER_WRAPPERS.append(wrap_adapter)
    if check_client_request not in base.REQUEST_OBSERVERS:
        base.REQUEST_OBSERVERS.append(check_client_request)


def _judge(item: pytest.Item, phase: str) -> None:
    found = RECORDER.drain()
    if not found or item.get_closest_marker("contract_exempt") is not None:
        return
    lines = "\n".join(f"  {violation}" for violation in found[:20])
    more = f"\n  … and {len(found) - 20} more" if len(found) > 20 else ""
    pytest.fail(f"contract violations during {phase} ({len(found)}):\n{lines}{more}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    RECORDER.drain()  # whatever happened between tests (a background thread, collection) is not this test's
    result = yield
    _judge(item, "setup")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    result = yield
    _judge(item, "the test")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    result = yield
    _judge(item, "teardown")
    return result
