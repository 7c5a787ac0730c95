"""Sign-in like the real portal's, without Azure AD: signed links, signed cookies, one app per session.

A served world hands each user a **sign-in link** (``central.portal_url`` in the endpoints file; a trainee's own in
``lab/<trainee>/endpoints.json``): ``/signin?token=<signed {app, user}>``. Following it stores the app and user in
the session — a cookie signed with the portal's secret (Starlette's ``SessionMiddleware``, itsdangerous) — and lands
on the app's home page. The **instructor's link** (``/instructor?token=<signed {role: instructor}>``) opens the
instructor page, which shows every trainee's checklist.

Which app a request sees (:func:`resolve_app`): a ``Host`` naming an app's subdomain (``contoso.azureiotcentral.com``)
reaches that app only if the session belongs to it; a host without one (``127.0.0.1:8443``) reaches the session's
app. A host naming no app is a 404 — never the default app — and a request without a matching session gets the
sign-in page: never another trainee's app.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

SIGNIN_SALT = "sphere-harness-portal-signin"
INSTRUCTOR_SALT = "sphere-harness-portal-instructor"


class Signer:
    """Signs and checks the portal's links with one secret."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._signin = URLSafeSerializer(secret, salt=SIGNIN_SALT)
        self._instructor = URLSafeSerializer(secret, salt=INSTRUCTOR_SALT)

    def signin_token(self, app_subdomain: str, user: str) -> str:
        return self._signin.dumps({"app": app_subdomain, "user": user})

    def read_signin(self, token: str) -> dict[str, str] | None:
        try:
            data = self._signin.loads(token)
        except BadSignature:
            return None
        ok = isinstance(data, dict) and isinstance(data.get("app"), str) and isinstance(data.get("user"), str)
        return data if ok else None

    def instructor_token(self) -> str:
        return self._instructor.dumps({"role": "instructor"})

    def is_instructor(self, token: str) -> bool:
        try:
            return self._instructor.loads(token) == {"role": "instructor"}
        except BadSignature:
            return False


@dataclass(frozen=True)
class Resolution:
    """Which app a request may see: ``app`` (or None) and, when None, ``status`` and ``reason``."""

    app: Any
    status: int = 200
    reason: str = ""


def subdomain_of(host: str, base_hosts: frozenset[str]) -> str | None:
    """The app subdomain a ``Host`` names, or None for a bare host (an IP, ``localhost``, a served host name)."""
    name = host.strip().lower()
    if name.startswith("["):
        return None
    if name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        pass
    if name in base_hosts or "." not in name:
        return None
    return name.split(".", 1)[0]


def resolve_app(cloud: Any, host: str, session: dict[str, Any], base_hosts: frozenset[str]) -> Resolution:
    """The app this request may see (see the module docstring)."""
    signed = session.get("app")
    subdomain = subdomain_of(host, base_hosts)
    with cloud.lock:
        if subdomain is not None:
            app = cloud.central.app_by_subdomain(subdomain)
            if app is None:
                return Resolution(None, 404, f"There is no IoT Central application at '{subdomain}'.")
            if signed != app.subdomain:
                return Resolution(None, 401, "Sign in with your own link to see this application.")
            return Resolution(app)
        if not signed:
            return Resolution(None, 401, "Sign in with the link your trainer (or the endpoints file) gave you.")
        app = cloud.central.app_by_subdomain(signed)
        if app is None:
            return Resolution(None, 401, "Your application no longer exists (the world was reset): sign in again.")
        return Resolution(app)
