"""The enable-trust unit in a real browser: Playwright driving Debian's headless Chromium against a served classroom.

One test walks the **whole unit** as a learner does it: the unit's ``azsphere`` lines in a lab shell (the real
shims, in a subprocess, after ``eval "$(sphere-harness lab env …)"``), the IoT Central pages for the enrollment
group, the upload and the verification code, the shell again for the proof, the page for **Verify** → **Verified**,
then a device made with ``sphere-harness device new``, claimed with ``azsphere device claim`` and connected with
``sphere-harness device connect`` shows as **Provisioned** on the Devices page, and the Checklist is all ticked.
The others: every refusal the unit can meet shown on the page with the world unchanged, sign-in isolation between
two trainees, and the instructor page.

Cost in CI: one Chromium for the whole file (module fixture; ``--dist loadfile`` keeps the file on one worker), one
cheap browser context per trainee, one classroom world. Skipped, with the reason, when ``/usr/bin/chromium`` is
missing (``apt-get install chromium``; ``.ci/run`` installs it).

The screenshots ``docs/training.md`` shows are taken by these tests; to regenerate them (into ``docs/images/``)::

    SPHERE_HARNESS_SCREENSHOTS=1 .venv/bin/python -m pytest tests/test_playwright.py -p no:xdist
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from harness.lab.classroom import Classroom, TraineeAccess, serve_classroom
from simulator.pki import get_common_name, to_der
from simulator.state import describe_differences, dump_world

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "images"
SPHERE_HARNESS = Path(sys.executable).with_name("sphere-harness")
#: the launch flags of a CI browser: headless, no sandbox (root in a container), nothing that reaches the network
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # an app's own host name (trainee-02.azureiotcentral.com) reaches the served world, as it would through DNS
    "--host-resolver-rules=MAP *.azureiotcentral.com 127.0.0.1",
]
VIEWPORT = {"width": 1200, "height": 760}
GROUPS = "/admin/device-connection"

pytestmark = [
    pytest.mark.served,
    pytest.mark.playwright,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no browser at {CHROMIUM} (apt-get install chromium)"),
]


# -- one browser, one classroom ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the file. ``launch`` gives it a fresh, temporary profile (user-data-dir) that
    Playwright deletes on close; each test opens its own contexts (a cookie jar each, like separate browsers)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory):
    """A served classroom of four trainees (a tenant, an app, a sign-in link each), DPS over MQTT/TLS included."""
    with serve_classroom(4, tmp_path_factory.mktemp("room") / "lab", mqtt_port=0, seed=13) as classroom:
        yield classroom


@pytest.fixture
def new_context(browser):
    """Open browser contexts (each its own cookies, like a separate browser; the lab's local CA accepted, as a
    trainee who imported ca.pem); all are closed when the test ends, passed or failed."""
    opened: list[Any] = []

    def open_one() -> Any:
        context = browser.new_context(ignore_https_errors=True, viewport=VIEWPORT, locale="en-US")
        opened.append(context)
        return context

    yield open_one
    for context in opened:
        context.close()


def shot(page: Any, name: str) -> None:
    """Save a screenshot for docs/training.md when SPHERE_HARNESS_SCREENSHOTS is set."""
    if os.environ.get("SPHERE_HARNESS_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def trainee_endpoints(trainee: TraineeAccess) -> dict[str, Any]:
    return json.loads(trainee.endpoints_file.read_text(encoding="utf-8"))


def world_state(room: Classroom) -> dict[str, Any]:
    cloud = room.served.cloud
    with cloud.lock:
        return dump_world(cloud)


def lab_shell(trainee: TraineeAccess, cwd: Path, lines: str) -> str:
    """Run ``lines`` in a fresh bash that a learner turned into a lab with ``eval "$(sphere-harness lab env …)"``;
    return its standard output (a failing line fails the test with the shell's error output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPHERE_HARNESS")}
    script = "set -eu\n" + (
        f'eval "$({shlex.quote(str(SPHERE_HARNESS))} lab env --endpoints-file '
        f'{shlex.quote(str(trainee.endpoints_file))})"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script + lines], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def sign_in(context: Any, trainee: TraineeAccess) -> Any:
    page = context.new_page()
    page.goto(trainee.portal_url)
    page.get_by_role("heading", name=f"{trainee.app_subdomain} app").wait_for()
    return page


def choose_file(page: Any, button_name: str, path: Path) -> None:
    """Select a button that opens the browser's file chooser and pick ``path`` in it (the upload then submits)."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name=button_name).click()
    with page.expect_navigation():
        chooser.value.set_files(str(path))


def alert_text(page: Any) -> str:
    return page.get_by_role("alert").inner_text().strip()


# -- the whole unit ---------------------------------------------------------------------------------------------------


def test_a_learner_walks_the_whole_unit_in_the_lab_shell_and_the_portal(room, new_context, tmp_path: Path) -> None:
    trainee = room.trainees[0]
    cloud = room.served.cloud
    work = tmp_path / "work"
    work.mkdir()

    # The unit: sign in to the tenant and download its CA certificate, in the lab shell.
    out = lab_shell(
        trainee,
        work,
        "command -v azsphere\nazsphere login\nazsphere ca-certificate download --destination CAcertificate.cer\n",
    )
    shim_path, *login = out.splitlines()
    assert shim_path == str(trainee.endpoints_file.parent / ".sphere-harness-lab" / "bin" / "azsphere")
    assert login[3].strip() == trainee.user
    assert login[-1] == f"Saved the CA certificate to '{work / 'CAcertificate.cer'}'."
    tenant = cloud.sphere.get_tenant(trainee.tenant_id)
    assert (work / "CAcertificate.cer").read_bytes() == to_der(tenant.active_generation().certificate)

    context = new_context()
    page = sign_in(context, trainee)
    shot(page, "01-home")

    # IoT Central: the menu in the upper-left, Administration › Device Connection.
    page.get_by_role("button", name="Menu").click()
    page.get_by_text("Administration", exact=True).click()
    shot(page, "02-menu")
    page.get_by_role("link", name="Device Connection").click()
    page.get_by_role("heading", name="Device connection groups").wait_for()
    shot(page, "03-device-connection")

    # + New, the name Azure Sphere, IoT devices, Certificates (X.509), Save.
    page.get_by_role("link", name="+ New").click()
    page.get_by_label("Name").fill("Azure Sphere")
    assert page.get_by_label("Group type").input_value() == "iot"  # IoT devices, the default
    page.get_by_label("Attestation type").select_option(label="Certificates (X.509)")
    shot(page, "04-new-group")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="Azure Sphere").wait_for()
    shot(page, "05-group")

    # + Manage primary; the folder icon opens the file chooser; CAcertificate.cer.
    page.get_by_role("link", name="+ Manage primary").click()
    choose_file(page, "Open file for Primary", work / "CAcertificate.cer")
    assert page.get_by_role("status").inner_text().strip() == "Uploaded CAcertificate.cer."
    assert page.get_by_label("Primary", exact=True).input_value() == "CAcertificate.cer"
    shot(page, "06-primary-uploaded")

    # The gear opens the Primary certificate dialog: Subject, Thumbprint, Generate verification code.
    page.get_by_role("button", name="Primary certificate settings").click()
    dialog = page.get_by_role("dialog", name="Primary certificate")
    assert dialog.get_by_label("Thumbprint").input_value() == tenant.active_generation().thumbprint
    assert tenant.id in dialog.get_by_label("Subject").input_value()
    shot(page, "07-primary-certificate")
    dialog.get_by_role("button", name="Generate verification code").click()
    dialog = page.get_by_role("dialog", name="Primary certificate")
    code = dialog.get_by_role("textbox", name="Verification code").input_value()
    assert re.fullmatch(r"[0-9A-F]{48}", code), code
    assert code == cloud.central.app_by_subdomain(trainee.app_subdomain).get_certificate("azure-sphere", "primary").code
    shot(page, "08-verification-code")

    # The proof, in the lab shell, with the code from the page.
    lab_shell(
        trainee,
        work,
        "azsphere ca-certificate download-proof --destination ValidationCertification.cer "
        f"--verification-code {code}\n",
    )
    proof = x509.load_der_x509_certificate((work / "ValidationCertification.cer").read_bytes())
    assert get_common_name(proof) == code and proof.issuer == tenant.active_generation().certificate.subject

    # Verify opens the file chooser again; the dialog then says Verified. Close, Save.
    choose_file(page, "Verify", work / "ValidationCertification.cer")
    dialog = page.get_by_role("dialog", name="Primary certificate")
    dialog.get_by_text("Verified", exact=True).wait_for()
    shot(page, "09-verified")
    dialog.get_by_role("link", name="Close").click()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="Azure Sphere").wait_for()
    app = cloud.central.app_by_subdomain(trainee.app_subdomain)
    assert app.get_certificate("azure-sphere", "primary").verified

    # The last step: a device made, claimed into the tenant and connected shows as Provisioned.
    out = lab_shell(
        trainee,
        work,
        f"{shlex.quote(str(SPHERE_HARNESS))} device new --endpoints-file {shlex.quote(str(trainee.endpoints_file))} "
        "--out devices\n",
    )
    [device] = json.loads((work / "devices" / "devices.json").read_text())
    device_id = device["id"]
    out = lab_shell(
        trainee,
        work,
        f"azsphere device claim --device {device_id}\n"
        f"{shlex.quote(str(SPHERE_HARNESS))} device connect --endpoints-file "
        f"{shlex.quote(str(trainee.endpoints_file))} --device-dir devices\n",
    )
    assert "provisioned: assigned to" in out, out
    assert page.get_by_role("button", name="Menu").get_attribute("aria-expanded") == "true"  # as the learner left it
    page.get_by_role("link", name="Devices").click()
    row = page.get_by_role("row").filter(has_text=device_id[:24])
    assert row.get_by_role("cell").nth(2).inner_text() == "Provisioned"
    shot(page, "10-devices")

    page.get_by_role("link", name="Checklist").click()
    steps = page.get_by_role("listitem")
    assert steps.count() == 7
    assert page.locator("li.done").count() == 7
    page.get_by_text("7 of 7 steps done").wait_for()
    shot(page, "11-checklist")


# -- refusals: the service's message on the page, the world unchanged --------------------------------------------------


def test_every_refusal_of_the_unit_shows_on_the_page_and_changes_nothing(room, new_context, tmp_path: Path) -> None:
    trainee, stranger = room.trainees[1], room.trainees[2]
    cloud = room.served.cloud
    tenant = cloud.sphere.get_tenant(trainee.tenant_id)
    files = tmp_path
    (files / "CAcertificate.cer").write_bytes(to_der(tenant.active_generation().certificate))
    (files / "notes.txt").write_text("Remember: the verification code goes into the proof's CN.\n")

    context = new_context()
    page = sign_in(context, trainee)
    for name in ("Azure Sphere", "Azure Sphere 2"):
        page.goto(trainee.portal_url.split("/signin")[0] + f"{GROUPS}/new")
        page.get_by_label("Name").fill(name)
        page.get_by_label("Attestation type").select_option(label="Certificates (X.509)")
        page.get_by_role("button", name="Save").click()
        page.get_by_role("heading", name=name).wait_for()
    entry_of = trainee.portal_url.split("/signin")[0] + f"{GROUPS}/groups/%s/primary"

    def refused(button: str, file: Path, expected: str, screenshot: str) -> None:
        before = world_state(room)
        choose_file(page, button, file)
        text = alert_text(page)
        assert expected in text, text
        shot(page, screenshot)
        after = world_state(room)
        assert after == before, describe_differences(before, after)

    # a file that is not a certificate
    page.goto(entry_of % "azure-sphere")
    refused("Open file for Primary", files / "notes.txt", "must be one X.509 certificate", "12-error-not-a-certificate")
    assert page.get_by_label("Primary", exact=True).input_value() == ""

    # the tenant CA, then a code
    choose_file(page, "Open file for Primary", files / "CAcertificate.cer")
    page.get_by_role("button", name="Primary certificate settings").click()
    page.get_by_role("button", name="Generate verification code").click()
    code = page.get_by_role("textbox", name="Verification code").input_value()

    # a proof for another code
    (files / "wrong-code.cer").write_bytes(to_der(cloud.sphere.issue_proof(tenant.id, "0" * 48)))
    refused("Verify", files / "wrong-code.cer", "is not the current verification code", "13-error-wrong-code")
    assert page.get_by_role("textbox", name="Verification code").input_value() == code

    # a proof with the right code from another trainee's tenant
    (files / "other-tenant.cer").write_bytes(to_der(cloud.sphere.issue_proof(stranger.tenant_id, code)))
    refused("Verify", files / "other-tenant.cer", "was issued by", "14-error-other-tenant")

    # an expired proof: downloaded, then left for longer than its lifetime
    with cloud.lock:
        (files / "expired.cer").write_bytes(to_der(cloud.sphere.issue_proof(tenant.id, code)))
        cloud.clock.advance(timedelta(hours=cloud.settings.pki.proof_hours + 1))
    refused("Verify", files / "expired.cer", "the proof certificate is valid from", "15-error-expired-proof")

    # the same CA in a second group
    page.goto(entry_of % "azure-sphere-2")
    refused(
        "Open file for Primary",
        files / "CAcertificate.cer",
        "is already used by enrollment group 'azure-sphere'",
        "16-error-ca-in-another-group",
    )
    app = cloud.central.app_by_subdomain(trainee.app_subdomain)
    assert not app.get_certificate("azure-sphere", "primary").verified
    assert "primary" not in app.get_group("azure-sphere-2").entries


# -- sign-in isolation -------------------------------------------------------------------------------------------------


def test_two_trainees_signed_in_side_by_side_see_only_their_own_app(room, new_context) -> None:
    a, b = room.trainees[2], room.trainees[3]
    base = a.portal_url.split("/signin")[0]
    port = base.rsplit(":", 1)[1]
    cloud = room.served.cloud
    with cloud.lock:
        cloud.central.app_by_subdomain(b.app_subdomain).put_group(
            "b-only", {"displayName": "B's group", "type": "iot", "attestation": {"type": "x509"}}
        )

    nobody = new_context().new_page()
    nobody.goto(base + GROUPS)
    nobody.get_by_role("heading", name="Sign in").wait_for()
    shot(nobody, "17-sign-in")

    context_a, context_b = new_context(), new_context()
    page_a, page_b = sign_in(context_a, a), sign_in(context_b, b)
    for page in (page_a, page_b):
        page.goto(base + GROUPS)
    assert page_b.get_by_role("link", name="B's group").count() == 1
    assert page_a.get_by_role("link", name="B's group").count() == 0
    assert page_a.get_by_text(a.user).count() == 1 and page_a.get_by_text(b.user).count() == 0

    # A's session on B's own host name: the sign-in page, nothing of B's
    response = page_a.goto(f"https://{b.app_subdomain}.azureiotcentral.com:{port}{GROUPS}/groups/b-only")
    assert response is not None and response.status == 401
    page_a.get_by_role("heading", name="Sign in").wait_for()
    context_a.add_cookies(
        [{**c, "domain": f"{b.app_subdomain}.azureiotcentral.com"} for c in context_a.cookies(base)]
    )  # even carrying A's cookie there
    response = page_a.goto(f"https://{b.app_subdomain}.azureiotcentral.com:{port}{GROUPS}/groups/b-only")
    assert response is not None and response.status == 401
    assert "B's group" not in page_a.content()

    # a cookie that was tampered with is no session at all
    [cookie] = context_a.cookies(base)
    context_a.clear_cookies()
    context_a.add_cookies([{**cookie, "value": cookie["value"][:-4] + "AAAA"}])
    response = page_a.goto(base + GROUPS)
    assert response is not None and response.status == 401


# -- the instructor page -----------------------------------------------------------------------------------------------


def test_the_instructor_page_shows_every_trainees_checklist(room, new_context) -> None:
    portal = room.served.portal
    trainee, stuck = room.trainees[3], room.trainees[2]
    cloud = room.served.cloud
    with cloud.lock:  # a group devices with certificates cannot join: the checklist calls step 3 wrong
        cloud.central.app_by_subdomain(stuck.app_subdomain).put_group(
            "sas-only", {"displayName": "SAS only", "type": "iot", "attestation": {"type": "symmetricKey"}}
        )
    context = new_context()
    page = sign_in(context, trainee)
    response = page.goto(room.instructor_url.split("?")[0])
    assert response is not None and response.status == 401  # a trainee's session is not the instructor's

    context = new_context()
    page = context.new_page()
    page.goto(room.instructor_url)
    page.get_by_role("heading", name="Classroom").wait_for()
    rows = page.get_by_role("table", name="Trainees").locator("tbody tr")
    assert rows.count() == len(room.trainees)
    for index, t in enumerate(room.trainees):
        steps = portal.steps_for(t.app_subdomain)
        row = rows.nth(index)
        assert row.get_attribute("data-trainee") == t.name
        done = sum(s.status == "done" for s in steps)
        assert row.get_by_role("cell").nth(2).inner_text() == f"{done}/{len(steps)}"
        marks = [row.get_by_role("cell").nth(3 + i).inner_text() for i in range(len(steps))]
        assert marks == [{"done": "✓", "wrong": "✗", "todo": "○"}[s.status] for s in steps]
    help_box = page.get_by_role("region", name="Needs help")
    assert f"{stuck.name}, step 3: 'SAS only' uses Shared access signature (SAS)" in help_box.inner_text()
    shot(page, "18-instructor")
    response = page.goto(room.instructor_url.split("/instructor")[0] + "/")
    assert response is not None and response.status == 401  # the instructor's link opens no trainee's app
