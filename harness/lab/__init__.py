"""The training lab: the unit's own ``azsphere`` and ``az sphere`` commands, run against a served world.

A learner following the enable-trust unit types Azure Sphere CLI lines such as::

    azsphere login
    azsphere ca-certificate download --destination CAcertificate.cer
    azsphere ca-certificate download-proof --destination ValidationCertification.cer --verification-code <code>

Inside a *lab environment* (``eval "$(sphere-harness lab env --endpoints-file ep.json)"`` or ``sphere-harness lab
shell``) those lines run verbatim: small shims named ``azsphere`` and ``az`` sit on ``PATH`` in a folder of the lab
(never in the virtual environment's ``bin/``) and drive the served world's Sphere APIs through the harness's wire
clients. Outside a lab the shims refuse (exit 2) so they can never silently stand in for the real tools.

Modules:

* :mod:`harness.lab.environment` — what makes a lab (environment variables, the endpoints file) and the refusal;
* :mod:`harness.lab.session` — the lab's sign-in state (``login``/``logout``, ``tenant select``);
* :mod:`harness.lab.cli` — the knack glue: grammar tables, the output layer, exit codes and ``ERROR:`` lines;
* :mod:`harness.lab.azsphere` and :mod:`harness.lab.az` — the two grammars and their handlers;
* :mod:`harness.lab.shim` — the shims' entry point (``python -m harness.lab.shim azsphere …``);
* :mod:`harness.lab.shell` — ``lab env`` and ``lab shell``: the shim folder and the exports.
"""
