"""The cassette: a recording in memory, how it is played back, and how it reaches disk.

* :class:`RecordMode` — ``none`` (play only: a request with no recorded answer fails), ``once`` (play the file if
  it exists, else record it), ``all`` (record, replacing the file). :meth:`RecordMode.parse` names the valid modes
  when given another.
* :class:`Cassette` — the entries of a :class:`~harness.recording.format.RecordingDocument` plus ``play_counts``;
  :meth:`Cassette.play` answers a request with the first entry, *in recorded order*, that has not been played and
  that every matcher accepts, and raises :class:`ReplayMiss` — carrying a diff against the closest entry — when
  none does. A cassette loaded to play is ``write_protected``.
* :func:`load` / :func:`save` — the persister. ``save`` writes a temporary file next to the target and moves it in
  place with :func:`os.replace`, so a recording on disk is always whole (a run killed mid-save leaves the old file,
  or none). ``load`` sanitizes what it reads (a hand-edited or foreign recording cannot smuggle a token into a
  replay's reports) and caches the parsed file by path, size and modification time.
"""

from __future__ import annotations

import enum
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.clients.errors import HarnessClientError
from harness.clients.exchange import Exchange
from harness.recording.format import RecordingDocument, RecordingError, dumps, loads
from harness.recording.matchers import DEFAULT_MATCHERS, Matcher, closest, explain, failures, request_key


class RecordMode(enum.StrEnum):
    """What to do with a recording: play it, record it, or record it only when missing."""

    NONE = "none"
    ONCE = "once"
    ALL = "all"

    @classmethod
    def parse(cls, value: str | RecordMode) -> RecordMode:
        try:
            return cls(str(value).lower())
        except ValueError:
            valid = ", ".join(mode.value for mode in cls)
            raise ValueError(f"unknown record mode {value!r}; expected one of: {valid}") from None


class ReplayMiss(HarnessClientError):
    """A replayed request that the recording does not hold (or holds no more of): why, and the closest entry."""

    def __init__(self, request: Exchange, message: str, detail: str = "") -> None:
        super().__init__(message + (f"\n{detail}" if detail else ""))
        self.request = request
        self.message = message
        self.detail = detail


@dataclass
class Cassette:
    """A recording being played (or recorded): its document, how often each entry was played, and where it lives."""

    document: RecordingDocument = field(default_factory=RecordingDocument)
    path: Path | None = None
    write_protected: bool = False
    play_counts: list[int] = field(default_factory=list)
    matchers: Sequence[Matcher] = DEFAULT_MATCHERS

    def __post_init__(self) -> None:
        if len(self.play_counts) != len(self.document.entries):
            self.play_counts = [0] * len(self.document.entries)

    @property
    def entries(self) -> list[Exchange]:
        return self.document.entries

    def append(self, exchange: Exchange) -> None:
        if self.write_protected:
            raise RecordingError(f"{self.path}: the cassette is being played; it cannot record")
        self.document.entries.append(exchange)
        self.play_counts.append(0)

    def _keys(self) -> list[tuple[str, str, str]]:
        """Each entry's :func:`~harness.recording.matchers.request_key`, computed once per recording."""
        document = self.document
        keys = getattr(document, "_request_keys", None)
        if keys is None or len(keys) != len(document.entries):
            keys = [request_key(entry) for entry in document.entries]
            document._request_keys = keys  # type: ignore[attr-defined]
        return keys

    def play(self, request: Exchange) -> Exchange:
        """The recorded answer to ``request`` (marks it played); :class:`ReplayMiss` when there is none."""
        if self.matchers is DEFAULT_MATCHERS:  # compare precomputed keys; the matchers only explain a miss
            asked = request_key(request)
            for index, key in enumerate(self._keys()):
                if key == asked and not self.play_counts[index]:
                    self.play_counts[index] += 1
                    return self.entries[index]
        unplayed = [(i, e) for i, e in enumerate(self.entries) if not self.play_counts[i]]
        for index, entry in unplayed:
            if not failures(entry, request, self.matchers):
                self.play_counts[index] += 1
                return entry
        asked = f"{request.method} {request.url}"
        played_match = next(
            (i for i, e in enumerate(self.entries) if self.play_counts[i] and not failures(e, request, self.matchers)),
            None,
        )
        if played_match is not None:
            raise ReplayMiss(
                request,
                f"replay: {asked} was asked once more than the recording holds (entry {played_match + 1} answered "
                "it already)",
            )
        near = closest(request, unplayed or list(enumerate(self.entries)), self.matchers)
        if near is None:
            raise ReplayMiss(request, f"replay: {asked} was asked, but the recording holds no exchange at all")
        index, entry, reasons = near
        step = f", step {entry.step + 1}" if entry.step is not None else ""
        raise ReplayMiss(
            request,
            f"replay: no recorded exchange matches {asked}; the closest is entry {index + 1}{step} "
            f"({'; '.join(reasons)})",
            explain(request, entry),
        )

    def unplayed(self, step: int | None = None) -> list[int]:
        """Indexes of the entries never played (of one step, when given)."""
        return [
            i
            for i, entry in enumerate(self.entries)
            if not self.play_counts[i] and (step is None or entry.step == step)
        ]

    @property
    def all_played(self) -> bool:
        return all(self.play_counts)


# -- the persister ------------------------------------------------------------------------------------------------

_LOADED: dict[tuple[str, int, int], RecordingDocument] = {}


def load(path: str | os.PathLike[str]) -> Cassette:
    """A write-protected cassette of the recording at ``path`` (:class:`RecordingError` when it cannot be read).

    Cassettes of one file share its parsed document (read-only: a played cassette cannot record)."""
    source = Path(path)
    try:
        stat = source.stat()
    except OSError as exc:
        raise RecordingError(f"{source}: cannot read the recording: {exc.strerror or exc}") from None
    key = (os.path.abspath(source), stat.st_size, stat.st_mtime_ns)
    document = _LOADED.get(key)
    if document is None:
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RecordingError(f"{source}: cannot read the recording: {exc}") from None
        document = _sanitized_on_load(loads(text, str(source)))
        if len(_LOADED) >= 64:
            _LOADED.clear()
        _LOADED[key] = document
    return Cassette(document, path=source, write_protected=True)


def _sanitized_on_load(document: RecordingDocument) -> RecordingDocument:
    """The recording with the default sanitizers applied (a no-op on recordings this harness wrote)."""
    from harness.recording.sanitize import Sanitizer

    sanitizer = Sanitizer()
    document.entries = sanitizer.sanitize_all(document.entries)
    document.variables = sanitizer.variables(document.variables)
    return document


def save(document: RecordingDocument, path: str | os.PathLike[str]) -> Path:
    """Write ``document`` to ``path`` whole or not at all (temporary file + :func:`os.replace`)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(document)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a recording is meant to be shared
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


__all__ = ["Cassette", "RecordMode", "ReplayMiss", "load", "save"]
