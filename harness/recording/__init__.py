"""Record, replay and compare: the HTTP exchanges of a run, sanitized, in the Azure SDK test-proxy format.

Modules, each doing one thing (``docs/recording.md`` explains the whole):

* :mod:`~harness.recording.sanitize` — the sanitizer pipeline: secrets and identifying values out, certificates and
  codes kept, stable placeholders;
* :mod:`~harness.recording.format` — the recording file (the test-proxy's format plus a ``SphereHarness`` section);
* :mod:`~harness.recording.cassette` — a recording in memory: play counts, record modes, the persister;
* :mod:`~harness.recording.matchers` — does a request match a recorded one, and if not, why;
* :mod:`~harness.recording.recorder` — :class:`RecordingTarget`: any target, recorded;
* :mod:`~harness.recording.replay` — :class:`ReplayTarget`: a recording played back, offline;
* :mod:`~harness.recording.normalize` and :mod:`~harness.recording.parity` — a recording against the fake;
* :mod:`~harness.recording.shipped` — the project's own ``recordings/``: refresh and check.
"""
