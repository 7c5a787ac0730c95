"""pytest plugin ``sphere_harness`` (installed with the package, entry point ``pytest11``): the fake world as fixtures.

Fixtures:

* ``fake_cloud`` — a fresh, empty :class:`~simulator.cloud.FakeCloud` (seed 0) per test with ``cloud.mock()``
  active, so any httpx code in the test that calls ``https://prod.core.sphere.azure.net``,
  ``https://management.azure.com`` or ``https://<app>.azureiotcentral.com`` reaches the fake; its seed and
  settings come from the fixtures ``fake_cloud_seed`` (0) and ``fake_cloud_settings`` (none), which a test module
  or ``conftest.py`` overrides, or a test parametrizes (``served_cloud_settings`` likewise, session-scoped);
* ``fake_world`` — the same world holding a tenant with an Administrator and an IoT Central app, as a served
  world does (:class:`~simulator.control.WorldDefaults`: ``.tenant.tenant_id``, ``.tenant.token``,
  ``.tenant.arm_token``, ``.app.subdomain``, ``.app.api_token``; the world itself is ``fake_cloud``);
* ``served_cloud`` — one world served over HTTPS on loopback for the whole session (a
  :class:`~simulator.server.ServedCloud`: ``.endpoints``, ``.ca_bundle``, ``.cloud``; no MQTT listener);
* ``faults`` — the ``fake_cloud``'s :class:`~simulator.faults.FaultInjector` (``faults.add({...})``, ``.list()``,
  ``.clear()``); every rule is cleared when the test ends;
* ``run_scenario`` — a function ``run_scenario(name_or_path, **kwargs) -> Result`` that runs a scenario on the
  fake target (``--harness-target served`` switches the default) with the test's ``tmp_path`` as work folder;
  ``run_scenario(None, target="replay", recording="recordings/enable-trust.json")`` replays a recording offline
  (its own scenario when none is named), ``record="out.json"`` records a run;
* ``replayed`` — the :class:`~harness.results.Result` of replaying the recording named by the test's
  ``@pytest.mark.recording("recordings/NAME.json")`` marker (paths relative to the test file, then the current
  folder), so a project's CI can replay yesterday's live recording on every commit::

      @pytest.mark.recording("recordings/enable-trust.json")
      def test_the_recorded_workflow_still_replays(replayed):
          assert replayed.passed, replayed.failed_step

Markers: ``fake_only`` (the test needs the simulator control surface; skipped with ``--harness-target live``),
``served`` (the test opens sockets on loopback) and ``recording(path, scenario=None)`` (the recording ``replayed``
plays; ``--harness-record-mode once|all`` records it first on ``--harness-target``, as pytest-recording's
``--record-mode`` does).

**Cost.** Installing the package registers this plugin in every pytest run of the environment, so this module
imports only pytest: each fixture imports the harness or the fakes when a test first asks for it. A run that uses
none of them pays nothing (``bench/startup.py`` compares pytest start-up with and without ``-p no:sphere_harness``).

Example::

    import httpx

    def test_my_onboarding_code(fake_world):
        tenants = httpx.get("https://prod.core.sphere.azure.net/v2/tenants",
                            headers={"Authorization": f"Bearer {fake_world.tenant.token}"}).json()
        assert tenants[0]["Id"] == fake_world.tenant.tenant_id

    def test_seed_workflow(run_scenario):
        result = run_scenario("enable-trust", seed=7)
        assert result.passed, result.failed_step
        assert result.variables["entry"]["verified"] is True

    def test_my_client_against_the_fake(fake_cloud):
        from simulator.control import create_tenant
        access = create_tenant(fake_cloud, name="Contoso")
        tenants = httpx.get("https://prod.core.sphere.azure.net/v2/tenants",
                            headers={"Authorization": f"Bearer {access.token}"}).json()
        assert tenants[0]["Id"] == access.tenant_id
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TARGET_OPTION = "--harness-target"
RECORD_MODE_OPTION = "--harness-record-mode"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sphere_harness", "sphere-harness fake world")
    group.addoption(
        TARGET_OPTION,
        action="store",
        default="fake",
        choices=("fake", "served", "live", "replay"),
        help="default target of the run_scenario fixture (live also needs SPHERE_HARNESS_LIVE=1 and a configuration)",
    )
    group.addoption(
        RECORD_MODE_OPTION,
        action="store",
        default="none",
        choices=("none", "once", "all"),
        help="what the `replayed` fixture does with its recording: none = replay it (default), once = record it on "
        "--harness-target when the file is missing, all = record it again",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fake_only: needs the simulator control surface; skipped on the live target")
    config.addinivalue_line("markers", "served: starts real HTTPS/MQTT listeners on loopback")
    config.addinivalue_line("markers", "recording(path): the recording the `replayed` fixture replays offline")


def pytest_report_header(config: pytest.Config) -> str:
    from harness._version import __version__

    return f"sphere-harness {__version__} (default target {config.getoption(TARGET_OPTION, 'fake')})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption(TARGET_OPTION, "fake") != "live":
        return
    skip = pytest.mark.skip(reason="fake-only test: the live target has no simulator control surface")
    for item in items:
        if item.get_closest_marker("fake_only") is not None:
            item.add_marker(skip)


@pytest.fixture
def fake_cloud_seed() -> int:
    """The seed of ``fake_cloud`` (0). Override the fixture, or parametrize it, for other names, keys and IDs."""
    return 0


@pytest.fixture
def fake_cloud_settings() -> dict[str, Any]:
    """Settings of ``fake_cloud`` (docs/fidelity.md), as nested mappings: ``{"central": {"code_reuse": True}}``.

    None by default. Override the fixture in a ``conftest.py`` or a test module, or for one test::

        @pytest.mark.parametrize("fake_cloud_settings", [{"central": {"code_reuse": True}}])
        def test_a_code_is_reused(fake_world): ...
    """
    return {}


@pytest.fixture
def fake_cloud(fake_cloud_seed: int, fake_cloud_settings: dict[str, Any]) -> Iterator[Any]:
    """A fresh in-process fake world with respx routing the real Azure host names into it (seed and settings from
    ``fake_cloud_seed`` and ``fake_cloud_settings``)."""
    from simulator.cloud import FakeCloud

    cloud = FakeCloud(seed=fake_cloud_seed, settings=fake_cloud_settings or None)
    with cloud.mock():
        yield cloud


@pytest.fixture
def fake_world(fake_cloud: Any) -> Any:
    """``fake_cloud`` with a tenant (and its Administrator's tokens) and an IoT Central app (and an API token)."""
    from simulator.control import ensure_defaults

    return ensure_defaults(fake_cloud)


@pytest.fixture
def faults(fake_cloud: Any) -> Iterator[Any]:
    """The fault rules of ``fake_cloud``: ``faults.add({"service": "central", "operation": "verify", ...})``.

    Rules added in the test are removed afterwards, so a misbehaving service never leaks into the next test.
    """
    try:
        yield fake_cloud.faults
    finally:
        fake_cloud.faults.clear()


@pytest.fixture(scope="session")
def served_cloud_settings() -> dict[str, Any]:
    """Settings of ``served_cloud`` (none by default); override it, session-scoped, in a ``conftest.py``."""
    return {}


@pytest.fixture(scope="session")
def served_cloud(served_cloud_settings: dict[str, Any]) -> Iterator[Any]:
    """One fake world served over HTTPS on loopback for the session (``.endpoints``, ``.ca_bundle``)."""
    from simulator.cloud import FakeCloud

    cloud = FakeCloud(seed=0, settings=served_cloud_settings or None)
    with cloud.serve(port=0, mqtt_port=None) as served:
        yield served


@pytest.fixture
def run_scenario(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """``run_scenario(name_or_path, target=None, seed=None, workdir=None, **kw) -> harness.Result``."""
    from harness.runner import run_scenario as run

    default_target = request.config.getoption(TARGET_OPTION, "fake")

    def runner(name_or_path: str | Path, target: Any = None, seed: int | None = None, workdir: Any = None, **kw):
        return run(name_or_path, target or default_target, seed=seed, workdir=workdir or tmp_path, **kw)

    return runner


@pytest.fixture
def replayed(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The result of replaying the recording of the test's ``@pytest.mark.recording(path, scenario=None)`` (no
    sockets, no fakes). With ``--harness-record-mode once`` a missing recording is first made by running
    ``scenario`` (default: the file's name) on ``--harness-target``; with ``all`` it is always made again."""
    from harness.recording.cassette import RecordMode
    from harness.runner import run_scenario as run

    marker = request.node.get_closest_marker("recording")
    if marker is None or not marker.args:
        raise pytest.UsageError('the `replayed` fixture needs @pytest.mark.recording("path/to/recording.json")')
    path = Path(marker.args[0])
    if not path.is_absolute():
        beside = Path(str(request.node.fspath)).parent / path
        path = beside if beside.exists() else Path.cwd() / path
    mode = RecordMode.parse(request.config.getoption(RECORD_MODE_OPTION, "none"))
    scenario = marker.kwargs.get("scenario")
    if mode is RecordMode.ALL or (mode is RecordMode.ONCE and not path.exists()):
        target = request.config.getoption(TARGET_OPTION, "fake")
        recorded = run(scenario or path.stem, target, workdir=tmp_path / "recorded", record=path)
        if not recorded.passed:
            pytest.fail(f"recording {path} on {target}: {recorded.failed_step or recorded.error}", pytrace=False)
    elif not path.exists():
        pytest.fail(f"no recording at {path}: make it with --harness-record-mode once (or run --record)", pytrace=False)
    return run(scenario, "replay", workdir=tmp_path / "replayed", recording=path)
