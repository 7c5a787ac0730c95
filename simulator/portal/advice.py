"""What a learner should do about a refusal: one plain line for each IoT Central refusal the unit can meet.

The page shows IoT Central's own message unchanged (what the REST API answers too) and, above it, this advice in the
unit's terms — which file to choose, which command to run again. The service's messages are written for an
operator ("the proof certificate's subject CN '…' is not the current verification code"); a learner following the
unit step by step needs to hear which step to redo. Refusals without advice show the service's message alone.
"""

from __future__ import annotations

from simulator.central.errors import CentralError

#: (situation, the start of the model's message or "" for any) → advice, first match wins, per page action
_ADVICE: dict[str, list[tuple[str, str, str]]] = {
    "upload": [
        (
            "invalid_certificate",
            "",
            "This file is not a certificate. Choose CAcertificate.cer, the file "
            "'azsphere ca-certificate download' saved.",
        ),
        (
            "conflict",
            "",
            "This CA certificate is already in another enrollment group. A tenant CA can be in one group only: "
            "use the group that has it, or remove it there first.",
        ),
        ("too_large", "", "This file is too large to be a certificate. Choose CAcertificate.cer."),
    ],
    "verify": [
        (
            "invalid_certificate",
            "",
            "This file is not a certificate. Choose ValidationCertification.cer, the file "
            "'azsphere ca-certificate download-proof' saved.",
        ),
        (
            "invalid_proof",
            "the proof certificate's subject CN",
            "This validation certificate was made for another verification code. Run download-proof again with "
            "the code shown here, then Verify with the new file.",
        ),
        (
            "invalid_proof",
            "the proof certificate was issued by",
            "This validation certificate comes from another tenant, not the one whose CA is uploaded here. Check "
            "'azsphere tenant show-selected', then download the validation certificate again.",
        ),
        (
            "invalid_proof",
            "the proof certificate's signature",
            "This validation certificate was not signed by the uploaded CA. Download it again from your tenant.",
        ),
        (
            "invalid_proof",
            "the proof certificate is valid from",
            "This validation certificate has expired (or is not valid yet). Download a fresh one with "
            "download-proof and Verify again.",
        ),
        (
            "code_not_found",
            "",
            "There is no verification code to check against. Select Generate verification code first.",
        ),
        ("too_large", "", "This file is too large to be a certificate. Choose ValidationCertification.cer."),
    ],
}


def advice_for(action: str, error: CentralError) -> str:
    """The advice for ``error`` refused during page ``action`` (``upload``, ``verify`` …), or ``""``."""
    for situation, start, advice in _ADVICE.get(action, []):
        if error.situation == situation and error.message.startswith(start):
            return advice
    return ""
