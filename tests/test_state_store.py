"""The SQLite store of ``FakeCloud(state_dir=…)``: what is committed is read back through a fresh connection, a
failed commit writes nothing and forgets nothing, durability settings and migrations are data, the integrity check
finds damage, one process per directory, and the cost of a commit is what changed — not the size of the world.

Also reproduction 10 of issue 16 (tokens): a restarted world keeps accepting its own tokens and issues new ones,
never the ones it already issued; tokens of another world — even one with the same seed — never work.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import control, pki
from simulator.central.errors import CentralError
from simulator.cloud import FakeCloud
from simulator.sphere.errors import SphereError
from simulator.state import CodecError, describe_differences, dump_world
from simulator.state.database import MIGRATIONS, StateDatabase
from simulator.state.store import DATABASE_FILE, StoreError, read_world


def same(cloud: FakeCloud, directory: Path) -> list[str]:
    """Differences between the live world and the one read back from disk (empty when they agree)."""
    with cloud.lock:
        return describe_differences(dump_world(cloud), dump_world(read_world(directory)))


def x509_group(cloud: FakeCloud, tenant_id: str, group: str = "sphere") -> None:
    app = cloud.central.default_app
    with cloud.lock:
        app.put_group(group, {"displayName": group, "type": "iot", "attestation": {"type": "x509"}})
        ca = cloud.sphere.get_tenant(tenant_id).generations[0].certificate
        app.set_certificate(group, "primary", {"certificate": pki.to_b64(ca)})


@pytest.fixture
def world(tmp_path: Path) -> Any:
    cloud = FakeCloud(seed=3, state_dir=tmp_path / "world")
    yield cloud
    cloud.close()


# -- commit and read back -----------------------------------------------------------------------------------------


def test_a_new_world_is_on_disk_before_the_constructor_returns(tmp_path: Path) -> None:
    cloud = FakeCloud(seed=1, state_dir=tmp_path)
    try:
        assert (tmp_path / DATABASE_FILE).exists()
        assert same(cloud, tmp_path) == []
    finally:
        cloud.close()


def test_what_a_locked_block_changed_is_on_disk_when_it_ends(world: FakeCloud) -> None:
    directory = world.state_dir
    access = control.create_tenant(world)  # takes and releases the lock: committed
    assert same(world, directory) == []
    connection = sqlite3.connect(directory / DATABASE_FILE)  # a second, fresh connection sees the rows
    try:
        text = " ".join(row[0] or "" for row in connection.execute("SELECT state FROM objects"))
        assert access.tenant_id in text
    finally:
        connection.close()


def test_changes_made_without_the_lock_wait_for_the_next_commit(world: FakeCloud) -> None:
    directory = world.state_dir
    tenant = world.sphere.create_tenant(name="Unlocked")  # a direct model call: no lock, no commit yet
    assert tenant.id not in read_world(directory).sphere.tenants
    assert world.commit() > 0
    assert tenant.id in read_world(directory).sphere.tenants
    assert world.commit() == 0  # nothing left


def test_a_failed_commit_writes_nothing_and_keeps_everything_marked(world: FakeCloud) -> None:
    directory = world.state_dir
    before = dump_world(read_world(directory))
    tenant = world.sphere.create_tenant(name="Broken")
    tenant.name = lambda: None  # type: ignore[assignment] - a value no world can hold
    with pytest.raises(CodecError, match=r"Tenant\.name"):
        world.commit()
    assert describe_differences(before, dump_world(read_world(directory))) == []
    tenant.name = "Mended"
    assert world.commit() > 0
    assert read_world(directory).sphere.tenants[tenant.id].name == "Mended"
    assert same(world, directory) == []


def test_an_exception_inside_a_locked_block_still_commits_what_was_done(world: FakeCloud) -> None:
    """The store cannot undo memory: what a failing request already changed is written, so disk equals memory."""
    with pytest.raises(RuntimeError), world.lock:
        world.sphere.create_tenant(name="Half")
        raise RuntimeError("boom")
    assert same(world, world.state_dir) == []


def test_dict_order_survives_every_kind_of_change(world: FakeCloud) -> None:
    codes = world.settings.central.error_codes
    with world.lock:
        codes.update(a="1", b="2", c="3")
        codes["a"] = "changed"  # keeps its place
        del codes["b"]
        codes["b"] = "back"  # moves to the end
        codes.pop("c")
        codes.setdefault("d", "4")
    assert list(read_world(world.state_dir).settings.central.error_codes.items()) == list(codes.items())


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["set", "del", "pop", "clear", "setdefault", "update"]), st.sampled_from("abcd")),
        max_size=12,
    ),
    st.integers(0, 3),
)
def test_any_sequence_of_dict_changes_reads_back_in_order(ops: list[tuple[str, str]], commit_every: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        cloud = FakeCloud(seed=1, state_dir=directory)
        try:
            codes = cloud.settings.central.error_codes
            for n, (op, key) in enumerate(ops):
                if op == "set":
                    codes[key] = f"{key}{n}"
                elif op == "del" and key in codes:
                    del codes[key]
                elif op == "pop":
                    codes.pop(key, None)
                elif op == "clear":
                    codes.clear()
                elif op == "setdefault":
                    codes.setdefault(key, "x")
                elif op == "update":
                    codes.update({key: "u", "z": "z"})
                if commit_every and n % commit_every == 0:
                    cloud.commit()
            cloud.commit()
            assert list(read_world(directory).settings.central.error_codes.items()) == list(codes.items())
        finally:
            cloud.close()


def test_lists_and_sets_are_tracked_too(world: FakeCloud) -> None:
    app = world.central.default_app
    with world.lock:
        app.add_template("dtmi:contoso:thermostat;1")
        world.faults.add({"service": "central", "effect": {"status": 503}})
        world.faults.check("central", "verify")  # counters change in place
    again = read_world(world.state_dir)
    assert set(again.central.default_app.templates) == {"dtmi:contoso:thermostat;1"}
    assert [(r.calls, r.fired) for r in again.faults.rules] == [(1, 1)]
    assert same(world, world.state_dir) == []


def test_a_mutation_that_bypasses_tracking_is_caught_by_the_comparison(world: FakeCloud) -> None:
    """The canary for the completeness tests: they would see a change the store missed."""
    tenant = control.create_tenant(world)
    object.__setattr__(world.sphere.get_tenant(tenant.tenant_id), "name", "sneaky")
    assert any("name" in line for line in same(world, world.state_dir))


def test_a_copy_of_a_tracked_world_is_plain_and_detached(world: FakeCloud) -> None:
    import copy

    control.create_tenant(world)
    with world.lock:
        user = next(iter(world.sphere.users.values()))
        clone = copy.deepcopy(user)
        clone.email = "clone@example.com"  # no store hears of it
        clone.roles["x"] = ["Reader"]
        assert type(clone) is type(user).__mro__[1]
        assert type(clone.roles) is dict
        assert type(copy.copy(world.sphere.users)) is dict
    assert world.commit() == 0


def test_reopening_takes_the_world_from_the_directory(tmp_path: Path) -> None:
    cloud = FakeCloud(seed=9, state_dir=tmp_path)
    control.ensure_defaults(cloud)
    before = dump_world(cloud)
    cloud.close()
    with FakeCloud(state_dir=tmp_path) as again:
        assert again.seed == 9
        assert describe_differences(before, dump_world(again)) == []
    with FakeCloud(seed=9, state_dir=tmp_path):
        pass
    with pytest.raises(ValueError, match="seed 9, not 10"):
        FakeCloud(seed=10, state_dir=tmp_path)
    with pytest.raises(ValueError, match="settings"):
        FakeCloud(settings={"central": {"code_reuse": True}}, state_dir=tmp_path)
    # a refused reopen leaves the directory free
    FakeCloud(state_dir=tmp_path).close()


def test_an_unseeded_world_lasts_too(tmp_path: Path) -> None:
    cloud = FakeCloud(state_dir=tmp_path)
    access = control.create_tenant(cloud)
    cloud.close()
    with FakeCloud(state_dir=tmp_path) as again:
        assert again.sphere.authenticate(access.token, "sphere").email == access.user


# -- cost ---------------------------------------------------------------------------------------------------------


def rows_written_by_upload(tmp_path: Path, tenants: int) -> int:
    cloud = FakeCloud(seed=2, state_dir=tmp_path / str(tenants))
    try:
        with cloud.lock:
            for n in range(tenants):
                cloud.sphere.create_tenant(name=f"t{n}")
            control.ensure_defaults(cloud)
            cloud.central.default_app.put_group(
                "sphere", {"displayName": "g", "type": "iot", "attestation": {"type": "x509"}}
            )
        ca = next(iter(cloud.sphere.tenants.values())).generations[0].certificate
        cloud.central.default_app.set_certificate("sphere", "primary", {"certificate": pki.to_b64(ca)})
        return cloud.commit()  # the objects the upload changed
    finally:
        cloud.close()


def test_a_commit_writes_what_changed_not_the_world(tmp_path: Path) -> None:
    """The same certificate upload writes the same rows on a world of 3 and of 120 tenants."""
    assert rows_written_by_upload(tmp_path, 3) == rows_written_by_upload(tmp_path, 120)


# -- the database -------------------------------------------------------------------------------------------------


def test_transactions_are_explicit_and_settings_are_data(world: FakeCloud) -> None:
    database = world._store.db
    assert database.connection.isolation_level is None
    assert database.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    database.set_setting("sqlite_synchronous", "NORMAL")
    fresh = StateDatabase(database.path, readonly=True)
    try:
        assert fresh.settings["sqlite_synchronous"] == "NORMAL"
        assert fresh.connection.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        fresh.close()
    with pytest.raises(StoreError, match="unknown setting"):
        database.set_setting("nope", 1)


def test_migrations_are_recorded_once_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    database = StateDatabase(tmp_path / "x.sqlite3")
    names = [row[0] for row in database.connection.execute("SELECT name FROM _migrations")]
    assert names == [name for name, _ in MIGRATIONS]
    assert database.migrate() == []
    database.connection.execute("INSERT INTO _migrations VALUES ('9999_future', 'later')")
    database.close()
    with pytest.raises(StoreError, match="newer"):
        StateDatabase(tmp_path / "x.sqlite3")


def test_the_integrity_check_finds_damage_and_fix_removes_garbage(world: FakeCloud) -> None:
    directory = world.state_dir
    access = control.create_tenant(world)
    x509_group(world, access.tenant_id)
    with world.lock:
        world.central.default_app.delete_group("sphere")  # its rows become garbage
    database = world._store.db
    warnings = database.check()
    assert len(warnings) == 1 and "unreachable" in warnings[0]
    assert database.check(fix=True) == []
    assert database.check() == []
    assert same(world, directory) == []
    # a reference to nowhere
    with database.transaction() as connection:
        connection.execute("INSERT INTO objects VALUES (999999, 'list', ?)", ('[{"$ref": "424242"}]',))
    assert any("missing object(s) [424242]" in w for w in database.check())


def test_damaged_bytes_are_an_error_not_a_silent_world(tmp_path: Path) -> None:
    FakeCloud(seed=1, state_dir=tmp_path).close()
    path = tmp_path / DATABASE_FILE
    data = bytearray(path.read_bytes())
    data[:16] = b"not a database!!"
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError):
        FakeCloud(state_dir=tmp_path)


# -- one process per directory ------------------------------------------------------------------------------------


def test_a_directory_serves_one_world_at_a_time(tmp_path: Path) -> None:
    first = FakeCloud(seed=1, state_dir=tmp_path)
    with pytest.raises(StoreError, match="in use by pid"):
        FakeCloud(state_dir=tmp_path)
    assert read_world(tmp_path).seed == 1  # reading is fine meanwhile
    first.close()
    FakeCloud(state_dir=tmp_path).close()


def test_a_killed_holder_does_not_block_its_successor(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from simulator.cloud import FakeCloud
        cloud = FakeCloud(seed=5, state_dir={str(tmp_path)!r})
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError):
            FakeCloud(state_dir=tmp_path)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        with FakeCloud(state_dir=tmp_path) as successor:
            assert successor.seed == 5
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()


# -- reproduction 10: tokens belong to one world ------------------------------------------------------------------


def test_a_restarted_world_accepts_its_tokens_and_never_reissues_them(tmp_path: Path) -> None:
    cloud = FakeCloud(seed=7, state_dir=tmp_path)
    defaults = control.ensure_defaults(cloud)
    first = {defaults.tenant.token, control.issue_token(cloud, defaults.tenant.user)}
    bearer = cloud.central.default_app.issue_bearer_token()
    cloud.close()
    with FakeCloud(seed=7, state_dir=tmp_path) as again:
        for token in first:
            assert again.sphere.authenticate(token, "sphere").email == defaults.tenant.user
        app = again.central.default_app
        assert app.authenticate(defaults.app.api_token).name == "operator-token"
        assert app.authenticate(bearer).kind == "bearer"
        reissued = {control.issue_token(again, defaults.tenant.user) for _ in range(3)}
        assert not reissued & first


def test_tokens_of_another_world_with_the_same_seed_never_work(tmp_path: Path) -> None:
    a = FakeCloud(seed=7, state_dir=tmp_path / "a")
    b = FakeCloud(seed=7)  # the same seed, in memory: the same IDs, another world
    try:
        da, db = control.ensure_defaults(a), control.ensure_defaults(b)
        assert (da.tenant.tenant_id, da.app.id) == (db.tenant.tenant_id, db.app.id)  # the seed still repeats IDs
        assert da.tenant.token != db.tenant.token
        with pytest.raises(SphereError, match="invalid"):
            b.sphere.authenticate(da.tenant.token, "sphere")
        with pytest.raises(CentralError):
            b.central.default_app.authenticate(da.app.api_token)
        with pytest.raises(CentralError):
            b.central.default_app.authenticate(a.central.default_app.issue_bearer_token())
    finally:
        a.close()


def test_a_reset_gives_the_world_a_new_secret(world: FakeCloud) -> None:
    defaults = control.ensure_defaults(world)
    secret = world.identity
    world.reset()
    again = control.ensure_defaults(world)
    assert world.identity != secret
    assert again.app.id == defaults.app.id  # same seed, same IDs
    with pytest.raises(CentralError):
        world.central.default_app.authenticate(defaults.app.api_token)
    assert same(world, world.state_dir) == []


def test_a_record_made_from_a_tracked_one_is_adopted_when_the_world_holds_it(world: FakeCloud) -> None:
    """``dataclasses.replace`` (or ``type(obj)(...)``) on a tracked record makes a new, not yet adopted record."""
    import dataclasses

    with world.lock:
        rule = world.faults.add({"service": "central", "effect": {"status": 503}})
    tracked = world.faults.rules[0]
    copy = dataclasses.replace(tracked, id="copy", calls=7)
    copy.fired = 1  # no store hears of it yet
    with world.lock:
        world.faults.rules.append(copy)
    assert [(r.id, r.calls, r.fired) for r in read_world(world.state_dir).faults.rules] == [
        (rule.id, 0, 0),
        ("copy", 7, 1),
    ]
    assert same(world, world.state_dir) == []
