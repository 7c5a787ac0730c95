"""SIGINT and SIGTERM end a live run through its cleanup, and a signal during the cleanup waits for it.

A live run creates real resources under its run prefix. Killed by CI cancelling the job (SIGTERM) or by Ctrl-C
(SIGINT) with the default handlers, it would leave them behind — and an enrollment group left holding the tenant
CA makes every later run fail at the upload with 409. :class:`Interruptible` turns the first signal into
:class:`RunInterrupted`, raised wherever the run is (between steps or in the middle of a request), so the live
target's ``finally`` runs the cleanup; while the cleanup runs (:meth:`Interruptible.deferred`) further signals are
remembered instead of raised, and raised once it is over. The cleanup itself is bounded in time
(:meth:`harness.session.Session.run_cleanups`), so a second signal never waits long.

Signal handlers belong to the main thread: elsewhere :class:`Interruptible` does nothing (the caller's own handling
applies). ``RunInterrupted`` derives from :class:`BaseException`, like :class:`KeyboardInterrupt`, so no ``except
Exception`` on the way — in a step, in httpx — can swallow it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(BaseException):
    """The run was stopped by a signal; ``exit_status`` is the shell's ``128 + signum`` (130 SIGINT, 143 SIGTERM)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.signal_name}")

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class Interruptible:
    """While active (``with Interruptible() as interrupts:``), SIGINT and SIGTERM raise :class:`RunInterrupted`."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self._deferring = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interruptible:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._deferring:
            self.pending = self.pending or signum
            return
        raise RunInterrupted(signum)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals that arrive inside are remembered (``pending``), not raised: the cleanup must finish."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False

    def raise_pending(self) -> None:
        """Raise the signal that arrived while deferred, if any."""
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise RunInterrupted(signum)


__all__ = ["Interruptible", "RunInterrupted"]
