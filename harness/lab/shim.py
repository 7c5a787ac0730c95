"""The shims' entry point: ``python -m harness.lab.shim azsphere|az <args>``.

The ``azsphere`` and ``az`` scripts that ``sphere-harness lab env`` writes into the lab's ``bin/`` folder run this
module, and so do ``sphere-harness azsphere …`` and ``sphere-harness az …``. It refuses (exit 2, one line on
standard error) outside a lab environment, and the ``az`` shim refuses anything but ``az sphere …``, ``az login``
and ``az logout``: it never hands a command to the real Azure CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from harness.lab.environment import EXIT_NOT_IN_LAB, Lab, NotInLab, refusal

TOOLS = ("azsphere", "az")
AZ_ANSWERS = frozenset({"sphere", "login", "logout", "--help", "-h", "help", "--version"})


def run(
    tool: str,
    args: Sequence[str],
    *,
    environ: dict[str, str] | None = None,
    out_file: TextIO | None = None,
    err_file: TextIO | None = None,
) -> int:
    """Run one shim command line; return its exit code."""
    err = err_file or sys.stderr
    if tool not in TOOLS:
        print(f"ERROR: no lab shim named {tool!r}; the lab has {', '.join(TOOLS)}.", file=err)
        return EXIT_NOT_IN_LAB
    try:
        lab = Lab.from_environ(environ)
    except NotInLab as exc:
        print(refusal(tool, str(exc)), file=err)
        return EXIT_NOT_IN_LAB
    if tool == "az" and args and args[0] not in AZ_ANSWERS:
        print(
            f"ERROR: 'az {args[0]}' is not available: this 'az' is the sphere-harness lab shim, which answers only "
            "'az sphere …', 'az login' and 'az logout', and passes nothing to the Azure CLI.",
            file=err,
        )
        return EXIT_NOT_IN_LAB
    from harness.lab.cli import invoke

    if tool == "azsphere":
        from harness.lab.azsphere import GRAMMAR
    else:
        from harness.lab.az import GRAMMAR
    return invoke(GRAMMAR, list(args), lab, out_file=out_file, err_file=err)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(f"usage: python -m harness.lab.shim {{{','.join(TOOLS)}}} [args...]", file=sys.stderr)
        return EXIT_NOT_IN_LAB
    return run(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
