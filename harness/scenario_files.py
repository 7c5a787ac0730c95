"""Where scenario files are: by path, by name (``enable-trust``), or every file of a folder — no parsing here.

Names are looked up in :func:`scenario_dirs`: ``./scenarios`` first, then the scenarios that come with the package.
This module imports nothing heavy, so ``sphere-harness list`` can answer without loading the harness.
"""

from __future__ import annotations

from pathlib import Path


class ScenarioError(Exception):
    """A scenario that cannot be run as written: ``source:line: message``."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


def scenario_dirs() -> list[Path]:
    """Where scenario names are looked up: ``./scenarios``, then the scenarios that come with the package.

    The shipped scenarios live in the repository's top-level ``scenarios/`` folder; the wheel carries that folder as
    ``harness/scenarios/`` (``pyproject.toml``, hatch ``force-include``). A checkout or an editable install finds
    the first, an installed package the second.
    """
    package = Path(__file__).resolve().parent
    installed, checkout = package / "scenarios", package.parent / "scenarios"
    dirs = [Path.cwd() / "scenarios", installed if installed.is_dir() else checkout]
    return list(dict.fromkeys(d.resolve() for d in dirs))


def find_scenario(name_or_path: str | Path) -> Path:
    """A scenario file by path, or by name (``enable-trust`` → ``scenarios/enable-trust.yaml``)."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.exists():
            raise ScenarioError(str(candidate), None, "no such file")
        return candidate
    for directory in scenario_dirs():
        for suffix in (".yaml", ".yml"):
            path = directory / f"{name_or_path}{suffix}"
            if path.exists():
                return path
    known = ", ".join(sorted(name for name, _ in list_scenarios())) or "none"
    raise ScenarioError(str(name_or_path), None, f"no scenario file or known scenario by that name (known: {known})")


def expand_scenarios(names_or_paths: list[str | Path]) -> list[tuple[str, Path | ScenarioError]]:
    """Each argument as scenario files: a name or a file is one, a folder is every ``*.yaml``/``*.yml`` in it.

    Returns ``(argument, path)`` pairs in order — or ``(argument, ScenarioError)`` for an argument that names no
    scenario, so a caller can report it with the others instead of stopping at the first.
    """
    found: list[tuple[str, Path | ScenarioError]] = []
    for item in names_or_paths:
        candidate = Path(item)
        if candidate.is_dir():
            files = sorted([*candidate.glob("*.yaml"), *candidate.glob("*.yml")])
            if not files:
                found.append((str(item), ScenarioError(str(candidate), None, "the folder holds no *.yaml scenario")))
            found.extend((str(item), path) for path in files)
            continue
        try:
            found.append((str(item), find_scenario(item)))
        except ScenarioError as exc:
            found.append((str(item), exc))
    return found


def list_scenarios() -> list[tuple[str, Path]]:
    """(name, path) of every scenario file in :func:`scenario_dirs`, first directory winning."""
    seen: dict[str, Path] = {}
    for directory in scenario_dirs():
        if directory.is_dir():
            for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
                seen.setdefault(path.stem, path)
    return sorted(seen.items())
