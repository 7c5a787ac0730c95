"""What the commands share: exit statuses and how errors are printed (to stderr, without rich markup)."""

from __future__ import annotations

import click

from harness.cli import EXIT_FAILED, EXIT_INVALID, EXIT_PASSED

__all__ = ["EXIT_FAILED", "EXIT_INVALID", "EXIT_PASSED", "fail"]


def fail(message: str, status: int = EXIT_INVALID, *, label: str = "error") -> click.exceptions.Exit:
    """Print ``error: message`` on stderr and return the exit to raise (``raise fail("...")``)."""
    click.echo(f"{click.style(label + ':', fg='red')} {message}", err=True)
    return click.exceptions.Exit(status)
