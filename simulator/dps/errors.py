"""DPS refusals: the exception every DPS surface raises and the six-digit codes it carries (``dps.error_codes``).

Also the DPS timestamp format, which error bodies and registration records share.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

# Six-digit DPS error codes (``dps.error_codes``). 401002 and 400209 were seen from the real service; the
# others are fake-defined ("HTTP status × 1000 + n"). ``settings.dps.error_codes`` overrides any of them.
DEFAULT_ERROR_CODES: dict[str, int] = {
    "unauthorized": 401002,
    "bad_request": 400004,
    "not_found": 404001,
    "throttled": 429001,
    "assignment_failed": 400209,
}

ErrorKind = Literal["unauthorized", "bad_request", "not_found", "throttled", "assignment_failed"]
_STATUS = {"unauthorized": 401, "bad_request": 400, "not_found": 404, "throttled": 429, "assignment_failed": 400}


class DpsError(Exception):
    """A refusal by DPS: HTTP ``status``, six-digit ``error_code``, a message; 429s carry ``retry_after``."""

    def __init__(self, kind: ErrorKind, message: str, *, error_code: int, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = _STATUS[kind]
        self.error_code = error_code
        self.message = message
        self.retry_after = retry_after

    def details(self, tracking_id: str, now: datetime) -> dict[str, Any]:
        """The ``ProvisioningServiceErrorDetails`` body of the DPS device API."""
        return {
            "errorCode": self.error_code,
            "trackingId": tracking_id,
            "message": self.message,
            "timestampUtc": dps_time(now),
        }


def dps_time(moment: datetime) -> str:
    """DPS timestamps: UTC with seven fractional digits, e.g. ``2022-08-27T17:53:19.5143497Z``."""
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "0Z"
