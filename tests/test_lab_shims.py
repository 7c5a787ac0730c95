"""The lab's ``azsphere`` and ``az sphere`` shims against a served world: the unit's lines, help, errors, exit codes.

The shims run in-process through :func:`harness.lab.shim.run` with their own output streams (the same code path
the ``bin/azsphere`` script takes), except the tests at the end, which run the real scripts of ``lab env`` and the
``lab shell`` in subprocesses.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from harness.lab.shim import run
from simulator.cloud import FakeCloud
from simulator.pki import get_common_name, thumbprint

pytestmark = pytest.mark.served


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("lab-world")
    cloud = FakeCloud(seed=11)
    with cloud.serve(mqtt_port=None, endpoints_file=folder / "endpoints.json") as served:
        yield cloud, served, folder / "endpoints.json"


@pytest.fixture
def lab(world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh lab folder per test, the test's cwd its work folder; returns a runner of shim command lines."""
    cloud, served, endpoints = world
    monkeypatch.chdir(tmp_path)
    env = {"SPHERE_HARNESS_LAB": str(tmp_path / ".lab"), "SPHERE_HARNESS_LAB_ENDPOINTS": str(endpoints)}

    class Lab:
        def __init__(self) -> None:
            self.cloud, self.served, self.env, self.folder = cloud, served, env, tmp_path
            self.endpoints = json.loads(endpoints.read_text())

        def __call__(self, line: str | list[str], tool: str = "azsphere") -> tuple[int, str, str]:
            args = line.split() if isinstance(line, str) else line
            out, err = io.StringIO(), io.StringIO()
            code = run(tool, args, environ=self.env, out_file=out, err_file=err)
            return code, out.getvalue(), err.getvalue()

    return Lab()


def tenant_of(lab) -> object:
    return lab.cloud.sphere.get_tenant(lab.endpoints["sphere"]["tenant_id"])


# -- the unit's lines, verbatim ----------------------------------------------------------------------------------


def test_login_signs_in_as_the_lab_user_and_prints_the_name_table(lab) -> None:
    code, out, err = lab("login")
    user = lab.endpoints["sphere"]["user"]
    rule = "-" * len(user)
    assert (code, err) == (0, "")
    assert out == f" {rule}\n Name\n {'=' * len(user)}\n {user}\n {rule}\n"


def test_the_unit_downloads_the_tenant_ca_and_the_proof_for_a_central_code(lab) -> None:
    assert lab("login")[0] == 0
    code, out, err = lab("ca-certificate download --destination CAcertificate.cer")
    assert (code, err) == (0, "")
    ca_file = lab.folder / "CAcertificate.cer"
    assert out == f"Saved the CA certificate to '{ca_file}'.\n"
    ca = x509.load_der_x509_certificate(ca_file.read_bytes())  # DER, as the real CLI writes it
    tenant = tenant_of(lab)
    assert thumbprint(ca) == tenant.active_generation().thumbprint

    app = lab.cloud.central.default_app
    with lab.cloud.lock:
        app.put_group("shim-unit", {"displayName": "Azure Sphere", "type": "iot", "attestation": {"type": "x509"}})
        app.set_certificate("shim-unit", "primary", {"certificate": _b64(ca_file)})
        verification_code = app.generate_verification_code("shim-unit", "primary")
    code, out, err = lab(
        "ca-certificate download-proof --destination ValidationCertification.cer "
        f"--verification-code {verification_code}"
    )
    assert (code, err) == (0, "")
    proof_file = lab.folder / "ValidationCertification.cer"
    assert out == f"Saved the validation certificate to '{proof_file}'.\n"
    proof = x509.load_der_x509_certificate(proof_file.read_bytes())
    assert get_common_name(proof) == verification_code
    with lab.cloud.lock:
        entry = app.verify_certificate("shim-unit", "primary", {"certificate": _b64(proof_file)})
        app.delete_group("shim-unit")
    assert entry.verified


def _b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode("ascii")


def test_download_refuses_a_destination_without_the_cer_extension_and_writes_nothing(lab) -> None:
    lab("login")
    code, out, err = lab("ca-certificate download --destination CAcertificate.pem")
    assert (code, out) == (1, "")
    assert err == "ERROR: The destination file name must have the '.cer' extension: 'CAcertificate.pem'.\n"
    assert not (lab.folder / "CAcertificate.pem").exists()
    code, _, err = lab("ca-certificate download-proof --destination proof.txt --verification-code ABC")
    assert code == 1 and "'.cer' extension" in err
    code, _, err = lab("ca-certificate download-chain --destination chain.cer")
    assert code == 1 and "'.p7b' extension" in err


