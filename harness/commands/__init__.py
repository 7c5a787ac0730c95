"""Subcommands of ``sphere-harness`` that live in their own modules (each registered in ``harness/cli.py`` with a
line or two, importing nothing heavy until a command runs)."""
