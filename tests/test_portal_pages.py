"""The IoT Central portal pages in-process: labels, contexts, JSON twins, the model behind them, errors, sign-in.

Pages run through Starlette's TestClient (which hands ``response.template`` and ``response.context`` to the test,
so assertions are on the documented context, not only on scraped text) and BeautifulSoup for exact labels.
"""

from __future__ import annotations

import base64
import warnings
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup

from simulator import control
from simulator.cloud import FakeCloud
from simulator.pki import to_der
from simulator.portal.app import Portal
from simulator.portal.contexts import PageContext

with warnings.catch_warnings():  # starlette prefers the httpx2 package for its TestClient; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
BASE = "https://127.0.0.1:8444"
GROUPS = "/admin/device-connection"


@pytest.fixture
def world():
    cloud = FakeCloud(seed=5)
    access = control.ensure_defaults(cloud)
    portal = Portal(cloud, base_hosts=("127.0.0.1",))
    portal.add_trainee("you", access.app.subdomain, access.tenant.tenant_id, access.tenant.user)
    return cloud, access, portal


def signed_in(portal: Portal, app_subdomain: str, user: str = "user@example.com") -> TestClient:
    client = TestClient(portal.app, base_url=BASE)
    response = client.get(portal.signin_link("", app_subdomain, user))
    assert response.status_code == 200 and response.template.name == "home.html"
    return client


@pytest.fixture
def browser(world) -> TestClient:
    _cloud, access, portal = world
    return signed_in(portal, access.app.subdomain, access.tenant.user)


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def tenant_ca(cloud, access) -> bytes:
    return to_der(cloud.sphere.get_tenant(access.tenant.tenant_id).active_generation().certificate)


def create_group(browser, name: str = "Azure Sphere", attestation: str = "x509"):
    return browser.post(f"{GROUPS}/new", data={"name": name, "group_type": "iot", "attestation_type": attestation})


def upload(browser, group: str, data: bytes, name: str = "CAcertificate.cer", entry: str = "primary"):
    return browser.post(f"{GROUPS}/groups/{group}/{entry}/upload", files={"certificate": (name, data)})


def verify(browser, group: str, data: bytes, entry: str = "primary"):
    return browser.post(
        f"{GROUPS}/groups/{group}/{entry}/verify", files={"certificate": ("ValidationCertification.cer", data)}
    )


def messages(response) -> list[tuple[str, str]]:
    return [(m["kind"], m["text"]) for m in response.context["messages"]]


def advice(response) -> str:
    """The advice in the unit's terms that a refusal shows above the service's message."""
    [message] = response.context["messages"]
    return message.get("advice", "")


# -- sign-in and isolation ---------------------------------------------------------------------------------------


def test_without_a_sign_in_every_page_is_the_sign_in_page(world) -> None:
    _cloud, _access, portal = world
    client = TestClient(portal.app, base_url=BASE)
    for path in ("/", GROUPS, "/devices", "/checklist", f"{GROUPS}/new", "/checklist.json"):
        response = client.get(path)
        assert response.status_code == 401
    assert client.get("/").template.name == "signin.html"
    assert client.get("/signin?token=forged").status_code == 401


def test_a_host_naming_an_app_shows_it_only_to_its_own_session_and_never_falls_back(world) -> None:
    cloud, access, portal = world
    other = control.create_app(cloud, subdomain="trainee-b")
    mine = signed_in(portal, access.app.subdomain)
    response = mine.get("/", headers={"host": f"{access.app.subdomain}.azureiotcentral.com"})
    assert response.status_code == 200 and response.context["shell"].subdomain == access.app.subdomain
    response = mine.get("/", headers={"host": "trainee-b.azureiotcentral.com"})
    assert response.status_code == 401 and response.template.name == "signin.html"
    response = mine.get("/", headers={"host": "typo-app.azureiotcentral.com"})
    assert response.status_code == 404 and "typo-app" in response.context["page"].message
    theirs = signed_in(portal, other.subdomain)
    assert theirs.get("/").context["shell"].subdomain == "trainee-b"  # the same bare host: their own app