def test_download_chain_writes_the_der_pkcs7_chain(lab) -> None:
    lab("login")
    code, out, _ = lab("ca-certificate download-chain --destination CAcertChain.p7b")
    assert code == 0 and out.startswith("Saved the CA certificate chain to ")
    chain = pkcs7.load_der_pkcs7_certificates((lab.folder / "CAcertChain.p7b").read_bytes())
    assert len(chain) == 3
    assert thumbprint(tenant_of(lab).active_generation().certificate) in {thumbprint(c) for c in chain}


def test_ca_certificate_list_shows_the_documented_columns_and_index_selects_a_row(lab) -> None:
    lab("login")
    code, out, _ = lab("ca-certificate list")
    lines = out.splitlines()
    assert code == 0
    assert lines[1].split() == ["Index", "Thumbprint", "CertificateDetails", "Status", "StartDate", "EndDate"]
    generation = tenant_of(lab).active_generation()
    assert lines[3].split()[:2] == ["1", generation.thumbprint]
    assert " Active " in lines[3]
    code, out, _ = lab("ca-certificate list -o json")
    assert json.loads(out)[0]["Status"] == "Active"
    assert lab("ca-certificate download --destination one.cer --index 1")[0] == 0
    code, _, err = lab("ca-certificate download --destination two.cer --index 7")
    assert code == 1 and "--index must be a row number" in err
    code, _, err = lab("ca-certificate download --destination x.cer --index 1 --thumbprint AB")
    assert code == 1 and "either --index or --thumbprint" in err


def test_a_service_refusal_is_one_error_line_with_status_and_code(lab) -> None:
    lab("login")
    code, out, err = lab(
        "ca-certificate download --destination x.cer --thumbprint 00112233445566778899AABBCCDDEEFF00112233"
    )
    assert (code, out) == (1, "")
    assert err.startswith("ERROR: ") and err.rstrip().endswith("(404 NotFound)") and err.count("\n") == 1


# -- tenants and sign-in -------------------------------------------------------------------------------------------


def test_commands_need_a_sign_in_and_logout_ends_it(lab) -> None:
    assert lab("tenant list") == (1, "", "ERROR: You are not signed in. Run 'azsphere login' first.\n")
    lab("login")
    assert lab("tenant list")[0] == 0
    assert lab("logout") == (0, "Signed out.\n", "")
    assert lab("ca-certificate list")[0] == 1


def test_tenant_select_accepts_the_id_or_the_name_under_both_flag_spellings(lab) -> None:
    lab("login")
    tenant = tenant_of(lab)
    for flag, value in (
        ("--tenant", tenant.id),
        ("-t", tenant.name),
        ("--tenantid", tenant.id.upper()),
        ("-i", tenant.id),
    ):
        code, out, _ = lab(["tenant", "select", flag, value])
        assert code == 0 and tenant.id in out
    code, out, _ = lab("tenant show-selected -o json")
    assert json.loads(out) == [{"Id": tenant.id, "Name": tenant.name, "Roles": ["Administrator"]}]
    code, _, err = lab("tenant select --tenant no-such-tenant")
    assert code == 1 and err.startswith("ERROR: Tenant 'no-such-tenant' is not available to this user.")


def test_login_with_a_device_code_prints_the_documented_prompt_and_is_approved_at_once(lab) -> None:
    code, out, err = lab("login --use-device-code")
    assert code == 0 and lab.endpoints["sphere"]["user"] in out
    assert err.startswith("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter")


# -- devices -------------------------------------------------------------------------------------------------------


def test_device_claim_list_and_show(lab) -> None:
    lab("login")
    with lab.cloud.lock:
        device = lab.cloud.sphere.create_device()
    tenant = tenant_of(lab)
    code, out, err = lab(["device", "claim", "--device", device.id])
    assert (code, err) == (0, "")
    assert out == (
        f"Claiming device.\nSuccessfully claimed device ID '{device.id}' into tenant '{tenant.name}' "
        f"with ID '{tenant.id}'.\n"
    )
    code, out, _ = lab("device list -o json")
    assert {"DeviceId": device.id, "TenantId": tenant.id, "ChipSku": "MT3620AN", "ProductId": None,
            "DeviceGroupId": None} in json.loads(out)  # fmt: skip
    code, out, _ = lab(["device", "show", "--device", device.id.upper(), "-o", "tsv"])
    assert code == 0 and device.id in out.split("\t")
    code, _, err = lab(["device", "claim", "--device", device.id])
    assert code == 1 and err.startswith("ERROR: ") and "(409" in err


