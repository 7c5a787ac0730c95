"""``sphere-harness state export|import|check`` and the world that ``serve --state-dir/--from-snapshot`` opens.

::

    sphere-harness serve --state-dir world/ --endpoints-file ep.json      # a world that survives restarts
    sphere-harness state export prepared.json.gz --state-dir world/       # works while it is being served
    sphere-harness state export prepared.json --endpoints-file ep.json    # the same through POST /_sim/snapshot
    sphere-harness state import prepared.json.gz --state-dir fresh/       # a new state directory from a file
    sphere-harness state import prepared.json --endpoints-file ep.json    # a served world becomes the file's world
    sphere-harness serve --from-snapshot prepared.json.gz                 # a world in memory, from a file
    sphere-harness state check --state-dir world/ [--fix]                 # integrity and consistency
    sphere-harness state settings --state-dir world/ sqlite_synchronous=NORMAL   # durability (default FULL)

Exit status: 0 done, 1 the world could not be reached or written (a state directory in use, a server that does
not answer), 2 invalid input (a file that is not a world, contradicting options).

A row of :data:`harness.cli.COMMANDS`; everything heavy is imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_PASSED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

state_app = typer.Typer(
    help="Worlds on disk: export a world to one file, import one, check a state directory.", no_args_is_help=True
)

FileArgument = Annotated[Path, typer.Argument(help="the world file (.json, or .json.gz for gzip)")]
StateDirOption = Annotated[Path | None, typer.Option(help="a state directory (serve --state-dir)")]
EndpointsOption = Annotated[Path | None, typer.Option(help="a served world's endpoints file")]


def _errors() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> typer.Exit:
    from rich.markup import escape

    _errors().print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(code)


def _one_source(state_dir: Path | None, endpoints_file: Path | None) -> None:
    if (state_dir is None) == (endpoints_file is None):
        raise _fail("give exactly one of --state-dir or --endpoints-file", EXIT_INVALID)


def _control(endpoints_file: Path) -> tuple[str, str, str | None]:
    try:
        endpoints = json.loads(endpoints_file.read_text(encoding="utf-8"))
        if not endpoints.get("control_url"):
            raise ValueError("the world serves no control API (it was started with --control off)")
        return endpoints["control_url"], endpoints["ca_bundle"], endpoints.get("control_token")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _fail(f"{endpoints_file} is not a usable endpoints file: {exc}", EXIT_INVALID) from None


def _post(endpoints_file: Path, path: str, content: bytes) -> Any:
    import ssl

    import httpx

    control_url, ca_bundle, token = _control(endpoints_file)
    headers = {"Content-Type": "application/json"}
    if token:  # a world served beyond loopback guards /_sim with a control token
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.post(
            f"{control_url}{path}",
            content=content,
            headers=headers,
            verify=ssl.create_default_context(cafile=ca_bundle),
            timeout=300,
        )
    except httpx.HTTPError as exc:
        raise _fail(f"the served world at {control_url} did not answer: {exc}", EXIT_FAILED) from None
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        code = EXIT_INVALID if response.status_code in (400, 413) else EXIT_FAILED
        raise _fail(f"{path} answered {response.status_code}: {message}", code)
    return response


@state_app.command("export")
def export(file: FileArgument, state_dir: StateDirOption = None, endpoints_file: EndpointsOption = None) -> None:
    """Write a whole world to FILE: from a state directory (also while it is served) or a served world."""
    from simulator.state.codec import CodecError, dump_world, loads
    from simulator.state.files import write_world_file
    from simulator.state.store import StoreError, read_world

    _one_source(state_dir, endpoints_file)
    try:
        if state_dir is not None:
            document = dump_world(read_world(state_dir))
        else:
            assert endpoints_file is not None
            document = loads(_post(endpoints_file, "/snapshot", b"").content)
        write_world_file(document, file)
    except (StoreError, OSError) as exc:
        raise _fail(str(exc), EXIT_FAILED) from None
    except CodecError as exc:
        raise _fail(str(exc), EXIT_INVALID) from None
    _errors().print(f"wrote {file} ({len(document['objects'])} objects)")


@state_app.command("import")
def import_(
    file: FileArgument,
    state_dir: StateDirOption = None,
    endpoints_file: EndpointsOption = None,
    replace: Annotated[bool, typer.Option(help="replace the world a state directory already holds")] = False,
) -> None:
    """Load the world in FILE into a state directory (not in use) or into a served world (POST /_sim/restore)."""
    from simulator.state.codec import CodecError, dumps, load_world
    from simulator.state.files import read_world_file
    from simulator.state.store import StoreError, WorldStore

    _one_source(state_dir, endpoints_file)
    try:
        document = read_world_file(file)
        world = load_world(document)
    except CodecError as exc:
        raise _fail(f"{file}: {exc}", EXIT_INVALID) from None
    if endpoints_file is not None:
        _post(endpoints_file, "/restore", dumps(document).encode("ascii"))
        _errors().print(f"the served world is now the world of {file}")
        return
    assert state_dir is not None
    try:
        store = WorldStore(state_dir)
    except StoreError as exc:
        raise _fail(str(exc), EXIT_FAILED) from None
    try:
        if store.has_world() and not replace:
            raise _fail(f"{state_dir} already holds a world (--replace to overwrite it)", EXIT_INVALID)
        store.replace(world)
    except StoreError as exc:
        raise _fail(str(exc), EXIT_FAILED) from None
    finally:
        store.close()
    _errors().print(f"{state_dir} now holds the world of {file} ({len(document['objects'])} objects)")


@state_app.command("check")
def check(
    state_dir: Annotated[Path, typer.Option(help="the state directory")],
    fix: Annotated[bool, typer.Option(help="remove garbage (objects no longer reachable)")] = False,
) -> None:
    """Check a state directory (SQLite integrity, references, garbage); exit 1 when something is wrong."""
    from simulator.state.store import StoreError, WorldStore

    try:
        store = WorldStore(state_dir, readonly=not fix)
    except StoreError as exc:
        raise _fail(str(exc), EXIT_FAILED) from None
    try:
        warnings = store.check(fix=fix)
    finally:
        store.db.close() if not fix else store.close()
    for warning in warnings:
        _errors().print(f"[yellow]warning:[/] {warning}")
    if warnings:
        raise typer.Exit(EXIT_FAILED)
    _errors().print(f"{state_dir}: ok")


@state_app.command("settings")
def settings(
    state_dir: Annotated[Path, typer.Option(help="the state directory")],
    changes: Annotated[list[str] | None, typer.Argument(help="key=value, e.g. sqlite_synchronous=NORMAL")] = None,
) -> None:
    """Show or change a state directory's durability settings (re-applied whenever the world is opened)."""
    from simulator.state.database import DEFAULT_SETTINGS, StateDatabase, StoreError
    from simulator.state.store import DATABASE_FILE, WorldStore

    pairs = []
    for change in changes or []:
        key, sep, value = change.partition("=")
        if not sep or key not in DEFAULT_SETTINGS:
            raise _fail(f"{change!r}: expected key=value with key one of {', '.join(DEFAULT_SETTINGS)}", EXIT_INVALID)
        pairs.append((key, int(value) if value.isdigit() else value))
    try:
        if pairs:
            store = WorldStore(state_dir)  # takes the directory: not while a server uses it
            try:
                for key, value in pairs:
                    store.db.set_setting(key, value)
            finally:
                store.close()
        database = StateDatabase(state_dir / DATABASE_FILE, readonly=True)
    except StoreError as exc:
        raise _fail(str(exc), EXIT_FAILED) from None
    try:
        for key, value in database.settings.items():
            print(f"{key}={value}")
    finally:
        database.close()


