"""X.509 names for the Sphere chain, including the one RFC 5280 says is too long.

RFC 5280 bounds ``commonName`` at 64 characters, but a Sphere device certificate's CN is the 128-character
device id (certificates.md §4.1). ``cryptography`` refuses such a :class:`~cryptography.x509.NameAttribute`
unless it is built with the *private* keyword ``_validate=False``, which still emits a ``UserWarning``
(confirmed with cryptography 48.0.0 and 50.0.2, open-questions.md K-10). This module is the one place that
uses the workaround; ``tests/test_pki_long_cn.py`` pins the behaviour so an upgrade that changes it fails
loudly.
"""

from __future__ import annotations

import warnings

from cryptography import x509
from cryptography.x509.oid import NameOID

RFC5280_CN_MAX = 64
LONG_CN_WARNING = r"Attribute's length must be >= 1 and <= 64"

# ``cryptography`` builds Name objects lazily: merely reading ``cert.subject`` of a device certificate re-runs
# the length check and warns again, far from any parser. So the one specific warning is silenced process-wide
# when the PKI is imported. Nothing else is filtered; pytest's configuration repeats the filter because it
# resets warning filters per test.
warnings.filterwarnings("ignore", message=LONG_CN_WARNING, category=UserWarning)


def common_name_attribute(value: str) -> x509.NameAttribute:
    """A CN attribute; values over 64 characters are built with the RFC-bound check switched off."""
    if not value:
        raise ValueError("a common name cannot be empty")
    if len(value) <= RFC5280_CN_MAX:
        return x509.NameAttribute(NameOID.COMMON_NAME, value)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Attribute's length must be", category=UserWarning)
        return x509.NameAttribute(NameOID.COMMON_NAME, value, _validate=False)


def cn_name(value: str) -> x509.Name:
    """``CN=<value>`` and nothing else (device and proof certificates)."""
    return x509.Name([common_name_attribute(value)])


def tenant_ca_name(tenant_id: str) -> x509.Name:
    """The tenant CA subject in DER order C, ST, L, O, CN (certificates.md §2, open-questions.md K-13)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Redmond"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Microsoft Corporation"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Microsoft Azure Sphere {tenant_id}"),
        ]
    )


def simulated_name(common_name: str, organization: str = "Sphere Harness") -> x509.Name:
    """An obviously simulated name for the root and policy CAs (open-questions.md K-1)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def get_common_name(name: x509.Name) -> str | None:
    """The (first) CN of a name, or None; works for 128-character CNs without warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Attribute's length must be", category=UserWarning)
        attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def subject_string(name: x509.Name) -> str:
    """CN-first, comma-space separated rendering (open-questions.md SA-7): ``CN=…, O=…, L=…, ST=…, C=US``."""
    short = {
        NameOID.COMMON_NAME: "CN",
        NameOID.ORGANIZATION_NAME: "O",
        NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
        NameOID.LOCALITY_NAME: "L",
        NameOID.STATE_OR_PROVINCE_NAME: "ST",
        NameOID.COUNTRY_NAME: "C",
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Attribute's length must be", category=UserWarning)
        parts = [f"{short.get(a.oid, a.oid.dotted_string)}={a.value}" for a in name]
    return ", ".join(reversed(parts))
