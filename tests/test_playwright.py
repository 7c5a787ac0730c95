"""The portal in a real browser: Playwright driving Debian's headless Chromium against a served world.

Skipped, with the reason, when ``/usr/bin/chromium`` is missing (``apt-get install chromium``; ``.ci/run`` installs
it). ``SPHERE_HARNESS_SCREENSHOTS=1`` also writes the screenshots ``docs/training.md`` shows into ``docs/images/``::

    SPHERE_HARNESS_SCREENSHOTS=1 .venv/bin/python -m pytest tests/test_playwright.py
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from simulator.cloud import FakeCloud
from simulator.pki import to_der

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "images"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--ignore-certificate-errors",  # the lab's local CA is not in the browser's store
]

pytestmark = [
    pytest.mark.served,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no browser at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tempfile.mkdtemp(prefix="sphere-harness-chromium-")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS, viewport={"width": 1200, "height": 760}
        )
        try:
            yield context.new_page()
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def shot(page, name: str) -> None:
    if os.environ.get("SPHERE_HARNESS_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.mark.playwright
def test_a_learner_walks_the_portal_part_of_the_unit_to_verified(page, tmp_path: Path) -> None:
    cloud = FakeCloud(seed=13)
    with cloud.serve(mqtt_port=None, endpoints_file=tmp_path / "ep.json") as served:
        endpoints = served.endpoints
        tenant = cloud.sphere.get_tenant(endpoints["sphere"]["tenant_id"])
        ca_file = tmp_path / "CAcertificate.cer"
        ca_file.write_bytes(to_der(tenant.active_generation().certificate))

        page.goto(endpoints["central"]["portal_url"])
        page.get_by_role("button", name="Menu").click()
        shot(page, "01-menu")
        page.get_by_text("Administration", exact=True).click()
        page.get_by_role("link", name="Device Connection").click()
        page.get_by_role("link", name="+ New").click()
        page.get_by_label("Name").fill("Azure Sphere")
        page.get_by_label("Attestation type").select_option(label="Certificates (X.509)")
        shot(page, "02-new-group")
        page.get_by_role("button", name="Save").click()
        page.get_by_role("link", name="+ Manage primary").click()
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Open file for Primary").click()
        chooser.value.set_files(str(ca_file))
        page.wait_for_url("**/primary")
        page.get_by_role("button", name="Primary certificate settings").click()
        page.get_by_role("button", name="Generate verification code").click()
        code = page.get_by_role("textbox", name="Verification code").input_value()
        assert len(code) == 48
        shot(page, "03-verification-code")

        proof_file = tmp_path / "ValidationCertification.cer"
        proof_file.write_bytes(to_der(cloud.sphere.issue_proof(tenant.id, code)))
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Verify").click()
        chooser.value.set_files(str(proof_file))
        page.locator("dialog").get_by_text("Verified", exact=True).wait_for()
        shot(page, "04-verified")
        page.get_by_role("link", name="Close").click()
        page.get_by_role("button", name="Save").click()
        assert cloud.central.default_app.get_certificate("azure-sphere", "primary").verified
        page.goto(endpoints["central"]["url"] + "/checklist")
        shot(page, "05-checklist")
        assert page.locator("li.done").count() == 6
