"""Worlds as files: ``sphere-harness state export|import|check``, ``POST /_sim/snapshot|restore`` and
``serve --from-snapshot``. Export then import round-trips a world exactly; a file that is not a world is refused and
changes nothing."""

from __future__ import annotations

import gzip
import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cli import main
from harness.commands.state import open_world
from simulator import control, pki
from simulator.cloud import FakeCloud
from simulator.state import describe_differences, dump_world, dumps
from simulator.state.files import read_world_file, write_world_file
from simulator.state.store import read_world


def prepared(directory: Path) -> dict[str, Any]:
    """A persisted world a trainer prepared: a tenant, an app, a verified group. Returns what the trainee needs."""
    with FakeCloud(seed=12, state_dir=directory) as cloud:
        defaults = control.ensure_defaults(cloud)
        app, tenant = cloud.central.default_app, cloud.sphere.get_tenant(defaults.tenant.tenant_id)
        with cloud.lock:
            app.put_group("sphere", {"displayName": "Sphere", "type": "iot", "attestation": {"type": "x509"}})
            app.set_certificate("sphere", "primary", {"certificate": pki.to_b64(tenant.generations[0].certificate)})
            code = app.generate_verification_code("sphere", "primary")
            proof = cloud.sphere.issue_proof(tenant.id, code)
            app.verify_certificate("sphere", "primary", {"certificate": pki.to_b64(proof)})
        return {"token": defaults.tenant.token, "api_token": defaults.app.api_token, "tenant_id": tenant.id}


def test_export_then_import_round_trips_a_world_exactly(tmp_path: Path) -> None:
    access = prepared(tmp_path / "trainer")
    exported = tmp_path / "prepared.json.gz"
    assert main(["state", "export", str(exported), "--state-dir", str(tmp_path / "trainer")]) == 0
    assert exported.read_bytes()[:2] == b"\x1f\x8b"
    assert main(["state", "import", str(exported), "--state-dir", str(tmp_path / "trainee")]) == 0
    original, imported = read_world(tmp_path / "trainer"), read_world(tmp_path / "trainee")
    assert describe_differences(dump_world(original), dump_world(imported)) == []
    again = tmp_path / "again.json"
    assert main(["state", "export", str(again), "--state-dir", str(tmp_path / "trainee")]) == 0
    assert dumps(read_world_file(again)) == dumps(read_world_file(exported))  # byte for byte
    with FakeCloud(state_dir=tmp_path / "trainee") as trainee:  # the trainee's world works with the trainer's tokens
        assert trainee.sphere.authenticate(access["token"], "sphere").roles_in(access["tenant_id"])
        app = trainee.central.default_app
        assert app.authenticate(access["api_token"]).name == "operator-token"
        assert app.get_certificate("sphere", "primary").verified


def test_import_refuses_what_is_not_a_world_and_a_directory_that_holds_one(tmp_path: Path, capsys: Any) -> None:
    prepared(tmp_path / "world")
    before = dump_world(read_world(tmp_path / "world"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "sphere-harness-world", "version": 1, "root": "1", "objects": {}}))
    assert main(["state", "import", str(bad), "--state-dir", str(tmp_path / "world"), "--replace"]) == 2
    assert "root" in capsys.readouterr().err
    good = tmp_path / "good.json"
    write_world_file(dump_world(FakeCloud(seed=1)), good)
    assert main(["state", "import", str(good), "--state-dir", str(tmp_path / "world")]) == 2  # holds a world
    assert "--replace" in capsys.readouterr().err
    assert describe_differences(before, dump_world(read_world(tmp_path / "world"))) == []
    assert main(["state", "import", str(good), "--state-dir", str(tmp_path / "world"), "--replace"]) == 0
    assert read_world(tmp_path / "world").seed == 1
    assert main(["state", "export", str(good)]) == 2  # neither source given


