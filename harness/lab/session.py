"""A lab's sign-in state: who is signed in, with which token, and which tenant is selected.

The real ``azsphere login`` opens a browser and keeps an Azure AD token cache in the user's profile; ``tenant
select`` remembers the default tenant "on this computer". In a lab the user is the lab's own (named in its
endpoints file, whose token the served world issued), so signing in needs no browser; the state lives in the lab
folder (``<lab>/azsphere/session.json``, ``<lab>/az/session.json``) and ends with the lab.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class SignIn:
    """One tool's signed-in user, token and (``azsphere``) selected tenant."""

    user: str
    token: str
    tenant_id: str | None = None
    tenant_name: str | None = None


class SessionStore:
    """Reads and writes one tool's :class:`SignIn` as JSON in a folder (written atomically, mode 0600)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "session.json"

    def load(self) -> SignIn | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return SignIn(**data)
        except (OSError, ValueError, TypeError):
            return None

    def save(self, sign_in: SignIn) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".session.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(sign_in), handle)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def clear(self) -> bool:
        """Forget the sign-in; True if there was one."""
        existed = self.path.exists()
        self.path.unlink(missing_ok=True)
        return existed
