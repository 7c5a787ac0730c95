"""Record, replay and compare: the HTTP exchanges of a run, sanitized, in the Azure SDK test-proxy format.

Modules, each doing one thing:

* :mod:`harness.recording.sanitize` — the sanitizer pipeline: secrets and identifying values out, certificates and
  codes kept, stable placeholders.
"""