def test_a_gzip_bomb_is_bounded(tmp_path: Path) -> None:
    from simulator.state import CodecError

    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b" " * 5_000_000))
    with pytest.raises(CodecError, match="more than"):
        read_world_file(bomb, max_bytes=1_000_000)


def test_check_reports_garbage_and_fix_removes_it(tmp_path: Path, capsys: Any) -> None:
    prepared(tmp_path / "world")
    assert main(["state", "check", "--state-dir", str(tmp_path / "world")]) == 0
    with FakeCloud(state_dir=tmp_path / "world") as cloud, cloud.lock:
        cloud.central.default_app.delete_group("sphere")
    capsys.readouterr()
    assert main(["state", "check", "--state-dir", str(tmp_path / "world")]) == 1
    assert "unreachable" in capsys.readouterr().err
    assert main(["state", "check", "--state-dir", str(tmp_path / "world"), "--fix"]) == 0
    assert main(["state", "check", "--state-dir", str(tmp_path / "world")]) == 0


def test_serve_from_a_snapshot_in_memory_or_into_a_fresh_state_dir(tmp_path: Path) -> None:
    access = prepared(tmp_path / "trainer")
    snapshot = tmp_path / "prepared.json"
    write_world_file(dump_world(read_world(tmp_path / "trainer")), snapshot)
    in_memory = open_world(None, state_dir=None, snapshot=snapshot)
    assert in_memory.state_dir is None
    assert in_memory.sphere.authenticate(access["token"], "sphere")
    with open_world(None, state_dir=tmp_path / "fresh", snapshot=snapshot) as persisted:
        assert persisted.sphere.authenticate(access["token"], "sphere")
    with pytest.raises(ValueError, match="already holds a world"):
        open_world(None, state_dir=tmp_path / "fresh", snapshot=snapshot)
    with pytest.raises(ValueError, match="own seed"):
        open_world(3, state_dir=None, snapshot=snapshot)


def test_restore_is_exact_and_written_through(tmp_path: Path) -> None:
    with FakeCloud(seed=5, state_dir=tmp_path / "world") as cloud:
        control.create_tenant(cloud, name="Before")
        snapshot = cloud.snapshot()
        control.create_tenant(cloud, name="After")
        cloud.restore(snapshot)
        assert describe_differences(snapshot, cloud.snapshot()) == []
        assert describe_differences(snapshot, dump_world(read_world(tmp_path / "world"))) == []
        control.create_tenant(cloud, name="Later")  # and the restored world goes on being persisted
        assert describe_differences(cloud.snapshot(), dump_world(read_world(tmp_path / "world"))) == []


def test_a_restore_the_store_cannot_write_leaves_the_world_as_it_was(tmp_path: Path) -> None:
    with FakeCloud(seed=5, state_dir=tmp_path / "world") as cloud:
        control.create_tenant(cloud, name="Before")
        other = FakeCloud(seed=6)
        control.create_tenant(other, name="Elsewhere")
        document = dump_world(other)
        before = cloud.snapshot()
        store = cloud._store
        real = store.db.transaction

        def failing():  # the disk refuses the whole write
            raise OSError("disk full")

        store.db.transaction = failing  # type: ignore[method-assign]
        with pytest.raises(OSError, match="disk full"):
            cloud.restore(document)
        store.db.transaction = real  # type: ignore[method-assign]
        assert describe_differences(before, cloud.snapshot()) == []
        control.create_tenant(cloud, name="Still persisted")
        assert describe_differences(cloud.snapshot(), dump_world(read_world(tmp_path / "world"))) == []


# -- over HTTP: /_sim/snapshot and /_sim/restore ------------------------------------------------------------------