def open_world(
    seed: int | None,
    *,
    state_dir: Path | None,
    snapshot: Path | None,
    new_seed: int | None = None,
    settings: dict[str, Any] | None = None,
) -> Any:
    """The world ``serve`` serves: resumed from (or kept in) ``state_dir``, started from ``snapshot``, or new.

    ``seed`` is checked against a world the directory already holds; a new world takes ``seed``, else
    ``new_seed``. With both a directory and a snapshot, the snapshot seeds a directory that holds no world yet.
    ``settings`` (``serve --setting``) shape a new world only: a snapshot or a kept world brings its own.
    Raises :class:`ValueError` (including :class:`~simulator.state.codec.CodecError`) for input that does not fit,
    :class:`RuntimeError` for a directory in use.
    """
    from simulator.cloud import FakeCloud
    from simulator.state.codec import load_world
    from simulator.state.files import read_world_file
    from simulator.state.store import WorldStore

    document = read_world_file(snapshot) if snapshot is not None else None
    if document is not None and seed is not None:
        raise ValueError("--from-snapshot brings the world's own seed: drop --seed")
    if document is not None and settings:
        raise ValueError("--from-snapshot brings the world's own settings: drop --setting")
    if state_dir is None:
        if document is None:
            return FakeCloud(seed if seed is not None else new_seed, settings=settings or None)
        cloud = FakeCloud()
        cloud.restore(document)
        return cloud
    store = WorldStore(state_dir)
    try:
        if store.has_world():
            if settings:
                raise ValueError(f"{state_dir} already holds a world, with its own settings: drop --setting")
            if document is not None:
                raise ValueError(
                    f"{state_dir} already holds a world: drop --from-snapshot, or use 'state import --replace'"
                )
            store.close()
            return FakeCloud(seed, state_dir=state_dir)
        if document is not None:
            store.attach(load_world(document))
            store.close()
            return FakeCloud(state_dir=state_dir)
    except BaseException:
        store.close()
        raise
    store.close()
    return FakeCloud(seed if seed is not None else new_seed, state_dir=state_dir, settings=settings or None)
