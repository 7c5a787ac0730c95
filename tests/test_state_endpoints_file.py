"""The endpoints file's lifecycle (issue 16, reproduction 10): removed on every exit path it can be, and a stale one
— its server gone — detected and replaced on start, while a live world's file is never clobbered."""

from __future__ import annotations

import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from simulator import endpoints_file
from simulator.cloud import FakeCloud
from simulator.server import ServeError, serve_cloud

pytestmark = pytest.mark.served
SCRIPT = str(Path(sys.executable).with_name("sphere-harness"))


def stale(path: Path, **fields: object) -> None:
    path.write_text(json.dumps({"control_url": "https://127.0.0.1:9/_sim", **fields}), encoding="utf-8")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    "leftover",
    [
        pytest.param(lambda p: stale(p, pid=dead_pid()), id="its process is gone"),
        pytest.param(lambda p: stale(p, pid=os.getpid()), id="nothing answers at its control URL"),
        pytest.param(lambda p: p.write_text("{half a file", encoding="utf-8"), id="not JSON"),
    ],
)
def test_a_stale_file_is_replaced_on_start(tmp_path: Path, leftover, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ep.json"
    leftover(path)
    with caplog.at_level(logging.WARNING), serve_cloud(FakeCloud(seed=1), mqtt_port=None, endpoints_file=path) as s:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        assert json.loads(path.read_text())["control_url"] == s.endpoints["control_url"]
    assert "replacing the stale endpoints file" in caplog.text
    assert not path.exists()


def test_a_live_worlds_file_is_never_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "ep.json"
    with serve_cloud(FakeCloud(seed=1), mqtt_port=None, endpoints_file=path) as first:
        with pytest.raises(ServeError, match="still serving"):
            serve_cloud(FakeCloud(seed=2), mqtt_port=None, endpoints_file=path)
        assert json.loads(path.read_text())["control_url"] == first.endpoints["control_url"]
    assert not path.exists()


def test_the_file_goes_when_the_serving_code_raises(tmp_path: Path) -> None:
    path = tmp_path / "ep.json"
    with pytest.raises(RuntimeError, match="boom"), serve_cloud(FakeCloud(seed=1), mqtt_port=None, endpoints_file=path):
        assert path.exists()
        raise RuntimeError("boom")
    assert not path.exists()


def test_a_process_that_ends_without_stopping_its_world_removes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ep.json"
    script = textwrap.dedent(
        f"""
        from simulator.cloud import FakeCloud
        served = FakeCloud(seed=1).serve(mqtt_port=None, endpoints_file={str(path)!r})
        print(open({str(path)!r}).read() != "", flush=True)
        """  # no stop(): the interpreter exits with the world still served
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert not path.exists()


def test_removal_leaves_another_processs_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "ep.json"
    stale(path, pid=dead_pid())
    endpoints_file.remove(path)  # not ours
    assert path.exists()


def test_cli_serve_with_a_state_dir_survives_kill_9_and_stops_on_sighup(tmp_path: Path) -> None:
    """``serve --state-dir``: killed with SIGKILL, restarted, the world (and its tokens) is back and the file the
    killed server left is replaced; SIGHUP then stops it cleanly, file removed."""
    endpoints, state = tmp_path / "ep.json", tmp_path / "world"
    command = [SCRIPT, "serve", "--port", "0", "--mqtt-port", "0", "--seed", "4"]
    command += ["--state-dir", str(state), "--endpoints-file", str(endpoints)]

    def start(previous_pid: int | None) -> tuple[subprocess.Popen[str], dict]:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the endpoints file never appeared"
            try:
                data = json.loads(endpoints.read_text())
                if data["pid"] == process.pid:
                    return process, data
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)

    first, data = start(None)
    try:
        trust = ssl.create_default_context(cafile=data["ca_bundle"])
        made = httpx.post(f"{data['control_url']}/tenants", json={"name": "Lasting"}, verify=trust).json()
        assert data["state_dir"] == str(state.resolve())
    finally:
        first.kill()  # SIGKILL: the endpoints file stays behind
        first.communicate()
    assert endpoints.exists()
    ca_bundle = data["ca_bundle"]
    second, data = start(first.pid)
    assert data["ca_bundle"] == ca_bundle  # the local CA lives in the state directory: clients keep trusting it
    try:
        legacy = f"{data['sphere']['legacy_url']}/tenants/{made['tenant_id']}"
        answer = httpx.get(legacy, headers={"Authorization": f"Bearer {made['token']}"}, verify=trust)
        assert answer.status_code == 200 and answer.json()["Name"] == "Lasting"
        second.send_signal(signal.SIGHUP)
        _, err = second.communicate(timeout=30)
    finally:
        if second.poll() is None:
            second.kill()
            second.communicate()
    assert second.returncode == 0, err
    assert "replacing the stale endpoints file" in err
    assert not endpoints.exists()
    with FakeCloud(state_dir=state) as world:  # the directory was freed
        assert made["tenant_id"] in world.sphere.tenants
