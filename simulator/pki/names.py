"""X.509 names for the Sphere chain, including the one RFC 5280 says is too long.

RFC 5280 bounds ``commonName`` at 64 characters, but a Sphere device certificate's CN is the 128-character
device id. ``cryptography`` refuses such a :class:`~cryptography.x509.NameAttribute`
unless it is built with the *private* keyword ``_validate=False``, which still emits a ``UserWarning``
(confirmed with cryptography 48.0.0 and 50.0.2). This module is the one place that
uses the workaround; ``tests/test_pki_long_cn.py`` pins the behaviour so an upgrade that changes it fails
loudly.
"""

from __future__ import annotations

import contextlib
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
_PROCESS_FILTER = warnings.filters[0]
_ALREADY_QUIET = contextlib.nullcontext()


def long_cn_quiet() -> contextlib.AbstractContextManager:
    """A context in which reading (or building) a name with a 128-character CN does not warn.

    Usually the process-wide filter above is still first in :data:`warnings.filters`, so the warning is ignored
    already and this is a no-op — it sits on the path of every DPS registration, where a ``catch_warnings`` block
    costs as much as the name read itself. When something has put other filters in front (pytest's per-test
    filters, a later ``-W error``), the one warning is silenced in a ``catch_warnings`` block.
    """
    filters = warnings.filters
    if filters and filters[0] == _PROCESS_FILTER:
        return _ALREADY_QUIET
    return _silenced()


@contextlib.contextmanager
def _silenced():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LONG_CN_WARNING, category=UserWarning)
        yield


def common_name_attribute(value: str) -> x509.NameAttribute:
    """A CN attribute; values over 64 UTF-8 bytes are built with the RFC-bound check switched off.

    cryptography measures the bound in UTF-8 bytes, not characters: a 40-character code of ``é`` is 80 bytes long.
    """
    if not value:
        raise ValueError("a common name cannot be empty")
    if len(value.encode("utf-8")) <= RFC5280_CN_MAX:
        return x509.NameAttribute(NameOID.COMMON_NAME, value)
    with long_cn_quiet():
        return x509.NameAttribute(NameOID.COMMON_NAME, value, _validate=False)


def cn_name(value: str) -> x509.Name:
    """``CN=<value>`` and nothing else (device and proof certificates)."""
    return x509.Name([common_name_attribute(value)])


def tenant_ca_name(tenant_id: str) -> x509.Name:
    """The tenant CA subject in DER order C, ST, L, O, CN."""
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
    """An obviously simulated name for the root and policy CAs (``pki.root_common_name``)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


_SHORT_NAMES = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.COUNTRY_NAME: "C",
}


def _name(name: x509.Name | x509.Certificate) -> x509.Name:
    """The name itself, or a certificate's subject; call it inside :func:`long_cn_quiet`.

    ``cryptography`` builds a certificate's Name — and warns about a long CN — on the first ``.subject`` access,
    so passing the *certificate* (not ``cert.subject``) lets these helpers hide that warning too."""
    return name if isinstance(name, x509.Name) else name.subject


def get_common_name(name: x509.Name | x509.Certificate) -> str | None:
    """The (first) CN of a name or of a certificate's subject, or None; quiet for 128-character CNs."""
    with long_cn_quiet():
        attrs = _name(name).get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def subject_string(name: x509.Name | x509.Certificate) -> str:
    """CN-first, comma-space separated rendering: ``CN=…, O=…, L=…, ST=…, C=US``.

    Given a certificate, renders its subject."""
    with long_cn_quiet():
        parts = [f"{_SHORT_NAMES.get(a.oid, a.oid.dotted_string)}={a.value}" for a in _name(name)]
    return ", ".join(reversed(parts))


def issuer_string(certificate: x509.Certificate) -> str:
    """:func:`subject_string` of a certificate's issuer name."""
    with long_cn_quiet():
        return subject_string(certificate.issuer)