@pytest.mark.served
def test_snapshot_and_restore_a_served_persisted_world(tmp_path: Path) -> None:
    endpoints_path = tmp_path / "ep.json"
    cloud = FakeCloud(seed=5, state_dir=tmp_path / "world")
    try:
        with cloud.serve(mqtt_port=None, endpoints_file=endpoints_path) as served:
            trust = ssl.create_default_context(cafile=served.ca_bundle)
            url = served.endpoints["control_url"]
            with httpx.Client(verify=trust) as http:
                made = http.post(f"{url}/tenants", json={"name": "Before"}).json()
                snapshot = http.post(f"{url}/snapshot").json()
                assert snapshot["format"] == "sphere-harness-world"
                http.post(f"{url}/tenants", json={"name": "After"})
                http.post(f"{url}/clock", json={"advance": "30d"})

                refused = http.post(f"{url}/restore", content=b'{"format": "nope"}')
                assert refused.status_code == 400 and refused.json()["error"]["code"] == "InvalidWorld"
                assert len(cloud.sphere.tenants) == 3  # unchanged by the refusal

                restored = http.post(f"{url}/restore", content=json.dumps(snapshot))
                assert restored.status_code == 200, restored.text
                assert restored.json()["endpoints"] == json.loads(endpoints_path.read_text())
                with cloud.lock:  # the snapshot's world (plus the tokens the endpoints file got), in memory and on disk
                    live = dump_world(cloud)
                    assert set(cloud.sphere.tenants) == {made["tenant_id"], served.endpoints["sphere"]["tenant_id"]}
                assert describe_differences(live, dump_world(read_world(tmp_path / "world"))) == []
                legacy = f"{served.endpoints['sphere']['legacy_url']}/tenants/{made['tenant_id']}"
                answer = http.get(legacy, headers={"Authorization": f"Bearer {made['token']}"})
                assert answer.status_code == 200  # a token of the snapshot works after the restore
                assert http.post(f"{url}/snapshot", content=b'{"x": 1}').status_code == 400
    finally:
        cloud.close()


@pytest.mark.served
def test_export_and_import_through_an_endpoints_file(tmp_path: Path) -> None:
    """Through a served world's control API, with its control token (as beyond loopback)."""
    endpoints_path = tmp_path / "ep.json"
    source = prepared(tmp_path / "trainer")
    snapshot = tmp_path / "prepared.json"
    assert main(["state", "export", str(snapshot), "--state-dir", str(tmp_path / "trainer")]) == 0
    cloud = FakeCloud(seed=99)
    with cloud.serve(mqtt_port=None, endpoints_file=endpoints_path, control="token"):  # /_sim needs the token
        assert main(["state", "import", str(snapshot), "--endpoints-file", str(endpoints_path)]) == 0
        assert cloud.sphere.authenticate(source["token"], "sphere")
        assert json.loads(endpoints_path.read_text())["sphere"]["tenant_id"] == source["tenant_id"]
        copy = tmp_path / "copy.json"
        assert main(["state", "export", str(copy), "--endpoints-file", str(endpoints_path)]) == 0
        assert dumps(read_world_file(copy)) == dumps(dump_world(cloud))


def test_settings_show_and_change_durability(tmp_path: Path, capsys: Any) -> None:
    FakeCloud(seed=1, state_dir=tmp_path).close()
    assert main(["state", "settings", "--state-dir", str(tmp_path)]) == 0
    assert "sqlite_synchronous=FULL" in capsys.readouterr().out
    assert main(["state", "settings", "--state-dir", str(tmp_path), "sqlite_synchronous=NORMAL"]) == 0
    assert "sqlite_synchronous=NORMAL" in capsys.readouterr().out
    assert main(["state", "settings", "--state-dir", str(tmp_path), "sqlite_synchronous=SOMETIMES"]) == 1
    assert main(["state", "settings", "--state-dir", str(tmp_path), "nope=1"]) == 2
    with FakeCloud(state_dir=tmp_path) as cloud:  # re-applied when the world is opened
        assert cloud._store.db.connection.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert main(["state", "settings", "--state-dir", str(tmp_path), "sqlite_synchronous=FULL"]) == 1  # in use