# -- page structure: one context, documented fields, JSON twins ----------------------------------------------------


@pytest.mark.parametrize("path", ["/", GROUPS, f"{GROUPS}/new", "/devices", "/checklist"])
def test_pages_see_exactly_the_documented_context_and_have_a_json_twin(browser, path: str) -> None:
    response = browser.get(path)
    assert response.status_code == 200
    assert set(response.context) == {"request", "urls", "messages", "nav_open", "shell", "page"}
    page = response.context["page"]
    assert isinstance(page, PageContext)
    assert all(help_text for help_text in type(page).documented_fields().values())
    twin = "/index.json" if path == "/" else f"{path}.json"
    assert response.headers["link"] == f'<{twin}>; rel="alternate"; type="application/json"'
    assert browser.get(twin).json() == page.to_json()


def test_the_shell_has_the_units_menu_button_and_sidebar_labels(browser) -> None:
    page = soup(browser.get("/"))
    menu = page.find("button", attrs={"aria-label": "Menu"})
    assert menu is not None and menu.find_parent("header") is not None
    assert [a.select_one(".label").get_text(strip=True) for a in page.select("nav.side a")] == [
        "Home", "Devices", "Checklist", "Device Connection"
    ]  # fmt: skip
    assert page.select_one("nav.side details summary .label").get_text(strip=True) == "Administration"


def test_the_new_group_form_uses_the_units_labels(browser) -> None:
    page = soup(browser.get(f"{GROUPS}/new"))
    assert soup(browser.get(GROUPS)).find("a", string="+ New") is not None
    assert page.find("label", attrs={"for": "name"}).get_text() == "Name"
    group_type = page.find("select", attrs={"name": "group_type"})
    assert [(o["value"], o.get_text()) for o in group_type.find_all("option")] == [
        ("iot", "IoT devices"), ("iotEdge", "IoT Edge devices")
    ]  # fmt: skip
    assert group_type.find("option", selected=True)["value"] == "iot"
    assert page.find("label", attrs={"for": "attestation_type"}).get_text() == "Attestation type"
    attestation = page.find("select", attrs={"name": "attestation_type"})
    assert [o.get_text() for o in attestation.find_all("option")] == [
        "Certificates (X.509)", "Shared access signature (SAS)"
    ]  # fmt: skip
    assert page.find("button", string="Save") is not None


# -- the unit, page by page, through the same model as the API ------------------------------------------------------


def test_the_unit_through_the_pages_reaches_verified_and_the_api_sees_every_step(world, browser) -> None:
    cloud, access, _portal = world
    app = cloud.central.default_app
    response = create_group(browser)
    assert response.url.path == f"{GROUPS}/groups/azure-sphere"
    assert messages(response) == [("success", "Saved the enrollment group 'Azure Sphere'.")]
    group = app.get_group("azure-sphere")
    assert (group.display_name, group.type, group.attestation_type) == ("Azure Sphere", "iot", "x509")
    assert soup(response).find("a", string="+ Manage primary") is not None
    assert soup(response).find("a", string="+ Manage secondary") is not None

    response = upload(browser, "azure-sphere", tenant_ca(cloud, access))
    panel = soup(response)
    assert panel.find("input", attrs={"id": "primary-box"})["value"] == "CAcertificate.cer"
    chooser = panel.find("input", attrs={"type": "file", "id": "primary-file"})
    assert chooser["accept"] == ".cer,.pem,.crt"
    gear = panel.find(attrs={"aria-label": "Primary certificate settings"})
    assert gear is not None
    assert app.get_certificate("azure-sphere", "primary").verified is False

    dialog = soup(browser.get(gear["href"])).find("dialog")
    assert dialog.find("h2").get_text() == "Primary certificate"
    assert dialog.find("label", attrs={"for": "subject"}).get_text() == "Subject"
    assert dialog.find("label", attrs={"for": "thumbprint"}).get_text() == "Thumbprint"
    assert (
        dialog.find("input", attrs={"id": "thumbprint"})["value"]
        == app.get_certificate("azure-sphere", "primary").thumbprint
    )
    response = browser.post(f"{GROUPS}/groups/azure-sphere/primary/generate")
    dialog = soup(response).find("dialog")
    code_field = dialog.find("input", attrs={"id": "verification-code"})
    assert dialog.find("label", attrs={"for": "verification-code"}).get_text() == "Verification code"
    assert (
        code_field.has_attr("readonly") and code_field["value"] == app.get_certificate("azure-sphere", "primary").code
    )
    assert dialog.find("button", attrs={"aria-label": "Copy verification code"}) is not None
    assert dialog.find("button", string="Verify") is not None
    assert dialog.find("a", string="Close") is not None

    proof = to_der(cloud.sphere.issue_proof(access.tenant.tenant_id, code_field["value"]))
    response = verify(browser, "azure-sphere", proof)
    assert messages(response) == [("success", "Verified.")]
    assert response.context["page"].verified and "Verified" in soup(response).find("dialog").get_text()
    assert app.get_certificate("azure-sphere", "primary").verified is True
    response = browser.post(f"{GROUPS}/groups/azure-sphere/primary/save")
    assert response.url.path == f"{GROUPS}/groups/azure-sphere" and messages(response) == [("success", "Saved.")]
    assert browser.get(f"{GROUPS}.json").json()["groups"][0]["primary"] == "Verified"