# -- help, unknown commands, usage errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "--help",
        "-h",
        "tenant --help",
        "ca-certificate --help",
        "device --help",
        "login --help",
        "logout --help",
        "tenant list --help",
        "tenant select --help",
        "tenant show-selected --help",
        "ca-certificate list --help",
        "ca-certificate download --help",
        "ca-certificate download-chain --help",
        "ca-certificate download-proof --help",
        "device claim --help",
        "device list --help",
        "device show --help",
    ],
)
def test_help_works_on_every_level_of_azsphere(lab, line: str) -> None:
    code, out, err = lab(line)
    assert (code, err) == (0, "")
    words = line.replace("--help", "").replace("-h", "").split()
    assert ("azsphere " + " ".join(words)).strip() in out


def test_download_help_names_the_options_and_the_unit_example(lab) -> None:
    _, out, _ = lab("ca-certificate download-proof --help")
    flat = " ".join(out.split())
    for text in (
        "--destination [Required]",
        "--verification-code [Required]",
        "--index",
        "--thumbprint",
        "--tenant -t",
    ):
        assert text in flat
    assert "azsphere ca-certificate download-proof --destination ValidationCertification.cer" in flat


def test_an_unknown_command_suggests_the_close_match_and_exits_2(lab) -> None:
    code, out, err = lab("ca-certificate downlod --destination x.cer")
    assert (code, out) == (2, "")
    assert err.startswith(
        "ERROR: azsphere ca-certificate: 'downlod' is not in the 'azsphere ca-certificate' command group."
    )
    assert "The most similar choices to 'downlod':\n\tdownload" in err


def test_a_missing_required_argument_is_a_usage_error(lab) -> None:
    lab("login")
    code, out, err = lab("ca-certificate download-proof --destination p.cer")
    assert (code, out) == (2, "")
    assert "the following arguments are required: --verification-code" in err


# -- az sphere (ARM) -----------------------------------------------------------------------------------------------


def test_az_sphere_runs_the_arm_era_unit(lab) -> None:
    sphere = lab.endpoints["sphere"]
    rg, catalog = sphere["resource_group"], sphere["catalog"]
    assert lab("sphere catalog list", tool="az") == (1, "", "ERROR: Please run 'az login' to setup account.\n")
    code, out, _ = lab("login", tool="az")
    assert code == 0 and json.loads(out)[0]["id"] == sphere["subscription_id"]
    code, out, _ = lab("sphere catalog list", tool="az")
    assert [c["name"] for c in json.loads(out)] == [catalog]
    code, out, _ = lab(f"sphere ca-certificate list -g {rg} -c {catalog} --query [].properties.status", tool="az")
    assert json.loads(out) == ["Active"]

    code, out, err = lab(
        f"sphere ca-certificate download --resource-group {rg} --catalog {catalog} --output-file ca.cer", tool="az"
    )
    assert (code, out, err) == (0, "", "")
    ca = x509.load_der_x509_certificate((lab.folder / "ca.cer").read_bytes())
    assert thumbprint(ca) == tenant_of(lab).active_generation().thumbprint
    for serial in ("active", ".default", tenant_of(lab).active_generation().serial):
        assert lab(f"sphere ca-certificate download -g {rg} -c {catalog} -of s.cer -sn {serial}", tool="az")[0] == 0
    assert lab(f"sphere ca-certificate download -g {rg} -c {catalog} -of n.cer --name active", tool="az")[0] == 0
    code, _, _ = lab(f"sphere ca-certificate download-chain -g {rg} -c {catalog} -of chain.p7b", tool="az")
    assert code == 0 and len(pkcs7.load_der_pkcs7_certificates((lab.folder / "chain.p7b").read_bytes())) == 3
    code, _, _ = lab(f"sphere ca-certificate download-proof -g {rg} -c {catalog} -of proof.cer -v 4A5B6C", tool="az")
    assert code == 0
    assert get_common_name(x509.load_der_x509_certificate((lab.folder / "proof.cer").read_bytes())) == "4A5B6C"
    code, _, err = lab(f"sphere ca-certificate download -g {rg} -c {catalog} -of ca.pem", tool="az")
    assert code == 1 and err == "ERROR: The output file must use a '.cer' extension: 'ca.pem'.\n"


