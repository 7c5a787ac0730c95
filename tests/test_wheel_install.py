"""The package as a user installs it: build the wheel, install it (not editable) into fresh virtual environments —
one per Python 3.11–3.13 interpreter this machine has — and from an unrelated folder run ``--version``, ``list``
(every shipped scenario), ``run`` (the seed workflow passes) and a pytest project that uses ``run_scenario``.

Cost: the wheel is built once (``uv build --wheel``, ~2 s; ``pip wheel`` without uv, ~10 s); each environment is
made and filled by uv (in the ``test`` extra; ~3 s each from its cache — pip, the fallback, takes ~25-40 s each), in
parallel; then each runs the seed workflow and a two-test pytest project, in parallel too. About 25 s of CPU in all;
on the 2-core development machine under a load of ~15 it held one xdist worker for 60-150 s.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MINORS = (11, 12, 13)
TIMEOUT = 600


def interpreters() -> dict[str, str]:
    """``{"3.11": path, …}`` for each supported interpreter found on PATH or under pyenv; always the running one."""
    found = {f"{sys.version_info.major}.{sys.version_info.minor}": sys.executable}
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in MINORS:
        version = f"3.{minor}"
        if version in found:
            continue
        candidates = [
            shutil.which(f"python{version}"),
            *sorted(glob.glob(str(pyenv / f"{version}.*" / "bin" / "python3"))),
        ]
        for candidate in filter(None, candidates):
            probe = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if probe.returncode == 0 and probe.stdout.strip() == version:
                found[version] = candidate
                break
    return dict(sorted(found.items()))


def sh(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False
    )
    assert done.returncode == 0, f"{' '.join(map(str, command))} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    uv = installer()
    if uv is not None:  # ~2 s with uv's cached build backend; pip's isolated build takes ~10 s
        sh(*uv, "build", "--quiet", "--wheel", "--out-dir", out, ROOT, cwd=out)
    else:
        sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out, ROOT, cwd=out)
    (built,) = out.glob("sphere_harness-*.whl")
    return built


def installer() -> list[str] | None:
    """uv (from the ``test`` extra) when present: it makes a venv and installs in ~3 s where pip takes ~25-40 s."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    return [find_uv_bin()]


@pytest.fixture(scope="module")
def environments(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fresh venv per interpreter with the wheel (not editable) and pytest installed; prepared in parallel."""
    base = tmp_path_factory.mktemp("venvs")
    uv = installer()

    def prepare(item: tuple[str, str]) -> tuple[str, Path]:
        version, python = item
        venv = base / f"py{version}"
        if uv is not None:
            sh(*uv, "venv", "--quiet", "--python", python, venv, cwd=base)
            sh(*uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", wheel, "pytest", cwd=base)
        else:
            sh(python, "-m", "venv", "--without-pip", venv, cwd=base)
            pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet"]
            sh(*pip, "--no-compile", wheel, "pytest", cwd=base)
        return version, venv

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(prepare, interpreters().items()))


def shipped_scenarios() -> list[str]:
    return sorted(path.stem for path in (ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.slow
def test_the_installed_package_works_from_an_unrelated_folder(environments: dict[str, Path], tmp_path: Path) -> None:
    assert "3.11" in environments or sys.version_info >= (3, 12)
    with ThreadPoolExecutor(max_workers=3) as pool:
        checked = list(pool.map(lambda item: check(*item, tmp_path), environments.items()))
    assert checked == list(environments)


def check(version: str, venv: Path, tmp_path: Path) -> str:
    """Everything a user does first, from a folder that is not the checkout, with one installed environment."""
    elsewhere = tmp_path / f"user-{version}"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    cli = venv / "bin" / "sphere-harness"

    where = sh(venv / "bin" / "python", "-c", "import harness; print(harness.__file__)", cwd=elsewhere, env=env)
    assert str(venv) in where.stdout, f"{version}: imported from the checkout, not the install: {where.stdout}"
    assert sh(cli, "--version", cwd=elsewhere, env=env).stdout.startswith("sphere-harness ")

    listed = sh(cli, "list", cwd=elsewhere, env=env).stdout
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    assert names == shipped_scenarios(), f"{version}: {listed}"

    ran = sh(cli, "run", "--seed", "1", cwd=elsewhere, env=env)
    assert "PASSED enable-trust" in ran.stdout, f"{version}: {ran.stdout}"
    assert (elsewhere / "sphere-harness-work" / "enable-trust" / "ValidationCertification.cer").exists()

    (elsewhere / "test_onboarding.py").write_text(
        textwrap.dedent(
            """
            def test_seed_workflow(run_scenario):
                result = run_scenario("enable-trust", seed=3)
                assert result.passed, result.failed_step
                assert result.variables["entry"]["verified"] is True


            def test_my_code_against_the_fake(fake_world):
                import httpx

                tenants = httpx.get(
                    "https://prod.core.sphere.azure.net/v2/tenants",
                    headers={"Authorization": f"Bearer {fake_world.tenant.token}"},
                ).json()
                assert tenants[0]["Id"] == fake_world.tenant.tenant_id
            """
        )
    )
    tested = sh(venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=elsewhere, env=env)
    assert "2 passed" in tested.stdout, f"{version}: {tested.stdout}"
    return version
