"""``python -m harness.docgen`` rewrites the generated documents; ``--check`` exits 1 naming the stale ones."""

from __future__ import annotations

import sys

from harness.docgen import REGENERATE, generate, stale


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = stale()
        for relative in found:
            print(f"stale: {relative} (run `{REGENERATE}`)", file=sys.stderr)
        return 1 if found else 0
    for path in generate():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
