"""``sphere-harness lab env`` and ``lab shell``: put the ``azsphere`` and ``az`` shims on ``PATH`` for one lab.

The lab folder (default: ``.sphere-harness-lab`` beside the endpoints file) gets a ``bin/`` with two small POSIX
scripts that run :mod:`harness.lab.shim` with this Python, so nothing is written into the virtual environment and
the real tools stay untouched outside the lab::

    eval "$(sphere-harness lab env --endpoints-file endpoints.json)"     # this shell becomes a lab
    sphere-harness lab shell --endpoints-file endpoints.json              # a new $SHELL that is a lab

``lab shell`` also marks the prompt with ``(sphere-harness lab)`` and leaves the lab when the shell exits.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from harness.lab.environment import ENV_ENDPOINTS, ENV_HOME, Lab, default_home

SHIMS = ("azsphere", "az")
PROMPT_MARK = "(sphere-harness lab) "

SHIM_SCRIPT = """#!/bin/sh
# The sphere-harness lab's '{tool}' shim: NOT the real {real}. It answers the enable-trust unit's commands from the
# world served for this lab and refuses to run outside the lab (see 'sphere-harness lab env --help').
exec {python} -m harness.lab.shim {tool} "$@"
"""
REAL_NAMES = {"azsphere": "Azure Sphere CLI", "az": "Azure CLI"}


def prepare(endpoints_file: Path, lab_dir: Path | None = None) -> Lab:
    """Check the endpoints file, write the shims into ``<lab>/bin`` and return the lab."""
    home = (lab_dir or default_home(endpoints_file)).resolve()
    lab = Lab.open(home, endpoints_file)
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in SHIMS:
        script = bin_dir / tool
        script.write_text(
            SHIM_SCRIPT.format(tool=tool, real=REAL_NAMES[tool], python=shlex.quote(sys.executable)), encoding="utf-8"
        )
        script.chmod(0o755)
    return lab


def environment(lab: Lab, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the lab's variables and its ``bin/`` first on PATH."""
    env = dict(os.environ if base is None else base)
    env[ENV_HOME] = str(lab.home)
    env[ENV_ENDPOINTS] = str(lab.endpoints_file)
    env["PATH"] = os.pathsep.join([str(lab.home / "bin"), env.get("PATH", "")]).rstrip(os.pathsep)
    return env


def exports(lab: Lab) -> str:
    """POSIX shell lines that make the current shell a lab (for ``eval``)."""
    return "\n".join(
        [
            f"export {ENV_HOME}={shlex.quote(str(lab.home))}",
            f"export {ENV_ENDPOINTS}={shlex.quote(str(lab.endpoints_file))}",
            f'export PATH={shlex.quote(str(lab.home / "bin"))}:"$PATH"',
            "hash -r 2>/dev/null || true",
            f"echo {shlex.quote('sphere-harness lab: azsphere and az now answer from ' + str(lab.endpoints_file))} >&2",
        ]
    )


def shell_command(lab: Lab, shell: str) -> list[str]:
    """The command line of the lab shell: bash gets an rc file that keeps the user's ~/.bashrc and marks the
    prompt; any other shell gets ``PS1`` through the environment."""
    if Path(shell).name == "bash":
        rc = lab.home / "bashrc"
        rc.write_text(
            '[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\n'
            f'PS1={shlex.quote(PROMPT_MARK)}"${{PS1:-\\$ }}"\n'
            f'export PATH={shlex.quote(str(lab.home / "bin"))}:"$PATH"\n',
            encoding="utf-8",
        )
        return [shell, "--rcfile", str(rc), "-i"] if sys.stdin.isatty() else [shell, "--rcfile", str(rc)]
    return [shell]


def run_shell(lab: Lab, shell: str | None = None) -> int:
    """Start ``shell`` (default ``$SHELL``, else ``/bin/sh``) inside the lab; return its exit status."""
    import subprocess

    chosen = shell or os.environ.get("SHELL") or "/bin/sh"
    env = environment(lab)
    env["PS1"] = PROMPT_MARK + env.get("PS1", "$ ")
    print(f"sphere-harness lab shell for {lab.endpoints_file}; 'exit' leaves the lab.", file=sys.stderr)
    return subprocess.call(shell_command(lab, chosen), env=env)