def test_a_group_made_through_the_rest_api_shows_on_the_page(world, browser) -> None:
    cloud, access, _portal = world
    api = TestClient(cloud.central_app, base_url="https://sphere-harness.azureiotcentral.com")
    body = {"displayName": "From the API", "type": "iotEdge", "attestation": {"type": "symmetricKey"}}
    response = api.put(
        "/api/enrollmentGroups/from-api?api-version=2022-07-31",
        json=body,
        headers={"Authorization": access.app.api_token},
    )
    assert response.status_code == 200, response.text
    rows = browser.get(f"{GROUPS}.json").json()["groups"]
    assert {"id": "from-api", "name": "From the API", "group_type": "IoT Edge devices",
            "attestation": "Shared access signature (SAS)", "enabled": True, "primary": "",
            "secondary": ""} in rows  # fmt: skip


# -- errors: the service's message on the page, nothing changed -------------------------------------------------------


def _prepared(world, browser) -> tuple[object, str]:
    cloud, access, _portal = world
    create_group(browser)
    upload(browser, "azure-sphere", tenant_ca(cloud, access))
    code = browser.post(f"{GROUPS}/groups/azure-sphere/primary/generate").context["page"].verification_code
    return cloud.central.default_app, code


def _snapshot(app) -> tuple:
    entry = app.get_certificate("azure-sphere", "primary")
    return entry.verified, entry.code, entry.etag, entry.thumbprint, app.get_group("azure-sphere").etag


def test_a_proof_with_the_wrong_code_is_refused_on_the_page_and_changes_nothing(world, browser) -> None:
    app, _code = _prepared(world, browser)
    cloud, access, _ = world
    before = _snapshot(app)
    wrong = to_der(cloud.sphere.issue_proof(access.tenant.tenant_id, "00" * 24))
    response = verify(browser, "azure-sphere", wrong)
    [(kind, text)] = messages(response)
    assert kind == "error" and "is not the current verification code" in text
    alert = soup(response).find("div", attrs={"role": "alert"})
    assert alert.find(class_="service-message").get_text() == text  # the service's own message, unchanged
    assert alert.find(class_="advice").get_text() == advice(response)
    assert advice(response).startswith("This validation certificate was made for another verification code.")
    assert _snapshot(app) == before