def test_az_sphere_device_claim_prints_the_documented_lines(lab) -> None:
    sphere = lab.endpoints["sphere"]
    rg, catalog = sphere["resource_group"], sphere["catalog"]
    lab("login", tool="az")
    with lab.cloud.lock:
        device = lab.cloud.sphere.create_device()
    code, out, err = lab(f"sphere device claim -g {rg} -c {catalog} --device {device.id}", tool="az")
    assert (code, err) == (0, "")
    assert out == (
        f"Claiming device.\nSuccessfully claimed device ID '{device.id}' into catalog '{catalog}' "
        f"with ID '{sphere['tenant_id']}'.\n"
    )
    code, out, _ = lab(f"sphere device list -g {rg} -c {catalog} --query [].name", tool="az")
    assert device.id in json.loads(out)


def test_az_needs_the_catalog_and_refuses_anything_but_sphere(lab) -> None:
    lab("login", tool="az")
    code, _, err = lab("sphere ca-certificate list -g rg", tool="az")
    assert code == 2 and "the following arguments are required: --catalog/-c" in err
    code, out, err = lab("vm list", tool="az")
    assert (code, out) == (2, "")
    assert err.startswith("ERROR: 'az vm' is not available: this 'az' is the sphere-harness lab shim")
    code, _, err = lab("sphere ca-certificate list -g rg -c missing", tool="az")
    assert code == 1 and err.startswith("ERROR: ") and "(404 ResourceNotFound)" in err


@pytest.mark.parametrize(
    "line",
    ["--help", "sphere --help", "sphere ca-certificate --help", "sphere device --help", "sphere catalog --help",
     "sphere ca-certificate download-proof --help", "sphere device claim --help", "login --help"],
)  # fmt: skip
def test_help_works_on_every_level_of_az_sphere(lab, line: str) -> None:
    code, out, err = lab(line, tool="az")
    assert (code, err) == (0, "")
    assert out.strip()


# -- outside a lab -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["azsphere", "az"])
def test_a_shim_refuses_outside_a_lab_with_exit_2(tool: str, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run(tool, ["login"], environ={}, out_file=out, err_file=err) == 2
    assert out.getvalue() == ""
    assert err.getvalue().startswith(f"ERROR: this '{tool}' is the sphere-harness lab shim, not the real tool")
    gone = {"SPHERE_HARNESS_LAB": str(tmp_path), "SPHERE_HARNESS_LAB_ENDPOINTS": str(tmp_path / "gone.json")}
    assert run(tool, ["login"], environ=gone, out_file=out, err_file=err) == 2
    assert "does not exist (is the world still served?)" in err.getvalue()


def test_lab_env_puts_real_shim_scripts_on_path_in_the_lab_folder(world, tmp_path: Path) -> None:
    _, _, endpoints = world
    cli = [sys.executable, "-m", "harness.cli"]
    exports = subprocess.run(
        [*cli, "lab", "env", "--endpoints-file", str(endpoints), "--lab-dir", str(tmp_path / "lab")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f'export PATH={tmp_path / "lab" / "bin"}:"$PATH"' in exports
    script = (
        f"{exports}\ncd {tmp_path}\ncommand -v azsphere\nazsphere login -o none && "
        "azsphere ca-certificate download --destination CAcertificate.cer\necho rc=$?\n"
        "env -u SPHERE_HARNESS_LAB azsphere tenant list; echo rc=$?\n"
    )
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60)
    lines = done.stdout.splitlines()
    assert lines[0] == str(tmp_path / "lab" / "bin" / "azsphere")
    assert lines[1].startswith("Saved the CA certificate to ") and lines[2] == "rc=0"
    assert lines[3] == "rc=2" and "not the real tool" in done.stderr
    assert not (Path(sys.executable).parent / "azsphere").exists()  # never into the venv's bin/


def test_lab_shell_starts_a_shell_that_is_a_lab_with_a_marked_prompt(world, tmp_path: Path) -> None:
    _, _, endpoints = world
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lab", "shell", "--endpoints-file", str(endpoints),
         "--lab-dir", str(tmp_path / "lab"), "--shell", "/bin/sh"],
        input='azsphere login -o tsv\necho "prompt: $PS1"\nexit 3\n', capture_output=True, text=True, timeout=60,
        env={**os.environ, "PS1": "$ "},
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stdout.splitlines() == [
        json.loads(endpoints.read_text())["sphere"]["user"],
        "prompt: (sphere-harness lab) $ ",
    ]
