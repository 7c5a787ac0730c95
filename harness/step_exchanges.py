"""The HTTP exchanges of each step, for the reports, with every secret taken out — and nothing else changed.

A report is read next to the run it describes: the console, the step values, the failure messages, the files in the
work folder and ``sphere-harness inspect`` all name the real tenant, app, thumbprints, URLs and request IDs. So the
exchanges keep them too — a report whose exchanges said ``00000000-…-a00000000001`` and another thumbprint while
its values said the real ones could not be read against anything. What must never reach a report is a *secret*:

* ``Authorization`` and cookie headers: ``Bearer <token:sphere contoso>`` — the credential replaced by a label
  naming whose it is (a token the session holds), or ``<token 2>`` for one it does not know any more (a token
  replaced by ``sim.token``): the same token gets the same label throughout the report;
* every such token wherever else it appears (a body, a URL, a value, an error), JWTs, the signature of a
  ``SharedAccessSignature`` (``sig=<redacted>``) and PEM private keys.

Live recordings are sanitized further (:mod:`harness.recording.sanitize` replaces identifying values as well,
because recordings are committed and shared); a report is an artefact of one run.

Collecting is opt-in (``run(..., capture_exchanges=True)``; the CLI turns it on when a JSON, JUnit or HTML report
is asked for), so a run without a report keeps nothing.
"""

from __future__ import annotations

import base64
import json
import re
from collections import defaultdict
from typing import Any

MAX_BODY = 64 * 1024
REDACTED = "<redacted>"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_SAS_SIGNATURE = re.compile(r"((?:^|[?&\s])sig=)([^&\s\"']+)")
_PRIVATE_KEY = re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----).*?(-----END [A-Z ]*PRIVATE KEY-----)", re.S)
_SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})
_SCHEMES = frozenset({"bearer", "sharedaccesssignature", "sharedaccesstoken", "basic"})


class SecretRedactor:
    """Takes the secrets out of text, JSON values and headers; the same secret always gets the same label."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}
        self._unnamed = 0

    @classmethod
    def for_session(cls, session: Any) -> SecretRedactor:
        """A redactor that knows the tokens ``session`` holds, labelled by whose they are."""
        redactor = cls()
        for key, tenant in getattr(session, "tenants", {}).items():
            redactor.add(getattr(tenant, "token", None), f"token:sphere {key}")
            redactor.add(getattr(tenant, "arm_token", None), f"token:arm {key}")
        for key, app in getattr(session, "apps", {}).items():
            redactor.add(getattr(app, "api_token", None), f"token:central {key}")
        return redactor

    def add(self, secret: str | None, label: str | None = None) -> str:
        """Treat ``secret`` (a credential, without its scheme) as secret; returns its label."""
        if not secret or not isinstance(secret, str):
            return REDACTED
        scheme, _, rest = secret.strip().partition(" ")
        if rest and scheme.lower() in _SCHEMES:
            secret = rest.strip()
        found = self.labels.get(secret)
        if found is None:
            if label is None:
                self._unnamed += 1
                label = f"token {self._unnamed}"
            found = self.labels[secret] = f"<{label}>"
        return found

    def text(self, text: str) -> str:
        """``text`` with every known token, JWT, SAS signature and private key replaced."""
        if not text:
            return text
        for secret in sorted(self.labels, key=len, reverse=True):
            if len(secret) >= 8 and secret in text:
                text = text.replace(secret, self.labels[secret])
        text = _JWT.sub(lambda m: self.add(m.group(0)), text)
        text = _SAS_SIGNATURE.sub(lambda m: m.group(1) + REDACTED, text)
        return _PRIVATE_KEY.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", text)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string (and key) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value

    def headers(self, headers: list[tuple[str, str]]) -> dict[str, str]:
        """Headers as a mapping, the credential of each secret header replaced by its label."""
        shown: dict[str, str] = {}
        for name, value in headers:
            if name.lower() in _SECRET_HEADERS:
                scheme, _, credential = value.strip().partition(" ")
                if credential and scheme.lower() in _SCHEMES:
                    value = f"{scheme} {self.add(credential)}"
                else:
                    value = self.add(value)
            else:
                value = self.text(value)
            shown[name] = value if name not in shown else f"{shown[name]}, {value}"
        return shown

    def learn(self, exchanges: list[Any]) -> None:
        """Learn the credentials of every ``Authorization`` header first, so a token is redacted wherever it shows
        up — also in an exchange before the one that sent it."""
        for exchange in exchanges:
            for name, value in exchange.request_headers:
                if name.lower() in _SECRET_HEADERS:
                    self.add(value)


def _body(raw: bytes, redactor: SecretRedactor) -> Any:
    """A body as a report shows it: JSON as JSON, text as text, anything else as base64 (bounded); redacted."""
    if not raw:
        return None
    shown = raw[:MAX_BODY]
    cut = {"truncated_from": len(raw)} if len(raw) > MAX_BODY else {}
    try:
        text = shown.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(shown).decode("ascii"), **cut}
    if not cut:
        try:
            return redactor.value(json.loads(text))
        except ValueError:
            pass
    text = redactor.text(text)
    return {"text": text, **cut} if cut else text


def exchange_json(exchange: Any, redactor: SecretRedactor) -> dict[str, Any]:
    """One :class:`harness.clients.exchange.Exchange` as report JSON, its secrets redacted."""
    response = None
    if exchange.status is not None:
        response = {
            "status": exchange.status,
            "headers": redactor.headers(exchange.response_headers),
            "body": _body(exchange.response_body, redactor),
        }
    return {
        "service": exchange.service,
        "request": {
            "method": exchange.method,
            "url": redactor.text(exchange.url),
            "headers": redactor.headers(exchange.request_headers),
            "body": _body(exchange.request_body, redactor),
        },
        "response": response,
        "error": redactor.text(exchange.error) if exchange.error else None,
        "seconds": round(exchange.seconds, 6),
        "attempt": exchange.attempt,
        "retried": exchange.retried,
    }


class StepExchanges:
    """Keeps each step's raw exchanges while the session runs; :meth:`redacted` turns them into report JSON."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.raw: dict[int, list[Any]] = defaultdict(list)
        session.add_exchange_listener(self.hear)

    def hear(self, exchange: Any) -> None:
        if exchange.step is not None:
            self.raw[exchange.step].append(exchange)

    def redacted(self) -> tuple[dict[int, list[dict[str, Any]]], SecretRedactor]:
        """Every step's exchanges as report JSON, and the redactor that took their secrets out (for the values)."""
        redactor = SecretRedactor.for_session(self.session)
        redactor.learn([exchange for exchanges in self.raw.values() for exchange in exchanges])
        shown = {
            step: [exchange_json(exchange, redactor) for exchange in exchanges] for step, exchanges in self.raw.items()
        }
        return shown, redactor