def test_an_expired_proof_is_refused(world, browser) -> None:
    app, code = _prepared(world, browser)
    cloud, access, _ = world
    proof = cloud.sphere.issue_proof(access.tenant.tenant_id, code)
    cloud.clock.set(proof.not_valid_after_utc + timedelta(days=1))
    with cloud.lock:  # keep the code alive past the travel (its lifetime is ``central.code_ttl_s``)
        entry = app.get_certificate("azure-sphere", "primary")
        entry.code_issued = cloud.clock.now()
    before = _snapshot(app)
    response = verify(browser, "azure-sphere", to_der(proof))
    [(kind, text)] = messages(response)
    assert kind == "error" and "the proof certificate is valid from" in text
    assert advice(response).startswith("This validation certificate has expired")
    assert _snapshot(app) == before


def test_a_proof_from_another_tenant_is_refused(world, browser) -> None:
    app, code = _prepared(world, browser)
    cloud, _, _ = world
    other = control.create_tenant(cloud, name="someone-else", email="else@example.com")
    before = _snapshot(app)
    proof = to_der(cloud.sphere.issue_proof(other.tenant_id, code))
    response = verify(browser, "azure-sphere", proof)
    [(kind, text)] = messages(response)
    assert kind == "error" and "was issued by" in text
    assert advice(response).startswith("This validation certificate comes from another tenant")
    assert _snapshot(app) == before


def test_a_ca_already_used_by_another_group_is_refused(world, browser) -> None:
    app, _ = _prepared(world, browser)
    cloud, access, _ = world
    create_group(browser, name="Second group")
    response = upload(browser, "second-group", tenant_ca(cloud, access))
    [(kind, text)] = messages(response)
    assert kind == "error" and "is already used by enrollment group 'azure-sphere'" in text
    assert advice(response).startswith("This CA certificate is already in another enrollment group.")
    assert "primary" not in app.get_group("second-group").entries


def test_a_file_that_is_not_a_certificate_is_refused(world, browser) -> None:
    app, _ = _prepared(world, browser)
    before = _snapshot(app)
    response = upload(browser, "azure-sphere", b"hello, I am a text file\n", name="notes.txt")
    [(kind, text)] = messages(response)
    assert kind == "error" and text.startswith("the certificate must be one X.509 certificate")
    assert advice(response).startswith("This file is not a certificate. Choose CAcertificate.cer")
    response = verify(browser, "azure-sphere", b"\x00\x01garbage")
    [(kind, _)] = messages(response)
    assert kind == "error"
    assert advice(response).startswith("This file is not a certificate. Choose ValidationCertification.cer")
    assert _snapshot(app) == before


def test_a_refused_new_group_keeps_the_form_and_creates_nothing(world, browser) -> None:
    cloud, _, _ = world
    response = create_group(browser, name="   ")
    assert response.url.path == f"{GROUPS}/new"
    [(kind, text)] = messages(response)
    assert kind == "error" and "displayName" in text
    assert cloud.central.default_app.list_groups().items == []


def test_an_unknown_group_is_the_services_404_as_a_page_and_as_json(browser) -> None:
    response = browser.get(f"{GROUPS}/groups/nope")
    assert response.status_code == 404 and response.template.name == "error.html"
    assert response.context["page"].message == "enrollment group 'nope' was not found"
    assert browser.get(f"{GROUPS}/groups/nope.json").json() == {
        "status": 404, "title": "Not found", "message": "enrollment group 'nope' was not found"
    }  # fmt: skip


# -- devices, checklist, instructor -----------------------------------------------------------------------------------


def test_devices_page_shows_the_status_of_each_device(world, browser) -> None:
    cloud, _, _ = world
    app = cloud.central.default_app
    with cloud.lock:
        app.provision_device("abc123", attestation_thumbprint="00" * 20)
        app.put_device("registered-one", {"displayName": "Registered one"})
    rows = {row["id"]: row for row in browser.get("/devices.json").json()["devices"]}
    assert rows["abc123"]["status"] == "Provisioned"
    assert rows["registered-one"]["status"] == "Registered" and rows["registered-one"]["template"] == "Unassigned"
    headers = [th.get_text() for th in soup(browser.get("/devices")).select("table thead th")]
    assert headers == ["Device name", "Device ID", "Device status", "Device template"]


