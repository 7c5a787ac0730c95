"""Shared pytest configuration for the project's own tests.

Under CI (``CI`` set) hypothesis runs derandomized: the same examples every run, so a submission's result does
not depend on luck. Locally it explores freshly each run, which is where new counterexamples are found.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

#: contracts.plugin: every answer of the fakes and every request of the harness's clients is checked against
#: Azure's published OpenAPI documents (tests/contracts/); a violation fails the test that caused it
pytest_plugins = ["pytester", "contracts.plugin"]
