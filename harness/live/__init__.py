"""Live runs that cannot hurt: what keeps a run against real endpoints inside what it was allowed to touch.

* :mod:`harness.live.interrupt` — SIGINT/SIGTERM end a live run in its cleanup instead of killing it;
* :mod:`harness.live.guard` — the allow-list (checked before the first request, and on every request) and the
  read-only guard of ``--plan``;
* :mod:`harness.live.plan` — ``run --plan``: what a live run would create, change and delete, from reads only;
* :mod:`harness.live.sweep` — ``live sweep``: find and delete what killed runs left behind.

``docs/live.md`` explains the rules; the README says how to get the tokens.
"""
