"""Reports CI can read: an invalid file is an errored scenario in every report while the valid ones still run."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("reports")
    bad = folder / "bad.yaml"
    bad.write_text("steps:\n  - sphere.login\n  - central.certificate.get: {group: g, entri: primary}\n")
    failing = folder / "failing.yaml"
    failing.write_text(
        "steps:\n  - sphere.ca-certificate.download:\n    save_as: ca\n"
        "  - expect: {actual: '{ca.common_name}', equals: nobody}\n    name: the CN is nobody\n"
    )
    out = {"json": folder / "r.json", "xml": folder / "r.xml", "html": folder / "r.html"}
    code = main(
        [
            "run",
            str(bad),
            "enable-trust",
            str(failing),
            "--seed",
            "5",
            "--workdir",
            str(folder / "work"),
            "--report-json",
            str(out["json"]),
            "--junit",
            str(out["xml"]),
            "--report-html",
            str(out["html"]),
        ]
    )
    return {
        "code": code,
        "json": json.loads(out["json"].read_text()),
        "xml": ET.parse(out["xml"]).getroot(),
        "html": out["html"].read_text(),
        "bad": str(bad),
    }


def test_an_invalid_file_exits_2_but_the_valid_scenarios_ran(reports: dict) -> None:
    assert reports["code"] == 2
    scenarios = reports["json"]["scenarios"]
    assert [s["scenario"] for s in scenarios] == ["bad", "enable-trust", "failing"]
    bad, seed, failing = scenarios
    assert bad["invalid"] is True and bad["steps"] == [] and f"{reports['bad']}:3:" in bad["error"]
    assert seed["passed"] is True and len(seed["steps"]) == 11
    assert failing["passed"] is False and failing["steps"][1]["outcome"] == "failed"


def test_the_json_report_carries_inputs_and_saved_values(reports: dict) -> None:
    seed = reports["json"]["scenarios"][1]
    assert reports["json"]["version"]
    steps = {s["kind"]: s for s in seed["steps"]}
    code_step = steps["central.verification-code.generate"]
    assert code_step["save_as"] == "code" and code_step["inputs"]["group"]
    code = code_step["value"]
    proof = steps["sphere.ca-certificate.download-proof"]
    assert proof["inputs"]["verification_code"] == code  # the placeholder, filled in
    assert proof["value"]["common_name"] == code and re.fullmatch(r"[0-9A-F]{40}", proof["value"]["thumbprint"])
    assert steps["central.certificate.verify"]["outcome"] == "passed"
    assert seed["started_at"] and seed["hostname"]


def test_junit_has_timestamp_hostname_system_out_and_the_diff(reports: dict) -> None:
    suites = reports["xml"]
    assert suites.get("errors") == "1" and suites.get("failures") == "1"
    bad, seed, failing = suites.findall("testsuite")
    for suite in (bad, seed, failing):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp"))
        assert suite.get("hostname")
    error = bad.find("testcase/error")
    assert error is not None and "unknown argument 'entri'" in error.text
    outputs = [case.findtext("system-out") for case in seed.findall("testcase")]
    assert all(outputs) and any("value (saved as code)" in text for text in outputs)
    failure = failing.find("testcase/failure")
    assert failure is not None and failure.get("message") == "expected values to be equal"
    assert '-"nobody"' in failure.text and '+"Microsoft Azure Sphere' in failure.text


def test_the_html_report_is_one_self_contained_page(reports: dict) -> None:
    page = reports["html"]
    assert page.startswith("<!doctype html>") and "</html>" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no external assets
    assert "<details" in page and "central.certificate.verify" in page
    assert "thumbprint" in page and "Microsoft Azure Sphere" in page  # certificate details
    assert "invalid" in page and "expected values to be equal" in page


def test_each_step_carries_its_http_exchanges_without_secrets(reports: dict) -> None:
    seed = reports["json"]["scenarios"][1]
    steps = {s["kind"]: s for s in seed["steps"]}
    (verify,) = steps["central.certificate.verify"]["exchanges"]
    assert verify["request"]["method"] == "POST" and verify["request"]["url"].endswith("/verify?api-version=2022-07-31")
    assert verify["response"]["status"] == 204 and verify["seconds"] >= 0
    (code,) = steps["central.verification-code.generate"]["exchanges"]
    assert code["response"]["body"]["verificationCode"] == steps["central.verification-code.generate"]["value"]
    assert all(step["exchanges"] for step in seed["steps"] if step["kind"] != "expect")
    text = json.dumps(reports["json"])
    for exchange in (x for step in seed["steps"] for x in step["exchanges"]):
        authorization = exchange["request"]["headers"].get("authorization", "")
        assert not re.search(r"(Bearer|SharedAccessSignature) (?![<$])\S{16,}", authorization), authorization
    assert not re.search(r"sig=(?!<redacted>)", text)  # no SAS signature survives anywhere in the report
    assert not re.search(r"sphere-(?:sphere|arm)-[0-9a-f]{16}", text)  # nor a bearer token the world issued
    outputs = "".join(case.findtext("system-out") or "" for case in reports["xml"].iter("testcase"))
    assert "POST " in outputs and "/verify?api-version=2022-07-31 -> 204" in outputs
    assert "/verify?api-version=2022-07-31" in reports["html"] and "204" in reports["html"]


def test_the_exchanges_agree_with_the_values_beside_them(reports: dict) -> None:
    """Only secrets are redacted: the tenant, the thumbprints, the request IDs in a report are the run's own, so the
    exchanges can be read against the values, the failure messages and the files in the work folder."""
    seed = reports["json"]["scenarios"][1]
    steps = {s["kind"]: s for s in seed["steps"]}
    login = steps["sphere.login"]
    tenant_id = login["value"]["tenant"]["Id"]
    (listed,) = login["exchanges"]
    assert listed["response"]["body"][0]["Id"] == tenant_id
    assert listed["request"]["headers"]["authorization"] == "Bearer <token:sphere contoso>"
    (download,) = steps["sphere.ca-certificate.download"]["exchanges"]
    assert tenant_id in download["request"]["url"]
    uploaded = steps["central.certificate.set"]
    (upload,) = uploaded["exchanges"]
    thumbprint = steps["sphere.ca-certificate.download"]["value"]["thumbprint"]
    assert upload["response"]["body"]["info"]["sha1Thumbprint"] == uploaded["value"]["info"]["sha1Thumbprint"]
    assert uploaded["value"]["info"]["sha1Thumbprint"] == thumbprint
    assert upload["request"]["headers"]["authorization"] == "SharedAccessSignature <token:central central>"


@pytest.mark.playwright
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no browser at {CHROMIUM} (apt-get install chromium)")
def test_the_html_page_reads_well_in_a_browser(reports: dict, tmp_path: Path) -> None:
    """With every step and exchange unfolded, nothing widens the page (long certificates wrap); the index links to
    each scenario and names the first failure."""
    sync_api = pytest.importorskip("playwright.sync_api")
    page_file = tmp_path / "r.html"
    page_file.write_text(reports["html"], encoding="utf-8")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.goto(page_file.as_uri())
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], f"the page is {width[0]} px wide in a {width[1]} px window"
            index = page.locator("table.index a")
            assert index.count() == 3
            target = index.nth(2).get_attribute("href")
            assert page.locator(target or "#none").inner_text().startswith("failing")
            assert "step 2 (the CN is nobody): expected values to be equal" in page.locator("table.index").inner_text()
            assert "3 scenario(s): 1 passed, 1 failed, 1 invalid" in page.inner_text("body")
        finally:
            browser.close()