def test_the_checklist_explains_a_sas_group_and_a_foreign_ca(world, browser) -> None:
    cloud, _, _ = world
    create_group(browser, name="Wrong kind", attestation="symmetricKey")
    steps = {s["key"]: s for s in browser.get("/checklist.json").json()["steps"]}
    assert steps["group"]["status"] == "wrong" and "Shared access signature (SAS)" in steps["group"]["detail"]
    stranger = control.create_tenant(cloud, name="stranger", email="s@example.com")
    create_group(browser)
    upload(browser, "azure-sphere", to_der(cloud.sphere.get_tenant(stranger.tenant_id).active_generation().certificate))
    steps = {s["key"]: s for s in browser.get("/checklist.json").json()["steps"]}
    assert steps["group"]["status"] == "done"
    assert steps["code"]["status"] == "wrong" and "is not your tenant's CA" in steps["code"]["detail"]


def test_the_checklist_names_a_proof_for_an_older_code(world, browser) -> None:
    _app, code = _prepared(world, browser)
    cloud, access, portal = world
    portal.journal.note("GET", f"/v2/tenants/{access.tenant.tenant_id}/verification/{code}", {}, b"")
    steps = {s["key"]: s for s in browser.get("/checklist.json").json()["steps"]}
    assert steps["proof"]["status"] == "done"
    cloud.clock.advance(timedelta(seconds=5))
    browser.post(f"{GROUPS}/groups/azure-sphere/primary/generate")  # pressed again after download-proof
    steps = {s["key"]: s for s in browser.get("/checklist.json").json()["steps"]}
    assert steps["proof"]["status"] == "wrong"
    assert steps["proof"]["detail"].startswith(
        "The proof's CN is an older code: generate-verification-code was pressed again after download-proof."
    )


def test_the_instructor_page_needs_the_instructors_link(world, browser) -> None:
    _cloud, _access, portal = world
    assert browser.get("/instructor").status_code == 401  # a trainee's session is not the instructor's
    instructor = TestClient(portal.app, base_url=BASE)
    assert instructor.get("/instructor?token=forged").status_code == 401
    response = instructor.get(portal.instructor_link(""))
    assert response.template.name == "instructor.html"
    assert [t.name for t in response.context["page"].trainees] == ["you"]
    assert instructor.get("/").status_code == 401  # the instructor link opens no trainee's app


def test_upload_accepts_pem_text(world, browser) -> None:
    cloud, access, _ = world
    create_group(browser)
    der = tenant_ca(cloud, access)
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    [(kind, _)] = messages(upload(browser, "azure-sphere", pem, name="ca.pem"))
    assert kind == "success"


def test_the_sidebar_is_drawn_as_the_learner_left_it(browser) -> None:
    page = soup(browser.get("/"))
    assert "nav-open" not in (page.body.get("class") or [])
    assert page.find("button", attrs={"aria-label": "Menu"})["aria-expanded"] == "false"
    browser.cookies.set("sphere_harness_sidebar", "open")  # what portal.js keeps when the Menu button expands it
    page = soup(browser.get("/devices"))
    assert "nav-open" in page.body["class"]
    assert page.find("button", attrs={"aria-label": "Menu"})["aria-expanded"] == "true"
    # collapsed or not, every sidebar entry keeps its name
    assert [a.get("aria-label") for a in page.select("nav.side > a")] == ["Home", "Devices", "Checklist"]


def test_the_instructor_page_lists_who_needs_help_and_why(world, browser) -> None:
    _cloud, _access, portal = world
    create_group(browser, name="Wrong kind", attestation="symmetricKey")
    instructor = TestClient(portal.app, base_url=BASE)
    page = instructor.get(portal.instructor_link(""), follow_redirects=True).context["page"]
    assert page.finished == 0
    [row] = page.needs_help
    assert (row.trainee, row.step, row.title) == ("you", 3, "Create an enrollment group (Certificates (X.509))")
    assert row.why.startswith("'Wrong kind' uses Shared access signature (SAS)")
